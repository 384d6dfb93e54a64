#include "services/app/app.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "services/common/files.h"
#include "services/common/status_macros.h"
#include "services/common/time_util.h"
#include "services/payout/payout_counts.h"
#include "services/storage/daily_jobs.h"
#include "services/storage/migrations.h"

namespace youma::app {
namespace {

absl::StatusOr<std::string> Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

}  // namespace

AppOptions LoopbackOptions(const std::string& dir, const storage::MySqlConfig& mysql,
                           const codegen::MasterKey& master_key) {
  AppOptions options;
  options.listen = "127.0.0.1:0";
  options.metrics_listen = "";
  options.data_dir = dir + "/data";
  options.mysql = mysql;
  options.keyset_dir = dir + "/keysets";
  options.master_key = master_key;
  return options;
}

absl::StatusOr<std::unique_ptr<App>> App::Start(AppOptions options) {
  std::unique_ptr<App> app(new App());
  app->options_ = std::move(options);
  YOUMA_RETURN_IF_ERROR(app->Init());
  return app;
}

absl::Status App::Init() {
  namespace fs = std::filesystem;
  for (const std::string& s : options_.services) {
    if (s != "issuer" && s != "scan" && s != "audit") {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown service '", s, "'; youma serves: issuer, scan, audit"));
    }
  }
  if (options_.services.empty()) return absl::InvalidArgumentError("no services to serve");
  const bool serve_issuer = options_.services.count("issuer") > 0;
  const bool serve_scan = options_.services.count("scan") > 0;
  const bool serve_audit = options_.services.count("audit") > 0;
  std::error_code ec;
  fs::create_directories(options_.data_dir, ec);
  if (ec) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create data directory ", options_.data_dir, ": ", ec.message()));
  }
  if (options_.keyset_dir.empty()) options_.keyset_dir = options_.data_dir + "/keysets";
  fs::create_directories(options_.keyset_dir, ec);

  storage::MySqlConfig db;
  if (options_.mysql) {
    db = *options_.mysql;
  } else {
    YOUMA_ASSIGN_OR_RETURN(
        local_db_, storage::LocalMariaDb::Start(
                       {.data_dir = options_.data_dir + "/mariadb",
                        .flush_log_at_trx_commit = options_.fast_unsafe_storage ? 2 : 1}));
    db = local_db_->config();
  }
  database_ = db.Describe();
  pool_ = std::make_unique<storage::ConnectionPool>(
      db, storage::PoolOptions{.max_connections = options_.db_connections});
  if (options_.migrate) YOUMA_RETURN_IF_ERROR(storage::ApplyMigrations(*pool_).status());

  tokens_ = std::make_unique<common::TokenStore>(pool_.get());
  YOUMA_ASSIGN_OR_RETURN(bool no_tokens, tokens_->Empty());
  if (no_tokens) {
    // First start: one all-brands admin token, readable only by the operator.
    YOUMA_ASSIGN_OR_RETURN(common::TokenStore::Created admin,
                           tokens_->Create(common::kAllBrands, youma::v1::ROLE_ADMIN,
                                           "bootstrap admin (first start)"));
    admin_token_file_ = (fs::path(options_.data_dir) / "admin.token").string();
    YOUMA_RETURN_IF_ERROR(common::WriteFileAtomic(admin_token_file_, admin.token + "\n", 0600));
  }

  keysets_ = std::make_unique<common::KeysetRegistry>(options_.keyset_dir, std::move(options_.master_key),
                                                      absl::Seconds(30), options_.log);
  YOUMA_RETURN_IF_ERROR(keysets_->Load());

