#include "services/web/web_front.h"

#include <google/protobuf/util/json_util.h>
#include <httplib.h>
#include <sys/socket.h>
#include <sodium.h>

#include <atomic>
#include <chrono>
#include <future>
#include <optional>
#include <set>
#include <tuple>
#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "services/common/csv.h"
#include "services/common/geo.h"
#include "services/common/status_macros.h"
#include "services/common/time_util.h"
#include "services/web/scan_page.h"

namespace youma::web {
namespace {

using Json = nlohmann::ordered_json;

std::string RandomHex(size_t bytes) {
  std::string raw(bytes, '\0');
  randombytes_buf(raw.data(), raw.size());
  std::string hex(2 * bytes + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), reinterpret_cast<const unsigned char*>(raw.data()), raw.size());
  hex.pop_back();
  return hex;
}

// google.rpc's mapping of canonical codes to HTTP statuses.
int HttpStatus(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk: return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange: return 400;
    case absl::StatusCode::kUnauthenticated: return 401;
    case absl::StatusCode::kPermissionDenied: return 403;
    case absl::StatusCode::kNotFound: return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted: return 409;
    case absl::StatusCode::kResourceExhausted: return 429;
    case absl::StatusCode::kCancelled: return 499;
    case absl::StatusCode::kUnimplemented: return 501;
    case absl::StatusCode::kUnavailable: return 503;
    case absl::StatusCode::kDeadlineExceeded: return 504;
    default: return 500;
  }
}

void SetJson(httplib::Response& res, int status, const std::string& body) {
  res.status = status;
  res.set_header("Cache-Control", "no-store");
  res.set_content(body, "application/json; charset=utf-8");
}

void SetError(httplib::Response& res, const absl::Status& st) {
  const Json body = {{"error",
                      {{"code", absl::StatusCodeToString(st.code())}, {"message", std::string(st.message())}}}};
  SetJson(res, HttpStatus(st.code()), body.dump());
}

std::string ToJson(const google::protobuf::Message& m) {
  google::protobuf::util::JsonPrintOptions o;
  o.always_print_primitive_fields = true;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(m, &out, o);
  return out;
}

absl::Status FromJson(const std::string& body, google::protobuf::Message* m) {
  if (body.empty()) return absl::InvalidArgumentError("the request needs a JSON body");
  const auto st = google::protobuf::util::JsonStringToMessage(body, m);
  if (!st.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the body is not a JSON ", m->GetDescriptor()->name(), ": ", st.message().as_string()));
  }
  return absl::OkStatus();
}

std::string Cookie(const httplib::Request& req, const std::string& name) {
  for (absl::string_view part : absl::StrSplit(req.get_header_value("Cookie"), ';')) {
    part = absl::StripAsciiWhitespace(part);
    if (absl::ConsumePrefix(&part, name + "=")) return std::string(part);
  }
  return "";
}

// What the database keeps of a session id.
std::string SessionHash(const std::string& sid) {
  std::string h(crypto_hash_sha256_BYTES, '\0');
  crypto_hash_sha256(reinterpret_cast<unsigned char*>(h.data()), reinterpret_cast<const unsigned char*>(sid.data()),
                     sid.size());
  return h;
}

bool IsHex(const std::string& s, size_t min, size_t max) {
  return s.size() >= min && s.size() <= max &&
         std::all_of(s.begin(), s.end(), [](char c) { return absl::ascii_isxdigit(c); });
}

// The period of a request's `from` and `to` parameters (China days
// "YYYY-MM-DD", both included): `from` is the first day's start, `to` the
// start of the day after the last. A parameter left out stays nullopt.
struct Period {
  std::optional<absl::Time> from, to;
};
constexpr uint32_t kMaxLimit = 100;
// Batches per console page: each page also reads its batches' range changes.
constexpr uint32_t kConsoleBatchesPerPage = 20;
absl::StatusOr<Period> PeriodOf(const httplib::Request& req) {
  Period out;
  for (auto [name, field, next] : {std::tuple{"from", &out.from, 0}, std::tuple{"to", &out.to, 1}}) {
    if (!req.has_param(name)) continue;
    const std::string text = req.get_param_value(name);
    absl::CivilDay day;
    if (!absl::ParseCivilTime(text, &day)) {
      return absl::InvalidArgumentError(absl::StrCat(name, "='", text, "' is not a day (YYYY-MM-DD)"));
    }
    *field = absl::FromCivil(day + next, common::ChinaTime());
  }
  return out;
}

