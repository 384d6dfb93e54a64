// The `youma` command as a client of a running server: connection, token and
// the flags every client command shares.
//
//   --server HOST:PORT   (default $YOUMA_SERVER or 127.0.0.1:7443)
//   --token-file FILE    (default $YOUMA_TOKEN, else var/admin.token when present)
//   --tls-ca FILE        (TLS with this CA; plaintext without)
//   --brand NAME         (needed with an all-brands admin token)
#pragma once

#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "youma/v1/admin.grpc.pb.h"
#include "youma/v1/issuer.grpc.pb.h"

namespace youma::cli {

struct ClientFlags {
  std::string server;
  std::string token_file;
  std::string tls_ca;
  std::string tls_server_name;  // the name the certificate must carry, when not the address's
  std::string brand;

  void Add(CLI::App* cmd);
};

class Client {
 public:
  static absl::StatusOr<std::unique_ptr<Client>> Connect(const ClientFlags& flags);
  // A context carrying the token, with a deadline.
  std::unique_ptr<grpc::ClientContext> Context(absl::Duration timeout = absl::Seconds(60)) const;
  youma::v1::IssuerService::Stub& issuer() { return *issuer_; }
  youma::v1::AdminService::Stub& admin() { return *admin_; }
  const std::string& brand() const { return brand_; }
  const std::string& server() const { return server_; }
  std::shared_ptr<grpc::Channel> channel() const { return channel_; }
  // True when the server answers its health check within `timeout`.
  bool Healthy(absl::Duration timeout) const;

  // Calls a unary RPC and turns its status into absl::Status.
  template <typename Stub, typename Req, typename Resp>
  absl::StatusOr<Resp> Call(Stub& stub,
                            grpc::Status (Stub::*method)(grpc::ClientContext*, const Req&, Resp*),
                            const Req& req, absl::Duration timeout = absl::Seconds(60)) const {
    Resp resp;
    auto ctx = Context(timeout);
    grpc::Status st = (stub.*method)(ctx.get(), req, &resp);
    if (!st.ok()) {
      return absl::Status(static_cast<absl::StatusCode>(st.error_code()), st.error_message());
    }
    return resp;
  }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<youma::v1::IssuerService::Stub> issuer_;
  std::unique_ptr<youma::v1::AdminService::Stub> admin_;
  std::string token_;
  std::string brand_;
  std::string server_;
};

// Prints a message as indented JSON.
std::string ToJson(const google::protobuf::Message& message);

}  // namespace youma::cli