  registry_ = std::make_shared<prometheus::Registry>();
  metrics_ = std::make_unique<common::RpcMetrics>(*registry_);
  database_gauges_ = std::make_shared<DatabaseGauges>(pool_.get(), absl::Seconds(15), absl::Minutes(5));
  if (!options_.metrics_listen.empty()) {
    try {
      exposer_ = std::make_unique<prometheus::Exposer>(options_.metrics_listen);
    } catch (const std::exception& e) {
      return absl::UnavailableError(absl::StrCat("cannot serve metrics on ",
                                                 options_.metrics_listen, ": ", e.what()));
    }
    exposer_->RegisterCollectable(registry_);
    exposer_->RegisterCollectable(database_gauges_);
  }
  executor_ = std::make_unique<common::Executor>(options_.executor_threads);
  batch_index_ = std::make_unique<issuer::BatchIndex>(pool_.get());
  issuer_metrics_ = std::make_unique<issuer::IssuerMetrics>(*registry_);
  issuer_ = std::make_unique<issuer::Issuer>(pool_.get(), keysets_.get(), batch_index_.get(),
                                             options_.issuer, issuer_metrics_.get());
  if ((serve_issuer || serve_scan) && options_.upgrade_catch_up > absl::ZeroDuration()) {
    // Logs a catch-up that failed (with what waits until the next one) or
    // what one caught up (nothing when `done` is empty).
    auto report = [log = options_.log](const absl::Status& st, const char* until_then, nlohmann::json done) {
      if (log == nullptr) return;
      if (!st.ok()) {
        log->Warn("upgrade_catch_up_failed", {{"message", std::string(st.message())},
                                              {"advice", absl::StrCat("tried again in a moment; ", until_then)}});
      } else if (!done.empty()) {
        log->Info("older_writes_caught_up", std::move(done));
      }
    };
    upgrade_catch_up_ = std::make_unique<common::Ticker>(options_.upgrade_catch_up, [=, this] {
      if (serve_issuer) {
        absl::StatusOr<issuer::Issuer::CatchUp> done = issuer_->CatchUpOlderWrites();
        nlohmann::json fields = nlohmann::json::object();
        if (done.ok() && (!done->brands.empty() || done->changes_indexed > 0)) {
          fields = {{"brands_with_shipments_painted", done->brands}, {"range_changes_indexed", done->changes_indexed}};
        }
        report(done.status(), "scans do not see shipments or range changes an older youma recorded until then",
               std::move(fields));
      }
      if (serve_scan) {
        absl::StatusOr<int64_t> counted = rules::CountOlderAwards(pool_.get());
        nlohmann::json fields = nlohmann::json::object();
        if (counted.ok() && *counted > 0) fields = {{"awards_counted", *counted}};
        report(counted.status(),
               "campaign reads count the awards an older youma recorded from the ledger until then (exact, slower)",
               std::move(fields));
        absl::StatusOr<int64_t> moved = payout::CountOlderPayoutStates(pool_.get());
        fields = nlohmann::json::object();
        if (moved.ok() && *moved > 0) fields = {{"payout_states_counted", *moved}};
        report(moved.status(),
               "the console counts the payouts an older youma moved from the outbox until then (exact, slower)",
               std::move(fields));
      }
    });
  }
  issuer_rpc_ = std::make_unique<common::RpcContext>("IssuerService", executor_.get(),
                                                     tokens_.get(), metrics_.get(), options_.log);
  admin_rpc_ = std::make_unique<common::RpcContext>("AdminService", executor_.get(), tokens_.get(),
                                                    metrics_.get(), options_.log);
  issuer_service_ = std::make_unique<issuer::IssuerServiceImpl>(issuer_.get(), issuer_rpc_.get());
  admin_service_ =
      std::make_unique<issuer::AdminServiceImpl>(tokens_.get(), keysets_.get(), admin_rpc_.get());

  std::shared_ptr<grpc::ServerCredentials> creds;
  if (!options_.tls_cert_file.empty() || !options_.tls_key_file.empty()) {
    if (options_.tls_cert_file.empty() || options_.tls_key_file.empty()) {
      return absl::InvalidArgumentError("TLS needs both --tls-cert and --tls-key");
    }
    YOUMA_ASSIGN_OR_RETURN(std::string cert, Slurp(options_.tls_cert_file));
    YOUMA_ASSIGN_OR_RETURN(std::string key, Slurp(options_.tls_key_file));
    grpc::SslServerCredentialsOptions ssl;
    ssl.pem_key_cert_pairs.push_back({key, cert});
    creds = grpc::SslServerCredentials(ssl);
  } else {
    creds = grpc::InsecureServerCredentials();
  }
  rules_ = std::make_unique<rules::RulesEngine>(pool_.get(), options_.rules);
  campaigns_ = std::make_unique<rules::CampaignAdmin>(pool_.get(), rules_.get());
  scan_metrics_ = std::make_unique<scan::ScanMetrics>(*registry_);
  if (serve_scan) {
    scan_pool_ = std::make_unique<storage::ConnectionPool>(
        db, storage::PoolOptions{.max_connections = options_.scan.writers + 1, .multi_statements = true});
    scan::ScanOptions scan = options_.scan;
    scan.record_settle = options_.audit.scan_log_hold_back;
    scan.log = options_.log;
    pipeline_ = std::make_unique<scan::ScanPipeline>(scan_pool_.get(), keysets_.get(), batch_index_.get(),
                                                     rules_.get(), scan, scan_metrics_.get());
  }
  scan_rpc_ = std::make_unique<common::RpcContext>("ScanService", executor_.get(), tokens_.get(),
                                                   metrics_.get(), options_.log);
  rules_rpc_ = std::make_unique<common::RpcContext>("RulesService", executor_.get(), tokens_.get(),
                                                    metrics_.get(), options_.log);
  if (serve_scan) scan_service_ = std::make_unique<scan::ScanServiceImpl>(pipeline_.get(), scan_rpc_.get());
  rules_service_ = std::make_unique<scan::RulesServiceImpl>(campaigns_.get(), rules_rpc_.get());
  stores_ = std::make_unique<rules::StoreProgram>(pool_.get(), rules_.get());
  store_rpc_ = std::make_unique<common::RpcContext>("StoreService", executor_.get(), tokens_.get(),
                                                    metrics_.get(), options_.log);
  store_service_ = std::make_unique<scan::StoreServiceImpl>(stores_.get(), store_rpc_.get());