// The optional `limit` query parameter (rows per page, at most 100); 0 when absent.
absl::StatusOr<uint32_t> LimitOf(const httplib::Request& req) {
  uint32_t limit = 0;
  if (req.has_param("limit") &&
      (!absl::SimpleAtoi(req.get_param_value("limit"), &limit) || limit > kMaxLimit)) {
    return absl::InvalidArgumentError(
        absl::StrCat("limit='", req.get_param_value("limit"), "' is not a number from 1 to ", kMaxLimit));
  }
  return limit;
}

Lang LangOf(const httplib::Request& req) {
  if (req.has_param("lang")) return req.get_param_value("lang") == "en" ? Lang::kEn : Lang::kZh;
  return absl::StartsWith(absl::AsciiStrToLower(req.get_header_value("Accept-Language")), "en") ? Lang::kEn
                                                                                                : Lang::kZh;
}

// The host of a URL prefix ("HTTPS://YM.EXAMPLE.CN/" -> "ym.example.cn").
std::string HostOf(absl::string_view url) {
  const size_t scheme = url.find("://");
  if (scheme != absl::string_view::npos) url.remove_prefix(scheme + 3);
  url = url.substr(0, url.find('/'));
  return absl::AsciiStrToLower(url.substr(0, url.find(':')));
}

}  // namespace

absl::StatusOr<std::unique_ptr<WebFront>> WebFront::Start(WebOptions options, WebDeps deps) {
  YOUMA_ASSIGN_OR_RETURN(Regions regions, Regions::Load(options.regions_file));
  const size_t colon = options.listen.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(options.listen.substr(colon + 1), &port) || port < 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("--http-listen '", options.listen, "' is not HOST:PORT"));
  }
  const std::string host = options.listen.substr(0, colon);
  std::unique_ptr<WebFront> front(new WebFront(std::move(options), deps, std::move(regions)));
  front->Routes();
  front->port_ = port == 0 ? front->server_->bind_to_any_port(host) : port;
  if (front->port_ <= 0 || (port != 0 && !front->server_->bind_to_port(host, port))) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", front->options_.listen, " (in use?)"));
  }
  // cpp-httplib (as Debian builds it) listens with a backlog of 5: a burst of
  // new connections (many phones opening the page at once) would overflow
  // it and wait out TCP retransmissions. Listening again resizes the queue.
  if (front->listen_fd_ >= 0) ::listen(front->listen_fd_, SOMAXCONN);
  front->thread_ = std::thread([f = front.get()] {
    f->server_->listen_after_bind();
    f->listen_returned_ = true;
  });
  return front;
}

WebFront::WebFront(WebOptions options, WebDeps deps, Regions regions)
    : options_(std::move(options)), deps_(deps), regions_(std::move(regions)), reads_(deps.pool),
      server_(std::make_unique<httplib::Server>()) {
  const int threads = options_.threads;
  server_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server_->set_payload_max_length(1 << 20);
  server_->set_tcp_nodelay(true);
  server_->set_read_timeout(10, 0);
  server_->set_write_timeout(10, 0);
  server_->set_keep_alive_timeout(30);
  // A phone or a mini-program backend keeps its connection for many requests
  // (cpp-httplib's default closes it after 5).
  server_->set_keep_alive_max_count(1000);
  server_->set_socket_options([this](socket_t sock) {
    httplib::default_socket_options(sock);
    listen_fd_ = sock;  // the last one made is the one bound
  });
}

WebFront::~WebFront() { Stop(); }

void WebFront::Stop() {
  if (!thread_.joinable()) return;
  // cpp-httplib's stop() does nothing until the listening thread is in its
  // accept loop, which it would then never leave: a front stopped right after
  // Start() (a server that fails to start, a short test) waits for that first.
  while (!server_->is_running() && !listen_returned_) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  server_->stop();
  thread_.join();
}

std::string WebFront::address() const {
  return absl::StrCat(options_.listen.substr(0, options_.listen.rfind(':')), ":", port_);
}

