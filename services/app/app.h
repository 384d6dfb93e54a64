// The youma server assembled: database (embedded MariaDB or --mysql),
// migrations, tokens, keysets and the gRPC services, with health checking,
// reflection and Prometheus metrics. `youma serve` runs one; the end-to-end
// tests start one in-process on a loopback port.
//
//   YOUMA_ASSIGN_OR_RETURN(auto app, App::Start(options));
//   std::cout << app->address();      // "127.0.0.1:7443"
//   app->Shutdown(absl::Seconds(10));
#pragma once

#include <grpcpp/grpcpp.h>
#include <prometheus/exposer.h>
#include <prometheus/registry.h>

#include <memory>
#include <optional>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "codegen/keyset_file.h"
#include "services/app/database_gauges.h"
#include "services/common/auth.h"
#include "services/common/event_log.h"
#include "services/common/keyset_registry.h"
#include "services/common/rpc.h"
#include "services/common/ticker.h"
#include "services/issuer/batch_index.h"
#include "services/issuer/issuer.h"
#include "services/audit/audit_service.h"
#include "services/issuer/issuer_service.h"
#include "services/payout/payout_service.h"
#include "services/rules/campaign_admin.h"
#include "services/rules/rules_engine.h"
#include "services/scan/scan_pipeline.h"
#include "services/scan/scan_service.h"
#include "services/storage/local_mariadb.h"
#include "services/storage/mysql.h"
#include "services/web/web_front.h"

namespace youma::app {

struct AppOptions {
  // host:port for gRPC; port 0 picks a free one (see App::port()).
  std::string listen = "127.0.0.1:7443";
  // host:port for Prometheus' /metrics; empty turns it off.
  std::string metrics_listen = "127.0.0.1:9464";
  // State: the embedded MariaDB, the bootstrap admin token, default keysets.
  std::string data_dir = "var";
  // When set, this database is used and no MariaDB is started.
  std::optional<storage::MySqlConfig> mysql;
  std::string keyset_dir;  // default <data_dir>/keysets
  codegen::MasterKey master_key;
  std::string tls_cert_file;
  std::string tls_key_file;
  // A plaintext port serving only gRPC health checking (Kubernetes' gRPC
  // probes cannot speak TLS); empty: none.
  std::string health_listen;
  // Which services this process serves: issuer (with tokens), scan (with
  // rules), audit.
  std::set<std::string> services = {"issuer", "scan", "audit"};
  bool migrate = true;
  int executor_threads = 16;
  int db_connections = 16;
  // Clients reconnect after this long (0: never), so that servers added by
  // an autoscaler get a share of long-lived client connections.
  absl::Duration max_connection_age = absl::ZeroDuration();
  issuer::IssuerOptions issuer;
  // How often a server looks for what an older youma recorded during a
  // rolling upgrade: with the issuer on, shipments and range changes, which
  // scans do not see until they are painted and indexed
  // (Issuer::CatchUpOlderWrites); with the scan service on, awards not yet
  // in the award totals (rules::CountOlderAwards) and payouts whose state
  // the payout counts do not hold yet (payout::CountOlderPayoutStates).
  // Zero: never.
  absl::Duration upgrade_catch_up = absl::Seconds(10);
  // How often a server with the scan service on counts the scans of hours
  // past into scan_hours (audit::Auditor::RollUpScanHours; the console's map
  // of scans by province reads those instead of the scan log). Zero: never.
  absl::Duration scan_hours_rollup = absl::Minutes(1);
  // How often a server with the scan service on clears personal data past
  // audit.personal_data_days (audit::Auditor::ForgetPersonalData); only
  // when that is set.
  absl::Duration personal_data_sweep = absl::Hours(1);
  // How often a server with the scan service on looks whether the fraud
  // limits' per-day counters older than yesterday are to be deleted
  // (rules::PruneDayCounters): it deletes them once per day. Zero: never.
  absl::Duration day_counters_prune = absl::Hours(1);
  rules::RulesOptions rules;
  audit::AuditOptions audit;
  payout::PayoutOptions payout;
  scan::ScanOptions scan;
  // The HTTP front (scan page, JSON API, console), beside the scan service;
  // off while web.listen is empty.
  web::WebOptions web;
  // Structured logs (null: none); `youma serve` writes them to stderr.
  common::EventLog* log = nullptr;
  // Relaxes MariaDB durability for tests (innodb_flush_log_at_trx_commit=2).
  bool fast_unsafe_storage = false;
};

// A server on loopback that keeps everything under `dir` (the tests' and the
// benchmarks' servers): any free port, no metrics listener, data in
// <dir>/data, keysets in <dir>/keysets, on the database `mysql`.
AppOptions LoopbackOptions(const std::string& dir, const storage::MySqlConfig& mysql,
                           const codegen::MasterKey& master_key);

class App {
 public:
  static absl::StatusOr<std::unique_ptr<App>> Start(AppOptions options);
  ~App();

