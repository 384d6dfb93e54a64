// The HTTP front end to end: the scan page, the JSON API with its statuses,
// the console's session and reads, tenant isolation and injection.
#include <httplib.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "codegen/gs1.h"
#include "services/rules/campaign.h"
#include "services/web/console_reads.h"
#include "tests/harness.h"
#include "tests/scan_fixture.h"

namespace youma::testing {
namespace {

using Json = nlohmann::json;
using StoreStub = youma::v1::StoreService::Stub;

struct Web : Fixture {
  explicit Web(TestServer& on = TestServer::Shared()) : Fixture(on) {}
  httplib::Client http{"http://" + server.http()};
  std::string Path(const youma::v1::Code& c) const { return c.url().substr(c.url().rfind('/')); }
  static httplib::Headers Bearer(const TestClient& c) { return {{"Authorization", "Bearer " + c.token}}; }
  // The page after the location step, for one scan id.
  httplib::Result Page(const std::string& path, const std::string& sid, const std::string& extra = "",
                       const httplib::Headers& headers = {}) {
    return http.Get((path + "?r=1&sid=" + sid + extra).c_str(), headers);
  }
  Json Post(const std::string& path, const TestClient& who, const Json& body, int* status) {
    auto r = http.Post(path.c_str(), Bearer(who), body.dump(), "application/json");
    REQUIRE(r);
    *status = r->status;
    return Json::parse(r->body);
  }
};

std::string Sid() { return absl::StrCat(absl::Hex(absl::ToUnixNanos(absl::Now()), absl::kZeroPad16)); }

TEST_CASE("the scan page: genuine with its product and prize; a second scan shows the history; a reload is the same scan") {
  Web w;
  const std::string gtin = "06901234500035";
  w.server.EnsureProduct("alpha", gtin);
  auto spec = Spec(100'000, 188, 1'000'000);
  spec.clear_gtins();
  spec.add_gtins(gtin);
  const auto campaign = Launch(w.admin, spec);
  const auto codes = w.CodesOf(gtin, youma::v1::BATCH_KIND_BOTTLE, 2);

  // Step 1 asks for the location: a tiny page with one nonce'd script.
  auto landing = w.http.Get(w.Path(codes[0]).c_str());
  REQUIRE(landing);
  CHECK(landing->status == 200);
  CHECK(landing->body.find("正在验证") != std::string::npos);
  CHECK(landing->body.find("getCurrentPosition") != std::string::npos);
  CHECK(landing->get_header_value("Content-Security-Policy").find("script-src 'nonce-") != std::string::npos);
  CHECK(landing->body.size() < 4096);
  CHECK(w.server.QueryInt("SELECT COUNT(*) FROM scans WHERE client_scan_id LIKE 'web-%'") == 0);

  const std::string sid = Sid();
  auto first = w.Page(w.Path(codes[0]), sid, "", {{"X-Youma-Region", "440106"}});
  REQUIRE(first);
  CHECK(first->status == 200);
  CHECK(first->body.find("正品") != std::string::npos);
  CHECK(first->body.find("test product") != std::string::npos);
  CHECK(first->body.find("恭喜！获得 1.88 元红包") != std::string::npos);
  CHECK(first->body.find("首次扫码") != std::string::npos);
  CHECK(first->body.size() < 50 * 1024);
  const std::string cookie = first->get_header_value("Set-Cookie");
  CHECK(cookie.find("ym_uid=") == 0);
  CHECK(cookie.find("HttpOnly") != std::string::npos);
  // The scan is in the log, with the edge's IP-level region.
  CHECK(w.server.QueryInt(absl::StrCat("SELECT region_source FROM scans WHERE client_scan_id = 'web-", sid,
                                       "' AND region = '440106'")) == youma::v1::REGION_SOURCE_IP);
  // A reload (same scan id) is the same scan: the same prize, counted once.
  auto reload = w.Page(w.Path(codes[0]), sid);
  CHECK(reload->body.find("恭喜！获得 1.88 元红包") != std::string::npos);
  CHECK(w.server.QueryInt(absl::StrCat("SELECT scan_count FROM code_scans WHERE code_id = ", codes[0].code_id())) == 1);
  // Someone else, later: the history, and no second prize; in English on request.
  auto second = w.Page(w.Path(codes[0]), Sid(), "&lang=en");
  CHECK(second->body.find("Genuine") != std::string::npos);
  CHECK(second->body.find("Scanned 2 times, first on") != std::string::npos);
  CHECK(second->body.find("广东省广州市天河区") != std::string::npos);  // the first scan's region, by name
  CHECK(second->body.find("No red packet this time") != std::string::npos);
  End(w.admin, campaign.campaign_id());
}

TEST_CASE("a web front stopped right after it starts stops at once") {
  // cpp-httplib ignores a stop before its listening thread runs; the front
  // must not then wait in accept() for ever (this hung a test server's end).
  TestServer& server = TestServer::Shared();
  web::WebOptions options;
  options.listen = "127.0.0.1:0";
  options.regions_file = YOUMA_WEB_ASSETS "/regions.tsv";
  web::WebDeps deps;
  deps.pool = &server.app().pool();
  const absl::Time start = absl::Now();
  for (int i = 0; i < 200; ++i) {
    absl::StatusOr<std::unique_ptr<web::WebFront>> front = web::WebFront::Start(options, deps);
    REQUIRE(front.ok());
    CHECK(front.value()->port() > 0);
  }
  CHECK(absl::Now() - start < absl::Seconds(60));
}

TEST_CASE("the scan page: a forged code is counterfeit and writes nothing; garbage is not a code") {
  Web w;
  const auto codes = w.Codes(youma::v1::BATCH_KIND_BOTTLE, 1);
  std::string forged = w.Path(codes[0]);
  forged[forged.size() - 2] = forged[forged.size() - 2] == 'A' ? 'B' : 'A';
  const int64_t before = w.server.QueryInt("SELECT COUNT(*) FROM scans");
  auto page = w.Page(forged, Sid());
  REQUIRE(page);
  CHECK(page->status == 200);
  CHECK(page->body.find("假冒") != std::string::npos);
  CHECK(page->body.find("data-verdict=\"bad\"") != std::string::npos);
  CHECK(w.server.QueryInt("SELECT COUNT(*) FROM scans") == before);
  auto garbage = w.http.Get("/ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
  REQUIRE(garbage);
  CHECK(garbage->status == 400);
  CHECK(garbage->body.find("无法识别") != std::string::npos);
}

TEST_CASE("the scan page answers a GS1 Digital Link path too") {
  Web w;
  youma::v1::CreateBatchRequest req;
  req.set_gtin(kGtin);
  req.set_kind(youma::v1::BATCH_KIND_BOTTLE);
  req.set_scheme(youma::v1::CODE_SCHEME_GS1);
  req.set_quantity(1);
  req.set_request_id("web-gs1-" + Sid());
  youma::v1::Batch batch;
  REQUIRE(w.factory.Call(&youma::v1::IssuerService::Stub::CreateBatch, req, &batch).ok());
  const auto codes = StreamAll(w.factory, batch.batch_id());
  REQUIRE(codes.size() == 1);
  const std::string& url = codes[0].url();  // https://<resolver>/01/<gtin>/21/<serial>
  const std::string path = url.substr(url.find("/01/"));
  CHECK(path.rfind("/01/" + std::string(kGtin) + "/21/", 0) == 0);
  auto page = w.Page(path, Sid());
  REQUIRE(page);
  CHECK(page->status == 200);
  CHECK(page->body.find("正品") != std::string::npos);
  CHECK(page->body.find("GTIN " + std::string(kGtin)) != std::string::npos);
}

TEST_CASE("the JSON API: scans, store registration, open-case and the leaderboard, with exact statuses") {
  Web w;
  const auto codes = w.Codes(youma::v1::BATCH_KIND_SET, 1, 2);  // a case of 2 bottles
  int status = 0;
  Json scan = {{"code", codes[1].url()}, {"role", "SCAN_ROLE_CONSUMER"}, {"userId", "api-user"},
               {"clientScanId", "api-" + Sid()}};
  // No token, a wrong token, a wrong role.
  auto anon = w.http.Post("/api/v1/scan", scan.dump(), "application/json");
  REQUIRE(anon);
  CHECK(anon->status == 401);
  CHECK(Json::parse(anon->body)["error"]["code"] == "UNAUTHENTICATED");
  TestClient bogus;
  bogus.token = "ym_0000000000000000_nope";
  CHECK(w.Post("/api/v1/scan", bogus, scan, &status)["error"]["code"] == "UNAUTHENTICATED");
  CHECK(status == 401);
  Json err = w.Post("/api/v1/scan", w.factory, scan, &status);
  CHECK(status == 403);
  CHECK(err["error"]["code"] == "PERMISSION_DENIED");
  // Bad input says what to fix.
  auto bad = w.http.Post("/api/v1/scan", Web::Bearer(w.scanner), "{not json", "application/json");
  CHECK(bad->status == 400);
  CHECK(Json::parse(bad->body)["error"]["message"].get<std::string>().find("ScanRequest") != std::string::npos);
  Json no_id = scan;
  no_id.erase("clientScanId");
  err = w.Post("/api/v1/scan", w.scanner, no_id, &status);
  CHECK(status == 400);
  CHECK(err["error"]["message"].get<std::string>().find("client_scan_id is required") != std::string::npos);
  // A good scan.
  Json answer = w.Post("/api/v1/scan", w.scanner, scan, &status);
  CHECK(status == 200);
  CHECK(answer["verdict"] == "SCAN_VERDICT_GENUINE");
  CHECK(answer["codeId"] == std::to_string(codes[1].code_id()));
  // Another brand's token cannot scan for alpha.
  TestClient beta = w.server.Connect("beta", youma::v1::ROLE_SCANNER);
  Json for_alpha = scan;
  for_alpha["brand"] = "alpha";
  w.Post("/api/v1/scan", beta, for_alpha, &status);
  CHECK(status == 403);

  // Stores: register, again (409), a bad field (400).
  const std::string owner = "api-owner-" + Sid();
  Json store = {{"ownerUserId", owner}, {"name", "API 门店"}, {"region", "440106"}, {"latitude", 22.5},
                {"longitude", 113.9}, {"phone", "13800000001"}, {"deviceId", "api-phone-" + owner}};
  Json reg = w.Post("/api/v1/stores", w.scanner, store, &status);
  CHECK(status == 200);
  CHECK(reg["store"]["name"] == "API 门店");
  w.Post("/api/v1/stores", w.scanner, store, &status);
  CHECK(status == 409);
  store["region"] = "44";
  err = w.Post("/api/v1/stores", w.scanner, store, &status);
  CHECK(status == 400);
  CHECK(err["error"]["message"].get<std::string>().find("6-digit") != std::string::npos);
  // Open the case: the role is the store owner's; a consumer role is refused.
  Json open = {{"code", codes[0].url()}, {"userId", owner}, {"clientScanId", "open-" + Sid()}};
  Json as_consumer = open;
  as_consumer["role"] = "SCAN_ROLE_CONSUMER";
  w.Post("/api/v1/stores/open-case", w.scanner, as_consumer, &status);
  CHECK(status == 400);
  Json opened = w.Post("/api/v1/stores/open-case", w.scanner, open, &status);
  CHECK(status == 200);
  CHECK(opened["store"]["openedNow"] == true);
  CHECK(opened["store"]["storeId"] == reg["store"]["storeId"]);
  // The leaderboard.
  auto board = w.http.Get("/api/v1/stores/leaderboard?region=4403&order=cases", Web::Bearer(w.scanner));
  REQUIRE(board);
  CHECK(board->status == 200);
  auto listed = [&] {
    const Json entries = Json::parse(board->body)["entries"];
    return std::any_of(entries.begin(), entries.end(),
                       [&](const Json& e) { return e["storeId"] == reg["store"]["storeId"]; });
  };
  CHECK_FALSE(listed());  // registered in 440106, not Shenzhen
  board = w.http.Get("/api/v1/stores/leaderboard?region=4401", Web::Bearer(w.scanner));
  CHECK(listed());
  CHECK(w.http.Get("/api/v1/stores/leaderboard?order=best", Web::Bearer(w.scanner))->status == 400);
  CHECK(w.http.Get("/api/v1/stores/leaderboard?limit=101", Web::Bearer(w.scanner))->status == 400);
  CHECK(w.http.Get("/api/v1/stores/leaderboard?brand=alpha", Web::Bearer(beta))->status == 403);

  // Counted in the RPC metrics by route kind and outcome (a fixed label set).
  CHECK(w.http.Get("/api/v1/whatever-a-caller-makes-up", Web::Bearer(w.scanner))->status == 404);
  std::map<std::string, double> counts;
  // The server counts a request once its response is out: look until it has.
  for (int attempt = 0; attempt < 50 && counts["GET /api/other NOT_FOUND"] < 1; ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    counts.clear();
    for (const auto& family : w.server.app().registry().Collect()) {
      if (family.name != "youma_rpc_requests_total") continue;
      for (const auto& m : family.metric) {
        std::map<std::string, std::string> labels;
        for (const auto& l : m.label) labels[l.name] = l.value;
        if (labels["service"] == "WebFront") counts[labels["method"] + " " + labels["code"]] += m.counter.value;
      }
    }
  }
  CHECK(counts["POST /api/v1/scan OK"] >= 1);
  CHECK(counts["POST /api/v1/scan UNAUTHENTICATED"] >= 2);
  CHECK(counts["POST /api/v1/stores ALREADY_EXISTS"] + counts["POST /api/v1/stores INVALID_ARGUMENT"] >= 1);
  CHECK(counts["GET /api/other NOT_FOUND"] >= 1);
  for (const auto& [key, n] : counts) CHECK(key.find("whatever") == std::string::npos);
}

TEST_CASE("a scan the database cannot record within the timeout is 504 and not recorded; its retry is") {
  TestServer server([](app::AppOptions& o) {
    o.scan.writers = 1;
    o.web.record_timeout = absl::Milliseconds(300);
  });
  Web w(server);
  const auto codes = w.Codes(youma::v1::BATCH_KIND_BOTTLE, 2);
  StalledWriter stall(w, codes[0]);
  REQUIRE(stall.WriterWaits());
  const Json scan = {{"code", codes[1].url()}, {"role", "SCAN_ROLE_CONSUMER"}, {"userId", "late-user"},
                     {"clientScanId", "late-" + Sid()}};
  int status = 0;
  const Json err = w.Post("/api/v1/scan", w.scanner, scan, &status);
  CHECK(status == 504);
  CHECK(err["error"]["code"] == "DEADLINE_EXCEEDED");
  CHECK(err["error"]["message"] == "the scan was not recorded in time; try again with the same scan id");
  CHECK(stall.StalledAnswer().history().scan_count() == 2);
  // The writer reached it after the page had given up: dropped, not recorded.
  REQUIRE(WaitFor([&] { return CounterValue(server, "youma_scans_abandoned_total") == 1; }));
  CHECK(server.QueryInt(absl::StrCat("SELECT COUNT(*) FROM scans WHERE code_id = ", codes[1].code_id())) == 0);
  const Json again = w.Post("/api/v1/scan", w.scanner, scan, &status);
  CHECK(status == 200);
  CHECK(again["history"]["scanCount"] == 1);
  CHECK(server.QueryInt(absl::StrCat("SELECT COUNT(*) FROM scans WHERE code_id = ", codes[1].code_id())) == 1);
}

TEST_CASE("the console: login sets an HttpOnly SameSite cookie; reads are the brand's own; logout ends it") {
  LogCapture capture;
  TestServer server([&](app::AppOptions& o) { o.log = &capture.log; });
  Web w(server);
  TestClient auditor = w.server.Connect("alpha", youma::v1::ROLE_AUDITOR);
  CHECK(w.http.Get("/console/api/me")->status == 401);
  auto login = [&](const TestClient& who) {
    return w.http.Post("/console/login", Json{{"token", who.token}}.dump(), "application/json");
  };
  CHECK(login(w.scanner)->status == 403);
  TestClient bogus;
  bogus.token = "ym_0000000000000000_nope";
  CHECK(login(bogus)->status == 401);
  CHECK(w.http.Post("/console/login", "{}", "application/json")->status == 400);
  auto ok = login(auditor);
  REQUIRE(ok);
  CHECK(ok->status == 200);
  CHECK(Json::parse(ok->body)["brand"] == "alpha");
  const std::string cookie = ok->get_header_value("Set-Cookie");
  CHECK(cookie.find("youma_session=") == 0);
  CHECK(cookie.find("HttpOnly") != std::string::npos);
  CHECK(cookie.find("SameSite=Strict") != std::string::npos);
  CHECK(cookie.find(auditor.token) == std::string::npos);
  // Logins are logged, refused ones with why, and never with a token's secret.
  const std::vector<nlohmann::json> refused = capture.Events("console_login_refused");
  REQUIRE(refused.size() == 3);
  CHECK(refused[0]["code"] == "PERMISSION_DENIED");
  CHECK(refused[1]["code"] == "UNAUTHENTICATED");
  CHECK(refused[2]["code"] == "INVALID_ARGUMENT");
  CHECK(refused[0]["client_ip"] == "127.0.0.1");
  const std::vector<nlohmann::json> logins = capture.Events("console_login");
  REQUIRE(logins.size() == 1);
  CHECK(logins[0]["brand"] == "alpha");
  CHECK(logins[0]["role"] == "auditor");
  CHECK(logins[0]["token_id"] == auditor.token.substr(3, 16));
  {
    std::lock_guard<std::mutex> lock(capture.mu);
    for (const nlohmann::json& line : capture.lines) {
      CHECK(line.dump().find(auditor.token.substr(20)) == std::string::npos);
      CHECK(line.dump().find(w.scanner.token.substr(20)) == std::string::npos);
    }
  }
  const std::string session = cookie.substr(0, cookie.find(';'));
  const httplib::Headers with{{"Cookie", session}};

  const auto campaign = Launch(w.admin, Spec(50'000, 100, 0));
  auto campaigns = w.http.Get("/console/api/campaigns", with);
  REQUIRE(campaigns);
  CHECK(campaigns->status == 200);
  bool found = false;
  const Json listed = Json::parse(campaigns->body)["campaigns"];
  for (const auto& c : listed) {
    CHECK(c["brand"] == "alpha");
    if (c["campaignId"] == std::to_string(campaign.campaign_id())) {
      found = true;
      CHECK(c["leftFen"] == "50000");
      CHECK(c["payouts"]["pending"] == "0");
    }
  }
  CHECK(found);
  MakeBatch(w.factory, youma::v1::BATCH_KIND_BOTTLE, 7);
  auto batches = w.http.Get("/console/api/batches", with);
  CHECK(batches->status == 200);
  Json b;
  const Json all_batches = Json::parse(batches->body)["batches"];
  for (const Json& one : all_batches) {
    if (b.is_null() || std::stoull(one["batchId"].get<std::string>()) > std::stoull(b["batchId"].get<std::string>())) {
      b = one;
    }
  }
  CHECK(b["codeCount"] == "7");
  CHECK(b["states"]["active"] == "7");
  CHECK(b["productName"] == "test product");
  auto csv = w.http.Get("/console/api/diversion.csv", with);
  CHECK(csv->status == 200);
  CHECK(csv->get_header_value("Content-Type").find("text/csv") == 0);
  CHECK(csv->body.find("case_code_id,rule,dealer_id") == 0);
  CHECK(w.http.Get("/console/api/regions", with)->status == 200);
  CHECK(w.http.Get("/console/api/diversion?from=yesterday", with)->status == 400);
  CHECK(w.http.Get("/console/api/nothing", with)->status == 404);

  // Beta's auditor sees none of alpha's campaigns.
  TestClient beta = w.server.Connect("beta", youma::v1::ROLE_AUDITOR);
  auto beta_login = login(beta);
  const std::string beta_cookie = beta_login->get_header_value("Set-Cookie");
  auto theirs = w.http.Get("/console/api/campaigns", {{"Cookie", beta_cookie.substr(0, beta_cookie.find(';'))}});
  const Json beta_campaigns = Json::parse(theirs->body)["campaigns"];
  for (const auto& c : beta_campaigns) CHECK(c["brand"] == "beta");

  auto out = w.http.Post("/console/logout", with, "", "application/json");
  CHECK(out->status == 204);
  CHECK(w.http.Get("/console/api/me", with)->status == 401);
  // Sessions are kept in the database (any server behind the balancer knows
  // them), by hash only; revoking the token ends its sessions at once.
  auto again = login(auditor);
  const std::string cookie2 = again->get_header_value("Set-Cookie");
  const httplib::Headers with2{{"Cookie", cookie2.substr(0, cookie2.find(';'))}};
  CHECK(w.http.Get("/console/api/me", with2)->status == 200);
  CHECK(w.server.QueryInt(absl::StrCat("SELECT COUNT(*) FROM console_sessions WHERE session_hash = UNHEX(SHA2('",
                                       cookie2.substr(14, 64), "', 256))")) == 1);
  REQUIRE_OK(w.server.app().tokens().Revoke(auditor.token.substr(3, 16)).status());
  CHECK(w.http.Get("/console/api/me", with2)->status == 401);
  End(w.admin, campaign.campaign_id());
}

TEST_CASE("the console lists a brand's batches a page at a time, newest first, named by any of its products") {
  TestServer server;
  Web w(server);
  // Brand beta on a server of its own: 51 products (one page of ListProducts
  // is 50) and 21 batches, the newest of the product that sorts last.
  const std::string brand = "beta";
  TestClient factory = server.Connect(brand, youma::v1::ROLE_FACTORY);
  std::vector<std::string> gtins;
  for (int i = 0; i < 51; ++i) {
    const std::string digits = absl::StrCat("0690123460", absl::Dec(i, absl::kZeroPad3));
    gtins.push_back(digits + codegen::GtinCheckDigit(digits));
    server.EnsureProduct(brand, gtins.back(), absl::StrCat("product ", i));
  }
  std::vector<uint64_t> ids;  // oldest first
  for (int i = 0; i < 21; ++i) {
    youma::v1::CreateBatchRequest req;
    req.set_gtin(i == 20 ? gtins[50] : gtins[i]);
    req.set_kind(youma::v1::BATCH_KIND_BOTTLE);
    req.set_quantity(3 + i);
    req.set_request_id(absl::StrCat("pages-", i));
    youma::v1::Batch b;
    const grpc::Status st = factory.Call(&IssuerStub::CreateBatch, req, &b);
    INFO(st.error_message());
    REQUIRE(st.ok());
    ids.push_back(b.batch_id());
  }
  TestClient auditor = server.Connect(brand, youma::v1::ROLE_AUDITOR);
  auto login = w.http.Post("/console/login", Json{{"token", auditor.token}}.dump(), "application/json");
  REQUIRE(login);
  REQUIRE(login->status == 200);
  const std::string cookie = login->get_header_value("Set-Cookie");
  const httplib::Headers with{{"Cookie", cookie.substr(0, cookie.find(';'))}};
  auto read = [&](const std::string& query, int want_status = 200) {
    auto r = w.http.Get(("/console/api/batches" + query).c_str(), with);
    REQUIRE(r);
    INFO(query, ": ", r->body);
    CHECK(r->status == want_status);
    return Json::parse(r->body);
  };
  auto ids_of = [](const Json& page) {
    std::vector<uint64_t> out;
    for (const Json& b : page["batches"]) out.push_back(std::stoull(b["batchId"].get<std::string>()));
    return out;
  };

  // 20 by default, the newest first; the newest is named though its product
  // is the 51st.
  const Json first = read("");
  REQUIRE(first["batches"].size() == 20);
  CHECK(ids_of(first).front() == ids[20]);
  CHECK(ids_of(first).back() == ids[1]);
  CHECK(first["batches"][0]["productName"] == "product 50");
  CHECK(first["batches"][0]["codeCount"] == "23");
  CHECK(first["batches"][0]["states"]["active"] == "23");
  CHECK(first["batches"][1]["productName"] == "product 19");
  REQUIRE(first.contains("nextPageToken"));
  const Json rest = read("?page_token=" + first["nextPageToken"].get<std::string>());
  CHECK(ids_of(rest) == std::vector<uint64_t>{ids[0]});
  CHECK(rest["batches"][0]["productName"] == "product 0");
  CHECK(rest["batches"][0]["states"]["active"] == "3");
  CHECK_FALSE(rest.contains("nextPageToken"));
  // `limit` sets the page's size.
  const Json two = read("?limit=2");
  CHECK(ids_of(two) == std::vector<uint64_t>{ids[20], ids[19]});
  const Json next_two = read("?limit=2&page_token=" + two["nextPageToken"].get<std::string>());
  CHECK(ids_of(next_two) == std::vector<uint64_t>{ids[18], ids[17]});
  // Bad paging says what to fix.
  CHECK(read("?limit=101", 400)["error"]["message"] == "limit='101' is not a number from 1 to 100");
  CHECK(read("?limit=ten", 400)["error"]["code"] == "INVALID_ARGUMENT");
  CHECK(read("?page_token=yesterday", 400)["error"]["message"] == "page_token is not one this server returned");
  // Another brand's console sees none of them.
  TestClient other = server.Connect("alpha", youma::v1::ROLE_AUDITOR);
  auto theirs = w.http.Post("/console/login", Json{{"token", other.token}}.dump(), "application/json");
  const std::string other_cookie = theirs->get_header_value("Set-Cookie");
  auto other_read = w.http.Get("/console/api/batches?limit=100",
                               {{"Cookie", other_cookie.substr(0, other_cookie.find(';'))}});
  for (const Json& b : Json::parse(other_read->body)["batches"]) CHECK(b["brand"] == "alpha");
}

TEST_CASE("the console counts a batch's code states from thousands of range changes, as scans judge each code") {
  // A batch of 100,000 codes from id 5,000, activated on shipment run by run:
  // 20,000 activations, a few of them scheduled, then freezes, an unfreeze
  // and a revoke over them.
  const uint64_t first = 5'000, end = 105'000;
  const absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  std::vector<scan::RangeChangeRow> changes;
  for (uint64_t k = 0; k < 20'000; ++k) {
    const uint64_t from = first + 5 * k;
    changes.push_back({youma::v1::RANGE_ACTION_ACTIVATE, from, from + 2,
                       k % 1'000 == 7 ? now + absl::Hours(1) : now - absl::Hours(1)});
  }
  changes.push_back({youma::v1::RANGE_ACTION_FREEZE, 20'000, 30'000, now});
  changes.push_back({youma::v1::RANGE_ACTION_UNFREEZE, 25'000, 26'000, now});
  changes.push_back({youma::v1::RANGE_ACTION_REVOKE, 60'001, 60'010, now});
  changes.push_back({youma::v1::RANGE_ACTION_ACTIVATE, 2'000, 6'000, now});  // from before the batch's start
  const web::CodeStates got = web::CountCodeStates(changes, first, end, now);
  // Code by code, as a scan now would be judged.
  web::CodeStates want;
  std::vector<scan::RangeChangeRow> holding;
  for (uint64_t code = first; code < end; ++code) {
    holding.clear();
    for (const auto& c : changes) {
      if (c.first <= code && code <= c.last) holding.push_back(c);
    }
    switch (scan::LifecycleVerdict(holding, code, now)) {
      case youma::v1::SCAN_VERDICT_GENUINE: ++want.active; break;
      case youma::v1::SCAN_VERDICT_FROZEN: ++want.frozen; break;
      case youma::v1::SCAN_VERDICT_REVOKED: ++want.revoked; break;
      default: ++want.not_active; break;
    }
  }
  CHECK(got.active == want.active);
  CHECK(got.not_active == want.not_active);
  CHECK(got.frozen == want.frozen);
  CHECK(got.revoked == want.revoked);
  CHECK(want.active + want.not_active + want.frozen + want.revoked == 100'000);
  CHECK(want.frozen > 0);
  CHECK(want.revoked > 0);
}

TEST_CASE("names users control cannot inject script into the scan page or formulas into CSV") {
  Web w;
  const std::string gtin = "06901234500042";
  w.server.EnsureProduct("alpha", gtin, "<script>alert('x')</script>\" onmouseover=\"alert(1)");
  const auto codes = w.CodesOf(gtin, youma::v1::BATCH_KIND_BOTTLE, 1);
  auto page = w.Page(w.Path(codes[0]), Sid());
  REQUIRE(page);
  CHECK(page->body.find("<script>alert") == std::string::npos);
  CHECK(page->body.find("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&quot; onmouseover=&quot;alert(1)") !=
        std::string::npos);
  CHECK(page->get_header_value("Content-Security-Policy").find("default-src 'none'") == 0);

  // A store named like a spreadsheet formula stays text in the leaderboard CSV.
  youma::v1::RegisterStoreRequest store;
  store.set_owner_user_id("formula-" + Sid());
  store.set_name("=HYPERLINK(\"http://evil\",\"win\")");
  store.set_region("440106");
  store.set_phone("13800000002");
  store.set_device_id("formula-phone-" + Sid());
  youma::v1::RegisterStoreResponse reg;
  REQUIRE(w.scanner.Call(&StoreStub::RegisterStore, store, &reg).ok());
  const auto cases = w.Codes(youma::v1::BATCH_KIND_CASE, 1);
  MustScan(w.scanner, Req(cases[0].url(), youma::v1::SCAN_ROLE_STORE_OWNER, store.owner_user_id()));
  TestClient auditor = w.server.Connect("alpha", youma::v1::ROLE_AUDITOR);
  auto login = w.http.Post("/console/login", Json{{"token", auditor.token}}.dump(), "application/json");
  const std::string cookie = login->get_header_value("Set-Cookie");
  auto csv = w.http.Get("/console/api/leaderboard.csv", {{"Cookie", cookie.substr(0, cookie.find(';'))}});
  REQUIRE(csv);
  CHECK(csv->body.find("\"'=HYPERLINK(\"\"http://evil\"\",\"\"win\"\")\"") != std::string::npos);
  // The console's leaderboard names each store's region.
  auto board = w.http.Get("/console/api/leaderboard", {{"Cookie", cookie.substr(0, cookie.find(';'))}});
  REQUIRE(board);
  REQUIRE(board->status == 200);
  INFO(board->body);
  const Json entries = Json::parse(board->body)["entries"];
  bool named = false;
  for (const auto& e : entries) {
    if (e["name"] != store.name()) continue;
    CHECK(e["region"] == "440106");
    CHECK(e["regionName"] == "广东省广州市天河区");
    named = true;
  }
  CHECK(named);
}

}  // namespace
}  // namespace youma::testing