void WebFront::Routes() {
  httplib::Server& s = *server_;
  // Every response: no sniffing, no framing, no referrer (codes are in URLs).
  s.set_default_headers({{"X-Content-Type-Options", "nosniff"},
                         {"X-Frame-Options", "DENY"},
                         {"Referrer-Policy", "no-referrer"}});
  // Metrics per kind of route (a fixed set: paths are the callers' to choose),
  // timed from routing to the response's end on the request's own thread.
  static thread_local std::chrono::steady_clock::time_point started;
  s.set_pre_routing_handler([](const httplib::Request&, httplib::Response&) {
    started = std::chrono::steady_clock::now();
    return httplib::Server::HandlerResponse::Unhandled;
  });
  s.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    // Only the route's kind: never a token, a cookie or a body.
    static const std::set<std::string> kApi = {"/api/v1/scan", "/api/v1/stores", "/api/v1/stores/open-case",
                                               "/api/v1/stores/leaderboard"};
    const std::string route = kApi.count(req.path) > 0                         ? req.path
                              : absl::StartsWith(req.path, "/api/")          ? "/api/other"
                              : absl::StartsWith(req.path, "/console/api/") ? "/console/api"
                              : absl::StartsWith(req.path, "/console")      ? "/console"
                              : req.path == "/healthz"                       ? "/healthz"
                                                                             : "/scan-page";
    // Scans' failures are the pipeline's to log (per group, and shed scans at
    // most every 10 s): a line per failed scan would flood the log in an outage.
    if (deps_.log != nullptr && res.status >= 500 && route != "/scan-page" && route != "/api/v1/scan") {
      deps_.log->Error("http_failed", {{"method", req.method}, {"route", route}, {"status", res.status}});
    }
    if (deps_.metrics == nullptr) return;
    deps_.metrics->Record("WebFront", absl::StrCat(req.method == "POST" ? "POST " : "GET ", route),
                          res.status < 400    ? grpc::StatusCode::OK
                          : res.status == 401 ? grpc::StatusCode::UNAUTHENTICATED
                          : res.status == 403 ? grpc::StatusCode::PERMISSION_DENIED
                          : res.status == 404 ? grpc::StatusCode::NOT_FOUND
                          : res.status == 409 ? grpc::StatusCode::ALREADY_EXISTS
                          : res.status < 500  ? grpc::StatusCode::INVALID_ARGUMENT
                                              : grpc::StatusCode::UNAVAILABLE,
                          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  });
  s.Get("/healthz", [](const httplib::Request&, httplib::Response& res) { res.set_content("ok\n", "text/plain"); });
  s.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("<!doctype html><meta charset=utf-8><title>youma</title><p>youma 优码: scan a product's QR code, "
                    "or open the <a href=\"/console/\">brand console</a>.</p>",
                    "text/html; charset=utf-8");
  });
  s.Post("/api/v1/scan", [this](const httplib::Request& q, httplib::Response& r) { ApiScan(q, r, false); });
  s.Post("/api/v1/stores/open-case", [this](const httplib::Request& q, httplib::Response& r) { ApiScan(q, r, true); });
  s.Post("/api/v1/stores", [this](const httplib::Request& q, httplib::Response& r) { ApiRegisterStore(q, r); });
  s.Get("/api/v1/stores/leaderboard", [this](const httplib::Request& q, httplib::Response& r) { ApiLeaderboard(q, r); });
  s.Post("/console/login", [this](const httplib::Request& q, httplib::Response& r) { ConsoleLogin(q, r); });
  s.Post("/console/logout", [this](const httplib::Request& q, httplib::Response& r) { ConsoleLogout(q, r); });
  s.Get(R"(/console/api/([a-z]+(\.csv)?))", [this](const httplib::Request& q, httplib::Response& r) {
    ConsoleRead(q, r, q.matches[1]);
  });
  s.Get("/console", [](const httplib::Request&, httplib::Response& r) { r.set_redirect("/console/"); });
  if (!options_.console_dir.empty()) {
    s.set_mount_point("/console", options_.console_dir);
    s.set_file_request_handler([](const httplib::Request&, httplib::Response& res) {
      res.set_header("Content-Security-Policy",
                     "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' "
                     "data:; connect-src 'self'; frame-ancestors 'none'");
      res.set_header("Cache-Control", "no-cache");
    });
  }
  // The printed codes: a token path, or a GS1 Digital Link.
  s.Get(R"(/(01/[0-9]{14}(/[0-9]{2}/[^/?#]{1,20})*))", [this](const httplib::Request& q, httplib::Response& r) {
    ScanPage(q, r, "/" + std::string(q.matches[1]));
  });
  s.Get(R"(/([A-Za-z0-9]{16,256}))", [this](const httplib::Request& q, httplib::Response& r) {
    ScanPage(q, r, q.matches[1]);
  });
}

std::string WebFront::ClientIp(const httplib::Request& req) const {
  if (options_.trust_forwarded_for && req.has_header("X-Forwarded-For")) {
    const std::string xff = req.get_header_value("X-Forwarded-For");
    return std::string(absl::StripAsciiWhitespace(xff.substr(0, xff.find(',')))).substr(0, 45);
  }
  return req.remote_addr.substr(0, 45);
}