  auditor_ = std::make_unique<audit::Auditor>(pool_.get(), campaigns_.get(), batch_index_.get(),
                                              keysets_.get(), options_.audit);
  audit_rpc_ = std::make_unique<common::RpcContext>("AuditService", executor_.get(), tokens_.get(),
                                                    metrics_.get(), options_.log);
  audit_service_ = std::make_unique<audit::AuditServiceImpl>(auditor_.get(), audit_rpc_.get());
  if (serve_scan && options_.scan_hours_rollup > absl::ZeroDuration()) {
    scan_hours_rollup_ = std::make_unique<common::Ticker>(options_.scan_hours_rollup, [this] {
      // A week of hours per turn: a scan log from before migration 20 is
      // counted in a few minutes, an hour at a time.
      absl::StatusOr<int> hours = auditor_->RollUpScanHours(24 * 7);
      if (!hours.ok() && options_.log != nullptr) {
        options_.log->Warn("scan_hours_rollup_failed",
                           {{"message", std::string(hours.status().message())},
                            {"advice", "tried again in a minute; meanwhile the console's map reads the hours not "
                                       "counted yet from the scan log (exact, slower)"}});
      }
    });
  }

  if (serve_scan && options_.audit.personal_data_days > 0) {
    personal_data_sweep_ = std::make_unique<common::Ticker>(options_.personal_data_sweep, [this] {
      const absl::Time before = absl::Now() - absl::Hours(24) * options_.audit.personal_data_days;
      // A million scans a turn: a log from before the setting is cleared
      // over a few turns, without one long sweep.
      absl::StatusOr<audit::ForgottenPersonalData> forgot = auditor_->ForgetPersonalData(before, 1'000'000);
      if (options_.log == nullptr) return;
      if (!forgot.ok()) {
        options_.log->Warn("personal_data_not_cleared",
                           {{"message", std::string(forgot.status().message())},
                            {"advice", "tried again at the next sweep; nothing was half-cleared (each chunk "
                                       "commits whole)"}});
      } else if (forgot->scans + forgot->positions + forgot->first_ips > 0) {
        options_.log->Info("personal_data_cleared",
                           {{"before", absl::FormatTime(absl::RFC3339_sec, before, absl::UTCTimeZone())},
                            {"scans", forgot->scans},
                            {"positions", forgot->positions},
                            {"first_ips", forgot->first_ips}});
      }
    });
  }
  if (serve_scan && options_.day_counters_prune > absl::ZeroDuration()) {
    // Once a day, by one server of many: scans count on the day they arrive,
    // so no row of a day before yesterday appears once that day is pruned,
    // and each prune reads both tables whole.
    day_counters_prune_ = std::make_unique<common::Ticker>(
        options_.day_counters_prune, [this, jobs = std::make_shared<storage::DailyJobs>(pool_.get())] {
          // Today and yesterday stay (a scan counts on the China day it arrives).
          const std::string before_day =
              absl::FormatTime("%Y-%m-%d", absl::Now() - absl::Hours(24), common::ChinaTime());
          int64_t rows = 0;
          auto prune = [&]() -> absl::Status {
            YOUMA_ASSIGN_OR_RETURN(rows, rules::PruneDayCounters(pool_.get(), before_day));
            return absl::OkStatus();
          };
          // kTaken: another server is at it; kDone: pruned before.
          const absl::StatusOr<storage::DayClaim> ran = jobs->RunOnce("day_counters_prune", before_day, prune);
          if (options_.log == nullptr) return;
          if (!ran.ok()) {
            options_.log->Warn("day_counters_not_pruned", {{"message", std::string(ran.status().message())},
                                                           {"advice", "tried again at the next turn"}});
          } else if (rows > 0) {
            options_.log->Info("day_counters_pruned", {{"before_day", before_day}, {"rows", rows}});
          }
        });
  }

