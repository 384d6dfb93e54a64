#include "tests/harness.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "codegen/keyset_file.h"
#include "services/common/files.h"
#include "services/common/time_util.h"

namespace youma::testing {

std::unique_ptr<grpc::ClientContext> TestClient::Context() const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
  return ctx;
}

TestServer& TestServer::Shared() {
  // Destroyed at exit: the server stops, then its MariaDB, then its files go.
  static TestServer server;
  return server;
}

TestServer::TestServer(std::function<void(app::AppOptions&)> customize) {
  REQUIRE(sodium_init() >= 0);
  char tmpl[] = "/tmp/youma-e2e-XXXXXX";
  dir_ = mkdtemp(tmpl);
  absl::StatusOr<std::unique_ptr<storage::LocalMariaDb>> db = storage::LocalMariaDb::Start(
      {.data_dir = dir_ + "/db", .buffer_pool = "64M", .flush_log_at_trx_commit = 2});
  REQUIRE_OK(db.status());
  db_ = *std::move(db);
  const codegen::MasterKey master = codegen::NewMasterKey();
  std::filesystem::create_directories(dir_ + "/keysets");
  for (const char* brand : {"alpha", "beta"}) {
    absl::StatusOr<codegen::Keyset> ks = codegen::Keyset::Create({.brand = brand}, absl::Now());
    REQUIRE_OK(ks.status());
    REQUIRE_OK(common::SaveKeyset(absl::StrCat(dir_, "/keysets/", brand, ".keyset"), *ks, master));
    keysets_.emplace(brand, *ks);
  }
  app::AppOptions options = app::LoopbackOptions(dir_, db_->config(), master);
  options.executor_threads = 8;
  options.web.listen = "127.0.0.1:0";
  options.web.regions_file = YOUMA_WEB_ASSETS "/regions.tsv";
  options.web.console_dir = YOUMA_WEB_ASSETS "/console";
  if (customize) customize(options);
  options_ = options;
  absl::StatusOr<std::unique_ptr<app::App>> app = app::App::Start(std::move(options));
  REQUIRE_OK(app.status());
  app_ = *std::move(app);
}

void TestServer::RestartApp() {
  const int port = app_->port();
  app_->Shutdown(absl::ZeroDuration());
  app_.reset();
  app::AppOptions options = options_;
  options.listen = absl::StrCat("127.0.0.1:", port);
  absl::StatusOr<std::unique_ptr<app::App>> app = app::App::Start(std::move(options));
  REQUIRE_OK(app.status());
  app_ = *std::move(app);
}

TestServer::~TestServer() {
  app_.reset();
  db_.reset();
  std::filesystem::remove_all(dir_);
}

TestClient ClientAt(const std::string& address, const std::string& token) {
  TestClient c;
  c.token = token;
  c.channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  c.issuer = youma::v1::IssuerService::NewStub(c.channel);
  c.admin = youma::v1::AdminService::NewStub(c.channel);
  c.scan = youma::v1::ScanService::NewStub(c.channel);
  c.rules = youma::v1::RulesService::NewStub(c.channel);
  return c;
}

TestClient TestServer::ConnectWithToken(const std::string& token) { return ClientAt(app_->address(), token); }

TestClient TestServer::ConnectVia(const std::string& brand, youma::v1::Role role,
                                  std::shared_ptr<grpc::ChannelCredentials> creds,
                                  const std::string& host) {
  absl::StatusOr<common::TokenStore::Created> t = app_->tokens().Create(brand, role, "test");
  REQUIRE_OK(t.status());
  TestClient c;
  c.token = t->token;
  c.channel = grpc::CreateChannel(absl::StrCat(host, ":", app_->port()), creds);
  c.issuer = youma::v1::IssuerService::NewStub(c.channel);
  c.admin = youma::v1::AdminService::NewStub(c.channel);
  c.scan = youma::v1::ScanService::NewStub(c.channel);
  c.rules = youma::v1::RulesService::NewStub(c.channel);
  return c;
}

TestClient TestServer::Connect(const std::string& brand, youma::v1::Role role) {
  absl::StatusOr<common::TokenStore::Created> t = app_->tokens().Create(brand, role, "test");
  REQUIRE_OK(t.status());
  return ConnectWithToken(t->token);
}