absl::StatusOr<std::string> WebFront::BrandFor(const std::string& code, const std::string& host) {
  std::string host_brand;
  std::vector<std::pair<std::string, std::shared_ptr<const common::BrandKeys>>> keys;
  for (const std::string& brand : deps_.keysets->Brands()) {
    absl::StatusOr<std::shared_ptr<const common::BrandKeys>> k = deps_.keysets->Get(brand);
    if (!k.ok()) continue;
    const bool ours = HostOf((*k)->keyset.url_prefix()) == HostOf(host) ||
                      HostOf((*k)->keyset.gs1_resolver()) == HostOf(host);
    if (ours && host_brand.empty()) host_brand = brand;
    keys.emplace(ours ? keys.begin() : keys.end(), brand, *std::move(k));
  }
  for (const auto& [brand, k] : keys) {
    const codegen::Verification v = k->verifier.Verify(code);
    if (v.verdict == codegen::Verdict::kMalformed) {
      return absl::InvalidArgumentError(absl::StrCat("not a youma code: ", v.problem));
    }
    if (v.verdict == codegen::Verdict::kGenuine) return brand;
  }
  return host_brand;
}

absl::StatusOr<youma::v1::ScanAnswer> WebFront::Record(const std::string& brand, const youma::v1::ScanRequest& scan) {
  auto promise = std::make_shared<std::promise<absl::StatusOr<youma::v1::ScanAnswer>>>();
  auto future = promise->get_future();
  // Past the timeout the page tells the phone to try again, so a scan still
  // waiting for a writer then is not recorded (the retry will be).
  auto gave_up = std::make_shared<std::atomic<bool>>(false);
  deps_.pipeline->Submit(
      brand, scan, [promise](absl::StatusOr<youma::v1::ScanAnswer> a) { promise->set_value(std::move(a)); },
      [gave_up] { return gave_up->load(); });
  if (future.wait_for(absl::ToChronoNanoseconds(options_.record_timeout)) != std::future_status::ready) {
    gave_up->store(true);
    return absl::DeadlineExceededError("the scan was not recorded in time; try again with the same scan id");
  }
  return future.get();
}

void WebFront::ScanPage(const httplib::Request& req, httplib::Response& res, const std::string& code) {
  const Lang lang = LangOf(req);
  res.set_header("Cache-Control", "no-store");
  absl::StatusOr<std::string> brand = BrandFor(code, req.get_header_value("Host"));
  if (!brand.ok()) {
    res.status = 400;
    res.set_content(NotACodePage(lang, std::string(brand.status().message())), "text/html; charset=utf-8");
    return;
  }
  if (!req.has_param("r")) {
    // Step 1: ask for the location, then come back with it.
    const std::string nonce = RandomHex(16);
    res.set_header("Content-Security-Policy",
                   absl::StrCat("default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-", nonce,
                                "'; frame-ancestors 'none'"));
    res.set_content(LandingPage(lang, RandomHex(16), nonce), "text/html; charset=utf-8");
    return;
  }
  res.set_header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'");
  // A first-party id for the phone: the consumer's "user" on the web.
  std::string uid = Cookie(req, "ym_uid");
  if (!IsHex(uid, 32, 32)) {
    uid = RandomHex(16);
    res.set_header("Set-Cookie", absl::StrCat("ym_uid=", uid, "; Path=/; Max-Age=31536000; HttpOnly; SameSite=Lax",
                                              options_.secure_cookies ? "; Secure" : ""));
  }
  std::string sid = req.get_param_value("sid");
  if (!IsHex(sid, 16, 64)) sid = RandomHex(16);
  youma::v1::ScanRequest scan;
  scan.set_code(code);
  scan.set_role(youma::v1::SCAN_ROLE_CONSUMER);
  scan.set_user_id("web:" + uid);
  scan.set_device_id("web:" + uid);
  scan.set_client_ip(ClientIp(req));
  scan.set_client_scan_id("web-" + sid);
  double lat = 0, lng = 0;
  const bool located = absl::SimpleAtod(req.get_param_value("lat"), &lat) &&
                       absl::SimpleAtod(req.get_param_value("lng"), &lng) && lat >= -90 && lat <= 90 &&
                       lng >= -180 && lng <= 180 && common::Located(lat, lng);
  if (located) {  // kept with the scan (impossible travel, store evidence)
    scan.set_latitude(lat);
    scan.set_longitude(lng);
  }
  const std::string edge_region = req.get_header_value(options_.region_header);
  if (edge_region.size() == 6 &&
      std::all_of(edge_region.begin(), edge_region.end(), absl::ascii_isdigit)) {
    scan.set_region(edge_region);
    scan.set_region_source(youma::v1::REGION_SOURCE_IP);
  }
  ResultView view;
  view.lang = lang;
  view.regions = &regions_;
  view.miniprogram_url = options_.miniprogram_url;
  view.other_lang_url = absl::StrCat("?r=1&sid=", sid, lang == Lang::kZh ? "&lang=en" : "&lang=zh");
  if (brand->empty()) {
    // No brand's keys: a counterfeit that no brand can be told about.
    youma::v1::ScanAnswer fake;
    fake.set_verdict(youma::v1::SCAN_VERDICT_COUNTERFEIT);
    res.set_content(ResultPage(fake, view), "text/html; charset=utf-8");
    return;
  }
  absl::StatusOr<youma::v1::ScanAnswer> answer = Record(*brand, scan);
  if (!answer.ok()) {
    res.status = HttpStatus(answer.status().code());
    res.set_content(NotACodePage(lang, std::string(answer.status().message())), "text/html; charset=utf-8");
    return;
  }
  res.set_content(ResultPage(*answer, view), "text/html; charset=utf-8");
}