  payout_desk_ = std::make_unique<payout::PayoutDesk>(pool_.get(), options_.payout);
  payout_service_ = std::make_unique<payout::PayoutServiceImpl>(payout_desk_.get(), tokens_.get(),
                                                                metrics_.get(), options_.log);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options_.listen, creds, &port_);
  if (serve_issuer) {
    builder.RegisterService(issuer_service_.get());
    builder.RegisterService(admin_service_.get());
  }
  if (serve_scan) {
    builder.RegisterService(scan_service_.get());
    builder.RegisterService(rules_service_.get());
    builder.RegisterService(store_service_.get());
  }
  if (serve_audit) builder.RegisterService(audit_service_.get());
  // Payouts run beside the scans that make the awards.
  if (serve_scan) builder.RegisterService(payout_service_.get());
  builder.SetMaxReceiveMessageSize(256 << 20);
  if (options_.max_connection_age > absl::ZeroDuration()) {
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS,
                               static_cast<int>(absl::ToInt64Milliseconds(options_.max_connection_age)));
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS, 30'000);
  }
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options_.listen, " (in use, or not an address here?)"));
  }
  server_->GetHealthCheckService()->SetServingStatus(true);
  if (serve_issuer) server_->GetHealthCheckService()->SetServingStatus("youma.v1.IssuerService", true);
  if (serve_scan) server_->GetHealthCheckService()->SetServingStatus("youma.v1.ScanService", true);
  if (serve_audit) server_->GetHealthCheckService()->SetServingStatus("youma.v1.AuditService", true);
  if (!options_.health_listen.empty()) {
    // Health only: no service of youma is registered on this port.
    grpc::ServerBuilder health;
    health.AddListeningPort(options_.health_listen, grpc::InsecureServerCredentials(), &health_port_);
    health_server_ = health.BuildAndStart();
    if (health_server_ == nullptr || health_port_ == 0) {
      return absl::UnavailableError(absl::StrCat("cannot listen on --health-listen ", options_.health_listen));
    }
    for (const auto& [name, on] : std::vector<std::pair<std::string, bool>>{
             {"", true},
             {"youma.v1.IssuerService", serve_issuer},
             {"youma.v1.ScanService", serve_scan},
             {"youma.v1.AuditService", serve_audit}}) {
      if (on) health_server_->GetHealthCheckService()->SetServingStatus(name, true);
    }
  }
  if (serve_scan && !options_.web.listen.empty()) {
    web::WebDeps deps;
    deps.pipeline = pipeline_.get();
    deps.keysets = keysets_.get();
    deps.tokens = tokens_.get();
    deps.stores = stores_.get();
    deps.campaigns = campaigns_.get();
    deps.auditor = auditor_.get();
    deps.issuer = issuer_.get();
    deps.pool = pool_.get();
    deps.metrics = metrics_.get();
    deps.log = options_.log;
    YOUMA_ASSIGN_OR_RETURN(web_, web::WebFront::Start(options_.web, deps));
  }
  return absl::OkStatus();
}

std::string App::address() const {
  const std::string& l = options_.listen;
  return absl::StrCat(l.substr(0, l.rfind(':')), ":", port_);
}

void App::Shutdown(absl::Duration grace) {
  if (shut_down_) return;
  shut_down_ = true;
  if (web_) web_->Stop();  // no new scans from the web while the rest winds down
  if (payout_service_) payout_service_->Stop();
  if (server_) {
    server_->GetHealthCheckService()->SetServingStatus(false);
    if (health_server_) health_server_->GetHealthCheckService()->SetServingStatus(false);
    server_->Shutdown(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(grace));
    server_->Wait();
  }
  if (health_server_) {
    health_server_->Shutdown(std::chrono::system_clock::now());
    health_server_->Wait();
  }
  upgrade_catch_up_.reset();
  scan_hours_rollup_.reset();
  personal_data_sweep_.reset();
  day_counters_prune_.reset();
  executor_.reset();  // runs what is queued, then joins
  pipeline_.reset();  // commits what was submitted, flushes counterfeit counts
}

App::~App() { Shutdown(absl::Seconds(5)); }

}  // namespace youma::app
