#include "bench/bench_server.h"

#include <sodium.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "services/common/files.h"

namespace youma::bench {

void Die(const std::string& what) {
  std::fprintf(stderr, "benchmark: %s\n", what.c_str());
  std::exit(1);
}

void Check(const absl::Status& status, const char* what) {
  if (!status.ok()) Die(absl::StrCat(what, ": ", status.ToString()));
}

void Check(const grpc::Status& status, const char* what) {
  if (!status.ok()) Die(absl::StrCat(what, ": ", status.error_message()));
}

BenchServer::BenchServer(const std::function<void(app::AppOptions&)>& customize) {
  if (sodium_init() < 0) Die("libsodium failed to initialise");
  char tmpl[] = "/tmp/youma-bench-XXXXXX";
  dir_ = mkdtemp(tmpl);
  auto db = storage::LocalMariaDb::Start({.data_dir = dir_ + "/db", .buffer_pool = "512M"});
  Check(db.status(), "starting MariaDB");
  db_ = *std::move(db);
  master_ = codegen::NewMasterKey();
  std::filesystem::create_directories(dir_ + "/keysets");
  auto ks = codegen::Keyset::Create({.brand = "bench"}, absl::Now());
  Check(ks.status(), "keyset");
  Check(common::SaveKeyset(dir_ + "/keysets/bench.keyset", *ks, master_), "keyset file");
  app::AppOptions options;
  options.listen = "127.0.0.1:0";
  options.metrics_listen = "";
  options.data_dir = dir_ + "/data";
  options.mysql = db_->config();
  options.keyset_dir = dir_ + "/keysets";
  options.master_key = master_;
  if (customize) customize(options);
  auto app = app::App::Start(std::move(options));
  Check(app.status(), "starting the server");
  app_ = *std::move(app);
  auto token = app_->tokens().Create("bench", youma::v1::ROLE_ADMIN, "bench");
  Check(token.status(), "token");
  admin_token_ = token->token;
}

BenchServer::~BenchServer() {
  app_->Shutdown(absl::Seconds(5));
  app_.reset();
  db_.reset();
  std::filesystem::remove_all(dir_);
}

}  // namespace youma::bench