void WebFront::ApiScan(const httplib::Request& req, httplib::Response& res, bool open_case) {
  absl::Status st = [&]() -> absl::Status {
    YOUMA_ASSIGN_OR_RETURN(common::Principal who, deps_.tokens->Authenticate(req.get_header_value("Authorization")));
    youma::v1::ScanRequest scan;
    YOUMA_RETURN_IF_ERROR(FromJson(req.body, &scan));
    YOUMA_ASSIGN_OR_RETURN(std::string brand,
                           common::Authorize(who, scan.brand(), {youma::v1::ROLE_SCANNER, youma::v1::ROLE_ADMIN}));
    if (open_case) {
      if (scan.role() != youma::v1::SCAN_ROLE_UNSPECIFIED && scan.role() != youma::v1::SCAN_ROLE_STORE_OWNER) {
        return absl::InvalidArgumentError("open-case scans are store owners' scans: leave role out or STORE_OWNER");
      }
      scan.set_role(youma::v1::SCAN_ROLE_STORE_OWNER);
    }
    YOUMA_ASSIGN_OR_RETURN(youma::v1::ScanAnswer answer, Record(brand, scan));
    SetJson(res, 200, ToJson(answer));
    return absl::OkStatus();
  }();
  if (!st.ok()) SetError(res, st);
}

void WebFront::ApiRegisterStore(const httplib::Request& req, httplib::Response& res) {
  absl::Status st = [&]() -> absl::Status {
    YOUMA_ASSIGN_OR_RETURN(common::Principal who, deps_.tokens->Authenticate(req.get_header_value("Authorization")));
    youma::v1::RegisterStoreRequest r;
    YOUMA_RETURN_IF_ERROR(FromJson(req.body, &r));
    YOUMA_ASSIGN_OR_RETURN(std::string brand,
                           common::Authorize(who, r.brand(), {youma::v1::ROLE_SCANNER, youma::v1::ROLE_ADMIN}));
    YOUMA_ASSIGN_OR_RETURN(youma::v1::RegisterStoreResponse out, deps_.stores->Register(brand, r));
    SetJson(res, 200, ToJson(out));
    return absl::OkStatus();
  }();
  if (!st.ok()) SetError(res, st);
}