const codegen::Keyset& TestServer::keyset(const std::string& brand) const {
  return keysets_.at(brand);
}

int64_t TestServer::QueryInt(const std::string& sql) {
  absl::StatusOr<int64_t> v = app_->pool().WithConnection([&](sql::Connection& c) -> absl::StatusOr<int64_t> {
    std::unique_ptr<sql::Statement> st(c.createStatement());
    std::unique_ptr<sql::ResultSet> rs(st->executeQuery(sql));
    if (!rs->next()) return int64_t{0};
    return static_cast<int64_t>(rs->getInt64(1));
  });
  REQUIRE_OK(v.status());
  return *v;
}

std::string TestServer::QueryString(const std::string& sql) {
  absl::StatusOr<std::string> v = app_->pool().WithConnection([&](sql::Connection& c) -> absl::StatusOr<std::string> {
    std::unique_ptr<sql::Statement> st(c.createStatement());
    std::unique_ptr<sql::ResultSet> rs(st->executeQuery(sql));
    if (!rs->next()) return std::string();
    return std::string(rs->getString(1));
  });
  REQUIRE_OK(v.status());
  return *v;
}

void TestServer::EnsureProduct(const std::string& brand, const std::string& gtin, const std::string& name) {
  TestClient c = Connect(brand, youma::v1::ROLE_ADMIN);
  youma::v1::CreateProductRequest req;
  req.set_gtin(gtin);
  req.set_name(name);
  youma::v1::Product p;
  const grpc::Status st = c.Call(&youma::v1::IssuerService::Stub::CreateProduct, req, &p);
  REQUIRE((st.ok() || st.error_code() == grpc::ALREADY_EXISTS));
}

std::vector<youma::v1::Code> StreamAll(const TestClient& client, uint64_t batch_id, uint64_t first,
                                       uint64_t last, grpc::Status* status) {
  youma::v1::StreamCodesRequest req;
  req.set_batch_id(batch_id);
  req.set_first_code_id(first);
  req.set_last_code_id(last);
  req.set_chunk_size(100);
  auto ctx = client.Context();
  auto reader = client.issuer->StreamCodes(ctx.get(), req);
  std::vector<youma::v1::Code> out;
  youma::v1::CodeChunk chunk;
  while (reader->Read(&chunk)) {
    for (const auto& c : chunk.codes()) out.push_back(c);
  }
  const grpc::Status st = reader->Finish();
  if (status != nullptr) {
    *status = st;
  } else {
    INFO(st.error_message());
    REQUIRE(st.ok());
  }
  return out;
}

void ActiveSince(youma::v1::CreateBatchRequest& req, absl::Time since) {
  req.set_activation(youma::v1::ACTIVATION_POLICY_AT_TIME);
  *req.mutable_activate_time() = common::ToProtoTime(since);
}

youma::v1::Batch MakeBatch(const TestClient& client, youma::v1::BatchKind kind, int64_t quantity,
                           uint32_t set_size, youma::v1::ActivationPolicy activation,
                           std::optional<absl::Time> active_since) {
  static std::atomic<int> counter{0};
  youma::v1::CreateBatchRequest req;
  req.set_gtin(kGtin);
  req.set_kind(kind);
  req.set_quantity(quantity);
  req.set_set_size(set_size);
  req.set_activation(activation);
  if (active_since.has_value()) ActiveSince(req, *active_since);
  req.add_planned_territory("44");
  req.set_request_id(absl::StrCat("test-", ::getpid(), "-", counter++));
  youma::v1::Batch b;
  const grpc::Status st = client.Call(&youma::v1::IssuerService::Stub::CreateBatch, req, &b);
  INFO(st.error_message());
  REQUIRE(st.ok());
  return b;
}

youma::v1::Dealer MakeDealer(const TestClient& client, const std::string& id, const std::string& name,
                             const std::vector<std::string>& territory) {
  youma::v1::CreateDealerRequest req;
  req.set_dealer_id(id);
  req.set_name(name);
  for (const std::string& prefix : territory) req.add_territory(prefix);
  youma::v1::Dealer d;
  const grpc::Status st = client.Call(&youma::v1::IssuerService::Stub::CreateDealer, req, &d);
  INFO(st.error_message());
  REQUIRE(st.ok());
  return d;
}

}  // namespace youma::testing