  std::string address() const;
  int port() const { return port_; }
  // The plaintext health-only port (0 when off).
  int health_port() const { return health_port_; }
  // The HTTP front's address ("" when it is off).
  std::string http_address() const { return web_ ? web_->address() : ""; }
  // Where the bootstrap admin token was written on the first start ("" if not).
  const std::string& admin_token_file() const { return admin_token_file_; }
  const std::string& database() const { return database_; }
  storage::LocalMariaDb* local_db() { return local_db_.get(); }
  common::TokenStore& tokens() { return *tokens_; }
  storage::ConnectionPool& pool() { return *pool_; }
  prometheus::Registry& registry() { return *registry_; }
  // Budgets left and diversion flags, read from the database (also served on /metrics).
  DatabaseGauges& database_gauges() { return *database_gauges_; }
  audit::Auditor& auditor() { return *auditor_; }

  // Stops taking calls, lets running ones finish until `grace`, then cancels them.
  void Shutdown(absl::Duration grace);

 private:
  App() = default;
  absl::Status Init();

  AppOptions options_;
  std::unique_ptr<storage::LocalMariaDb> local_db_;
  std::unique_ptr<storage::ConnectionPool> pool_;
  // The scan pipeline's own connections: one per group-commit writer (and
  // one for counterfeit counts), sending several statements per round trip.
  std::unique_ptr<storage::ConnectionPool> scan_pool_;
  std::unique_ptr<common::TokenStore> tokens_;
  std::unique_ptr<common::KeysetRegistry> keysets_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::shared_ptr<DatabaseGauges> database_gauges_;
  std::unique_ptr<common::RpcMetrics> metrics_;
  std::unique_ptr<common::Executor> executor_;
  std::unique_ptr<issuer::BatchIndex> batch_index_;
  std::unique_ptr<issuer::IssuerMetrics> issuer_metrics_;
  std::unique_ptr<issuer::Issuer> issuer_;
  std::unique_ptr<common::Ticker> upgrade_catch_up_;
  std::unique_ptr<common::RpcContext> issuer_rpc_;
  std::unique_ptr<common::RpcContext> admin_rpc_;
  std::unique_ptr<issuer::IssuerServiceImpl> issuer_service_;
  std::unique_ptr<issuer::AdminServiceImpl> admin_service_;
  std::unique_ptr<rules::RulesEngine> rules_;
  std::unique_ptr<rules::CampaignAdmin> campaigns_;
  std::unique_ptr<scan::ScanMetrics> scan_metrics_;
  std::unique_ptr<scan::ScanPipeline> pipeline_;
  std::unique_ptr<common::RpcContext> scan_rpc_;
  std::unique_ptr<common::RpcContext> rules_rpc_;
  std::unique_ptr<scan::ScanServiceImpl> scan_service_;
  std::unique_ptr<scan::RulesServiceImpl> rules_service_;
  std::unique_ptr<rules::StoreProgram> stores_;
  std::unique_ptr<common::RpcContext> store_rpc_;
  std::unique_ptr<scan::StoreServiceImpl> store_service_;
  std::unique_ptr<web::WebFront> web_;
  std::unique_ptr<audit::Auditor> auditor_;
  std::unique_ptr<common::RpcContext> audit_rpc_;
  std::unique_ptr<audit::AuditServiceImpl> audit_service_;
  std::unique_ptr<common::Ticker> scan_hours_rollup_;  // after the auditor it calls
  std::unique_ptr<common::Ticker> personal_data_sweep_;  // likewise
  std::unique_ptr<common::Ticker> day_counters_prune_;
  std::unique_ptr<payout::PayoutDesk> payout_desk_;
  std::unique_ptr<payout::PayoutServiceImpl> payout_service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<grpc::Server> health_server_;
  int health_port_ = 0;
  int port_ = 0;
  std::string admin_token_file_;
  std::string database_;
  bool shut_down_ = false;
};

}  // namespace youma::app