namespace {

// A leaderboard request from query parameters (shared by the API and the console).
absl::StatusOr<youma::v1::LeaderboardRequest> LeaderboardQuery(const httplib::Request& req) {
  youma::v1::LeaderboardRequest r;
  r.set_brand(req.get_param_value("brand"));
  r.set_region_prefix(req.has_param("region") ? req.get_param_value("region") : req.get_param_value("region_prefix"));
  const std::string order = req.get_param_value("order");
  if (order == "scans") {
    r.set_order(youma::v1::LEADERBOARD_ORDER_CONSUMER_SCANS);
  } else if (order.empty() || order == "cases") {
    r.set_order(youma::v1::LEADERBOARD_ORDER_CASES_OPENED);
  } else {
    return absl::InvalidArgumentError("order is 'cases' or 'scans'");
  }
  YOUMA_ASSIGN_OR_RETURN(const uint32_t limit, LimitOf(req));
  r.set_limit(limit);
  YOUMA_ASSIGN_OR_RETURN(const Period period, PeriodOf(req));
  if (period.from) *r.mutable_from_time() = common::ToProtoTime(*period.from);
  // The leaderboard takes its last day inclusive.
  if (period.to) *r.mutable_to_time() = common::ToProtoTime(*period.to - absl::Microseconds(1));
  return r;
}

// Region names beside the codes of a diversion report (evidence regions,
// and the provinces its totals were scanned in), for the people reading it.
void NameDiversionRegions(const Regions& regions, Json& report) {
  if (report.contains("flags")) {
    for (auto& flag : report["flags"]) {
      if (!flag.contains("evidence")) continue;
      for (auto& e : flag["evidence"]) e["regionName"] = regions.Name(e.value("region", ""));
    }
  }
  for (const char* totals : {"byDealer", "byShipment"}) {
    if (!report.contains(totals)) continue;
    for (auto& row : report[totals]) {
      if (!row.contains("scannedIn")) continue;
      for (auto& p : row["scannedIn"]) p["name"] = regions.ProvinceName(p.value("province", ""));
    }
  }
}

}  // namespace

void WebFront::ApiLeaderboard(const httplib::Request& req, httplib::Response& res) {
  absl::Status st = [&]() -> absl::Status {
    YOUMA_ASSIGN_OR_RETURN(common::Principal who, deps_.tokens->Authenticate(req.get_header_value("Authorization")));
    YOUMA_ASSIGN_OR_RETURN(youma::v1::LeaderboardRequest r, LeaderboardQuery(req));
    YOUMA_ASSIGN_OR_RETURN(std::string brand,
                           common::Authorize(who, r.brand(),
                                             {youma::v1::ROLE_SCANNER, youma::v1::ROLE_AUDITOR, youma::v1::ROLE_ADMIN}));
    YOUMA_ASSIGN_OR_RETURN(youma::v1::LeaderboardResponse out, deps_.stores->Leaderboard(brand, r));
    SetJson(res, 200, ToJson(out));
    return absl::OkStatus();
  }();
  if (!st.ok()) SetError(res, st);
}

void WebFront::ConsoleLogin(const httplib::Request& req, httplib::Response& res) {
  absl::Status st = [&]() -> absl::Status {
    Json body = Json::parse(req.body, nullptr, /*allow_exceptions=*/false);
    if (!body.is_object() || !body.contains("token") || !body["token"].is_string()) {
      return absl::InvalidArgumentError("log in with a JSON body {\"token\": \"ym_…\"} (an auditor or admin token)");
    }
    YOUMA_ASSIGN_OR_RETURN(common::Principal who,
                           deps_.tokens->Authenticate(absl::StrCat("Bearer ", body["token"].get<std::string>())));
    const std::string wanted = body.contains("brand") && body["brand"].is_string() ? body["brand"].get<std::string>() : "";
    YOUMA_ASSIGN_OR_RETURN(std::string brand,
                           common::Authorize(who, wanted, {youma::v1::ROLE_AUDITOR, youma::v1::ROLE_ADMIN}));
    who.brand = brand;  // an all-brands admin token opens one brand's console
    const std::string sid = RandomHex(32);
    YOUMA_RETURN_IF_ERROR(deps_.pool->WithConnection([&](sql::Connection& c) -> absl::Status {
      const absl::Time now = absl::Now();
      auto old = storage::Prepare(c, "DELETE FROM console_sessions WHERE expire_time < ? LIMIT 100");
      old->setString(1, common::SqlTime(now));
      old->executeUpdate();
      auto ins = storage::Prepare(c, "INSERT INTO console_sessions (session_hash, brand, role, token_id, expire_time) "
                                     "VALUES (?,?,?,?,?)");
      ins->setString(1, SessionHash(sid));
      ins->setString(2, brand);
      ins->setInt(3, who.role);
      ins->setString(4, who.token_id);
      ins->setString(5, common::SqlTime(now + options_.session_ttl));
      ins->executeUpdate();
      return absl::OkStatus();
    }));
    res.set_header("Set-Cookie", absl::StrCat("youma_session=", sid, "; Path=/console; HttpOnly; SameSite=Strict; Max-Age=",
                                              absl::ToInt64Seconds(options_.session_ttl),
                                              options_.secure_cookies ? "; Secure" : ""));
    SetJson(res, 200, Json{{"brand", brand}, {"role", std::string(common::RoleName(who.role))}}.dump());
    if (deps_.log != nullptr) {
      deps_.log->Info("console_login", {{"brand", brand},
                                        {"role", std::string(common::RoleName(who.role))},
                                        {"token_id", who.token_id},
                                        {"client_ip", ClientIp(req)}});
    }
    return absl::OkStatus();
  }();
  if (!st.ok()) {
    if (deps_.log != nullptr) {
      deps_.log->Warn("console_login_refused", {{"code", absl::StatusCodeToString(st.code())},
                                                {"message", std::string(st.message())},
                                                {"client_ip", ClientIp(req)}});
    }
    SetError(res, st);
  }
}

