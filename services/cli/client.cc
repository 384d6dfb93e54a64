#include "services/cli/client.h"

#include <google/protobuf/util/json_util.h>
#include <grpcpp/health_check_service_interface.h>

#include <cstdlib>
#include <filesystem>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "services/common/files.h"
#include "services/common/status_macros.h"

namespace youma::cli {

void ClientFlags::Add(CLI::App* cmd) {
  cmd->add_option("--server", server, "server address (default $YOUMA_SERVER or 127.0.0.1:7443)");
  cmd->add_option("--token-file", token_file,
                  "file holding the API token (default $YOUMA_TOKEN, else var/admin.token)");
  cmd->add_option("--tls-ca", tls_ca, "CA certificate to verify a TLS server with");
  cmd->add_option("--tls-server-name", tls_server_name,
                  "name the server's certificate must carry (e.g. through kubectl port-forward)");
  cmd->add_option("--brand", brand, "brand to act on (needed with an all-brands admin token)");
}

absl::StatusOr<std::unique_ptr<Client>> Client::Connect(const ClientFlags& flags) {
  auto c = std::unique_ptr<Client>(new Client());
  c->server_ = flags.server;
  if (c->server_.empty()) {
    const char* env = std::getenv("YOUMA_SERVER");
    c->server_ = env != nullptr && *env != '\0' ? env : "127.0.0.1:7443";
  }
  std::string token;
  if (!flags.token_file.empty()) {
    YOUMA_ASSIGN_OR_RETURN(token, common::ReadFile(flags.token_file));
  } else if (const char* env = std::getenv("YOUMA_TOKEN"); env != nullptr && *env != '\0') {
    token = env;
  } else if (std::filesystem::exists("var/admin.token")) {
    YOUMA_ASSIGN_OR_RETURN(token, common::ReadFile("var/admin.token"));
  } else {
    return absl::FailedPreconditionError(
        "no API token: pass --token-file FILE or set YOUMA_TOKEN (the server's first start "
        "writes an admin token to <data-dir>/admin.token)");
  }
  c->token_ = std::string(absl::StripAsciiWhitespace(token));
  c->brand_ = flags.brand;
  std::shared_ptr<grpc::ChannelCredentials> creds;
  if (!flags.tls_ca.empty()) {
    YOUMA_ASSIGN_OR_RETURN(std::string ca, common::ReadFile(flags.tls_ca));
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = ca;
    creds = grpc::SslCredentials(ssl);
  } else {
    creds = grpc::InsecureChannelCredentials();
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(256 << 20);
  if (!flags.tls_server_name.empty()) {
    if (flags.tls_ca.empty()) return absl::InvalidArgumentError("--tls-server-name needs --tls-ca (TLS)");
    args.SetSslTargetNameOverride(flags.tls_server_name);
  }
  c->channel_ = grpc::CreateCustomChannel(c->server_, creds, args);
  c->issuer_ = youma::v1::IssuerService::NewStub(c->channel_);
  c->admin_ = youma::v1::AdminService::NewStub(c->channel_);
  return c;
}

std::unique_ptr<grpc::ClientContext> Client::Context(absl::Duration timeout) const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->AddMetadata("authorization", "Bearer " + token_);
  ctx->set_deadline(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(timeout));
  return ctx;
}

bool Client::Healthy(absl::Duration timeout) const {
  return channel_->WaitForConnected(std::chrono::system_clock::now() +
                                    absl::ToChronoNanoseconds(timeout));
}

std::string ToJson(const google::protobuf::Message& message) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  return json;
}

}  // namespace youma::cli
