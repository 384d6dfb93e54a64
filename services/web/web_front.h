// The HTTP front of `youma serve`, on its own port, over the same domain
// layer as the gRPC services (no rule is implemented twice):
//
//   GET  /<token>, /01/<gtin>/21/<serial>   the page a printed QR code opens
//   POST /api/v1/scan                       JSON API for mini-program backends
//   POST /api/v1/stores                       (bearer tokens, as gRPC; errors are
//   POST /api/v1/stores/open-case              {"error": {"code", "message"}}
//   GET  /api/v1/stores/leaderboard            with the HTTP status of the code)
//   /console/…                              the brand console (static files) and
//                                           its JSON reads, behind an HttpOnly,
//                                           SameSite=Strict session cookie
//   GET  /healthz
//
// cpp-httplib (Debian's libcpp-httplib-dev) serves it: a blocking server with
// a thread pool, which suits handlers that wait on a group commit, and it
// needs nothing beyond what Debian ships. API tokens never appear in URLs or
// logs: the API takes them in the Authorization header, the console once in a
// login body, after which only a random session id travels.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/audit/auditor.h"
#include "services/common/auth.h"
#include "services/common/event_log.h"
#include "services/common/keyset_registry.h"
#include "services/common/rpc.h"
#include "services/issuer/issuer.h"
#include "services/rules/campaign_admin.h"
#include "services/rules/store_program.h"
#include "services/scan/scan_pipeline.h"
#include "services/web/console_reads.h"
#include "services/web/regions.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace youma::web {

struct WebOptions {
  std::string listen;        // host:port ("127.0.0.1:0" picks a port); empty: no HTTP front
  std::string console_dir;   // the built console (index.html and assets)
  std::string regions_file;  // GB/T 2260 names (and county centres), from the build
  // Where "continue in the mini-program" leads (a URL Link or URL Scheme of
  // the brand's mini-program).
  std::string miniprogram_url = "weixin://";
  // A header the edge (CDN or ingress) sets to the client's 6-digit adcode
  // from its geo-IP database; used when the phone shares no location.
  std::string region_header = "X-Youma-Region";
  // Behind a proxy: take the client IP from the first X-Forwarded-For entry.
  bool trust_forwarded_for = false;
  bool secure_cookies = false;  // set when the front is reached over HTTPS
  int threads = 64;
  absl::Duration session_ttl = absl::Hours(8);
  // How long a scan waits to be recorded before the page says to try again;
  // a scan that has not reached a writer by then is not recorded at all.
  absl::Duration record_timeout = absl::Seconds(15);
};

struct WebDeps {
  scan::ScanPipeline* pipeline = nullptr;
  common::KeysetRegistry* keysets = nullptr;
  common::TokenStore* tokens = nullptr;
  rules::StoreProgram* stores = nullptr;
  rules::CampaignAdmin* campaigns = nullptr;
  audit::Auditor* auditor = nullptr;
  issuer::Issuer* issuer = nullptr;
  storage::ConnectionPool* pool = nullptr;
  common::RpcMetrics* metrics = nullptr;
  // Console logins (who, from where, or why not) and server errors (null: none).
  common::EventLog* log = nullptr;
};

class WebFront {
 public:
  // Binds and starts serving. INVALID_ARGUMENT for a bad address, UNAVAILABLE
  // when the port is taken, NOT_FOUND when the region table is missing.
  static absl::StatusOr<std::unique_ptr<WebFront>> Start(WebOptions options, WebDeps deps);
  ~WebFront();

  // Stops taking requests and waits for the running ones.
  void Stop();
  int port() const { return port_; }
  std::string address() const;

 private:
  WebFront(WebOptions options, WebDeps deps, Regions regions);
  void Routes();

  // Handlers.
  void ScanPage(const httplib::Request& req, httplib::Response& res, const std::string& code);
  void ApiScan(const httplib::Request& req, httplib::Response& res, bool open_case);
  void ApiRegisterStore(const httplib::Request& req, httplib::Response& res);
  void ApiLeaderboard(const httplib::Request& req, httplib::Response& res);
  void ConsoleLogin(const httplib::Request& req, httplib::Response& res);
  void ConsoleLogout(const httplib::Request& req, httplib::Response& res);
  void ConsoleRead(const httplib::Request& req, httplib::Response& res, const std::string& what);

  // The brand whose keys make `code` genuine (the request's Host first);
  // for a counterfeit, the brand the Host belongs to, else "".
  absl::StatusOr<std::string> BrandFor(const std::string& code, const std::string& host);
  absl::StatusOr<youma::v1::ScanAnswer> Record(const std::string& brand, const youma::v1::ScanRequest& scan);
  // The console session of a request: its principal, or UNAUTHENTICATED.
  // Sessions live in the database, so any server behind the load balancer
  // knows them, and a revoked token ends its sessions.
  absl::StatusOr<common::Principal> Session(const httplib::Request& req);
  std::string ClientIp(const httplib::Request& req) const;

  WebOptions options_;
  WebDeps deps_;
  Regions regions_;
  ConsoleReads reads_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::atomic<bool> listen_returned_{false};  // the listening thread is done
  int port_ = 0;
  int listen_fd_ = -1;  // the listening socket, owned by server_
};

}  // namespace youma::web