void WebFront::ConsoleLogout(const httplib::Request& req, httplib::Response& res) {
  const std::string sid = Cookie(req, "youma_session");
  const absl::Status st = deps_.pool->WithConnection([&](sql::Connection& c) -> absl::Status {
    auto del = storage::Prepare(c, "DELETE FROM console_sessions WHERE session_hash = ?");
    del->setString(1, SessionHash(sid));
    del->executeUpdate();
    return absl::OkStatus();
  });
  if (!st.ok()) return SetError(res, st);
  res.set_header("Set-Cookie", "youma_session=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0");
  res.status = 204;
}

absl::StatusOr<common::Principal> WebFront::Session(const httplib::Request& req) {
  const std::string sid = Cookie(req, "youma_session");
  const absl::Status none = absl::UnauthenticatedError("log in to the console with an auditor or admin token");
  if (!IsHex(sid, 64, 64)) return none;
  return deps_.pool->WithConnection([&](sql::Connection& c) -> absl::StatusOr<common::Principal> {
    auto st = storage::Prepare(c, "SELECT s.brand, s.role, s.token_id FROM console_sessions s JOIN api_tokens t ON "
                                  "t.token_id = s.token_id WHERE s.session_hash = ? AND s.expire_time > ? AND "
                                  "t.revoked = 0");
    st->setString(1, SessionHash(sid));
    st->setString(2, common::SqlTime(absl::Now()));
    std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
    if (!rs->next()) return none;
    common::Principal who;
    who.brand = rs->getString(1);
    who.role = static_cast<common::Role>(rs->getInt(2));
    who.token_id = rs->getString(3);
    return who;
  });
}

