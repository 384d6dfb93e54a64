// The end-to-end test harness: a real MariaDB (started the way `youma serve`
// starts its embedded one) and a real youma server on a loopback port, with
// keysets for two brands and gRPC clients holding tokens of any brand and role.
//
//   TestServer& s = TestServer::Shared();
//   auto alpha = s.Connect("alpha", youma::v1::ROLE_FACTORY);
//   youma::v1::Batch b;
//   grpc::Status st = alpha.Call(&IssuerService::Stub::CreateBatch, req, &b);
#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/time/time.h"

#include "codegen/code_format.h"
#include "codegen/keyset.h"
#include "services/app/app.h"
#include "services/storage/local_mariadb.h"
#include "tests/test_util.h"
#include "youma/v1/admin.grpc.pb.h"
#include "youma/v1/audit.grpc.pb.h"
#include "youma/v1/payout.grpc.pb.h"
#include "youma/v1/issuer.grpc.pb.h"
#include "youma/v1/rules.grpc.pb.h"
#include "youma/v1/scan.grpc.pb.h"
#include "youma/v1/store.grpc.pb.h"

namespace youma::testing {

inline constexpr char kGtin[] = "06901234567892";

// A gRPC client that sends one token.
struct TestClient {
  std::string token;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<youma::v1::IssuerService::Stub> issuer;
  std::unique_ptr<youma::v1::AdminService::Stub> admin;
  std::unique_ptr<youma::v1::ScanService::Stub> scan;
  std::unique_ptr<youma::v1::RulesService::Stub> rules;

  std::unique_ptr<grpc::ClientContext> Context() const;
  template <typename Stub, typename Req, typename Resp>
  grpc::Status Call(grpc::Status (Stub::*method)(grpc::ClientContext*, const Req&, Resp*),
                    const Req& req, Resp* resp) const {
    auto ctx = Context();
    if constexpr (std::is_same_v<Stub, youma::v1::AdminService::Stub>) {
      return (admin.get()->*method)(ctx.get(), req, resp);
    } else if constexpr (std::is_same_v<Stub, youma::v1::ScanService::Stub>) {
      return (scan.get()->*method)(ctx.get(), req, resp);
    } else if constexpr (std::is_same_v<Stub, youma::v1::RulesService::Stub>) {
      return (rules.get()->*method)(ctx.get(), req, resp);
    } else if constexpr (std::is_same_v<Stub, youma::v1::StoreService::Stub>) {
      return (youma::v1::StoreService::NewStub(channel).get()->*method)(ctx.get(), req, resp);
    } else if constexpr (std::is_same_v<Stub, youma::v1::AuditService::Stub>) {
      return (youma::v1::AuditService::NewStub(channel).get()->*method)(ctx.get(), req, resp);
    } else if constexpr (std::is_same_v<Stub, youma::v1::PayoutService::Stub>) {
      return (youma::v1::PayoutService::NewStub(channel).get()->*method)(ctx.get(), req, resp);
    } else {
      return (issuer.get()->*method)(ctx.get(), req, resp);
    }
  }
};

// A structured log whose lines the test reads: set `options.log = &capture.log`.
struct LogCapture {
  std::mutex mu;
  std::vector<nlohmann::json> lines;
  common::EventLog log{[this](const std::string& line) {
    std::lock_guard<std::mutex> lock(mu);
    lines.push_back(nlohmann::json::parse(line));
  }};
  // The `event` lines logged so far.
  std::vector<nlohmann::json> Events(const std::string& event) {
    std::lock_guard<std::mutex> lock(mu);
    std::vector<nlohmann::json> out;
    for (const nlohmann::json& j : lines) {
      if (j["event"] == event) out.push_back(j);
    }
    return out;
  }
};

// A client of the server at `address` holding `token`.
TestClient ClientAt(const std::string& address, const std::string& token);

class TestServer {
 public:
  // One server and database per test process, made on first use.
  static TestServer& Shared();
  // A separate one (for tests that break the database or need other options).
  explicit TestServer(std::function<void(app::AppOptions&)> customize = {});
  ~TestServer();

  TestClient Connect(const std::string& brand, youma::v1::Role role);
  TestClient ConnectWithToken(const std::string& token);
  const codegen::Keyset& keyset(const std::string& brand) const;
  codegen::CodeVerifier verifier(const std::string& brand) const {
    return codegen::CodeVerifier::ForKeyset(keyset(brand));
  }
  app::App& app() { return *app_; }
  // The HTTP front: "127.0.0.1:<port>".
  std::string http() const { return app_->http_address(); }
  // Stops the server (as a crash would, without a chance to record anything
  // more) and starts a new one on the same database and port.
  void RestartApp();
  storage::LocalMariaDb& db() { return *db_; }
  // A single-value query on the server's database, for checking what was written.
  int64_t QueryInt(const std::string& sql);
  std::string QueryString(const std::string& sql);
  const std::string& dir() const { return dir_; }
  // Connects with these channel credentials, to `host` at the server's port.
  TestClient ConnectVia(const std::string& brand, youma::v1::Role role,
                        std::shared_ptr<grpc::ChannelCredentials> creds, const std::string& host);
  // Makes the product `gtin` exist for `brand` (named `name` when it is new).
  void EnsureProduct(const std::string& brand, const std::string& gtin = kGtin,
                     const std::string& name = "test product");

 private:
  std::string dir_;
  std::unique_ptr<storage::LocalMariaDb> db_;
  std::unique_ptr<app::App> app_;
  app::AppOptions options_;
  std::map<std::string, codegen::Keyset> keysets_;
};

// Codes of a batch, streamed as a client would.
std::vector<youma::v1::Code> StreamAll(const TestClient& client, uint64_t batch_id,
                                       uint64_t first = 0, uint64_t last = 0,
                                       grpc::Status* status = nullptr);

// Makes `req` an AT_TIME batch active from `since`.
void ActiveSince(youma::v1::CreateBatchRequest& req, absl::Time since);

// Creates a batch or fails the test.
// `active_since`, when given: ActiveSince (a time in the past lets scans
// carry past times).
youma::v1::Batch MakeBatch(const TestClient& client, youma::v1::BatchKind kind, int64_t quantity,
                           uint32_t set_size = 0,
                           youma::v1::ActivationPolicy activation =
                               youma::v1::ACTIVATION_POLICY_IMMEDIATE,
                           std::optional<absl::Time> active_since = std::nullopt);

// Creates a dealer of the client's brand selling in `territory` (GB/T 2260
// prefixes), or fails the test.
youma::v1::Dealer MakeDealer(const TestClient& client, const std::string& id, const std::string& name,
                             const std::vector<std::string>& territory);

}  // namespace youma::testing