void WebFront::ConsoleRead(const httplib::Request& req, httplib::Response& res, const std::string& what) {
  absl::Status st = [&]() -> absl::Status {
    YOUMA_ASSIGN_OR_RETURN(common::Principal who, Session(req));
    const std::string& brand = who.brand;
    if (what == "me") {
      SetJson(res, 200, Json{{"brand", brand}, {"role", std::string(common::RoleName(who.role))}}.dump());
    } else if (what == "batches") {
      // Newest first, a page at a time: `page_token` (the last page's
      // nextPageToken) reads the older ones.
      youma::v1::ListBatchesRequest list;
      YOUMA_ASSIGN_OR_RETURN(const uint32_t limit, LimitOf(req));
      list.set_page_size(static_cast<int>(limit == 0 ? kConsoleBatchesPerPage : limit));
      list.set_page_token(req.get_param_value("page_token"));
      YOUMA_ASSIGN_OR_RETURN(youma::v1::ListBatchesResponse batches, deps_.issuer->ListBatches(brand, list));
      std::vector<youma::v1::Batch> all(batches.batches().begin(), batches.batches().end());
      std::set<std::string> gtins;
      for (const auto& b : all) gtins.insert(b.gtin());
      YOUMA_ASSIGN_OR_RETURN(auto names, reads_.ProductNames(brand, gtins));
      YOUMA_ASSIGN_OR_RETURN(auto states, reads_.BatchStates(all));
      Json out = {{"batches", Json::array()}};
      if (!batches.next_page_token().empty()) out["nextPageToken"] = batches.next_page_token();
      for (const auto& b : all) {
        Json j = Json::parse(ToJson(b));
        j["productName"] = names[b.gtin()];
        const CodeStates& s = states[b.batch_id()];
        j["states"] = {{"active", std::to_string(s.active)},
                       {"notActive", std::to_string(s.not_active)},
                       {"frozen", std::to_string(s.frozen)},
                       {"revoked", std::to_string(s.revoked)}};
        out["batches"].push_back(std::move(j));
      }
      SetJson(res, 200, out.dump());
    } else if (what == "campaigns") {
      YOUMA_ASSIGN_OR_RETURN(youma::v1::ListCampaignsResponse list, deps_.campaigns->List(brand));
      YOUMA_ASSIGN_OR_RETURN(auto payouts, reads_.Payouts(brand, list));
      Json out = {{"campaigns", Json::array()}};
      for (const auto& c : list.campaigns()) {
        Json j = Json::parse(ToJson(c));
        const PayoutCounts& p = payouts[c.campaign_id()];
        j["payouts"] = {{"pending", std::to_string(p.pending)},
                        {"sent", std::to_string(p.sent)},
                        {"confirmed", std::to_string(p.confirmed)},
                        {"failed", std::to_string(p.failed)}};
        out["campaigns"].push_back(std::move(j));
      }
      SetJson(res, 200, out.dump());
    } else if (what == "diversion" || what == "diversion.csv") {
      youma::v1::DiversionReportRequest r;
      r.set_dealer_id(req.get_param_value("dealer"));
      r.set_region_prefix(req.get_param_value("region"));
      r.set_gtin(req.get_param_value("gtin"));
      YOUMA_ASSIGN_OR_RETURN(const Period period, PeriodOf(req));
      if (period.from) *r.mutable_from_time() = common::ToProtoTime(*period.from);
      if (period.to) *r.mutable_to_time() = common::ToProtoTime(*period.to);
      if (what == "diversion") {
        // The totals and the first flags, or with `page_token` the next
        // flags; the CSV has them all.
        r.set_page_size(500);
        r.set_page_token(req.get_param_value("page_token"));
        YOUMA_ASSIGN_OR_RETURN(youma::v1::DiversionReportResponse report, deps_.auditor->DiversionReport(brand, r));
        Json out = Json::parse(ToJson(report));
        NameDiversionRegions(regions_, out);
        SetJson(res, 200, out.dump());
      } else {
        YOUMA_ASSIGN_OR_RETURN(youma::v1::DiversionReportResponse report,
                               audit::WholeDiversionReport(r, [&](const youma::v1::DiversionReportRequest& page) {
                                 return deps_.auditor->DiversionReport(brand, page);
                               }));
        res.set_header("Content-Disposition", "attachment; filename=\"diversion.csv\"");
        res.set_content(audit::DiversionCsv(report), "text/csv; charset=utf-8");
      }
    } else if (what == "regions") {
      YOUMA_ASSIGN_OR_RETURN(const Period period, PeriodOf(req));
      const absl::Time to = period.to.value_or(absl::Now());
      const absl::Time from = period.from.value_or(to - absl::Hours(24 * 30));
      YOUMA_ASSIGN_OR_RETURN(std::vector<ProvinceCount> provinces, reads_.Provinces(brand, from, to));
      Json out = {{"regions", Json::array()}};
      for (const ProvinceCount& p : provinces) {
        out["regions"].push_back({{"region", p.province},
                                  {"name", p.province == "000000" ? "未知" : regions_.ProvinceName(p.province)},
                                  {"scans", std::to_string(p.scans)},
                                  {"counterfeits", std::to_string(p.counterfeits)}});
      }
      SetJson(res, 200, out.dump());
    } else if (what == "leaderboard" || what == "leaderboard.csv") {
      YOUMA_ASSIGN_OR_RETURN(youma::v1::LeaderboardRequest r, LeaderboardQuery(req));
      r.clear_brand();
      YOUMA_ASSIGN_OR_RETURN(youma::v1::LeaderboardResponse board, deps_.stores->Leaderboard(brand, r));
      if (what == "leaderboard") {
        Json out = Json::parse(ToJson(board));
        if (out.contains("entries")) {
          for (auto& e : out["entries"]) e["regionName"] = regions_.Name(e.value("region", ""));
        }
        SetJson(res, 200, out.dump());
      } else {
        std::string csv = "rank,store_id,name,region,cases_opened,consumer_scans,rebate_fen\n";
        for (const auto& e : board.entries()) {
          absl::StrAppend(&csv, e.rank(), ",", e.store_id(), ",", common::CsvField(e.name()), ",", e.region(), ",",
                          e.stats().cases_opened(), ",", e.stats().consumer_scans(), ",", e.stats().rebate_fen(), "\n");
        }
        res.set_header("Content-Disposition", "attachment; filename=\"leaderboard.csv\"");
        res.set_content(csv, "text/csv; charset=utf-8");
      }
    } else {
      return absl::NotFoundError(absl::StrCat("no console read '", what, "'"));
    }
    return absl::OkStatus();
  }();
  if (!st.ok()) SetError(res, st);
}

}  // namespace youma::web
