// ScanService and the rules core end to end: a real MariaDB, a real server,
// real gRPC clients.
#include <sched.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "services/app/database_gauges.h"
#include "services/common/event_log.h"
#include "services/common/time_util.h"
#include "services/rules/campaign.h"
#include "services/rules/rules_engine.h"
#include "tests/harness.h"
#include "tests/scan_fixture.h"

namespace youma::testing {
namespace {

TEST_CASE("a genuine scan is recorded; later scans show the history; a retry gets the first answer") {
  Fixture f;
  const auto codes = f.Codes(youma::v1::BATCH_KIND_BOTTLE, 3);
  const ScanRequest first = Req(codes[0].url());
  const ScanAnswer a1 = MustScan(f.scanner, first);
  CHECK(a1.verdict() == youma::v1::SCAN_VERDICT_GENUINE);
  CHECK(a1.code_id() == codes[0].code_id());
  CHECK(a1.gtin() == kGtin);
  CHECK(a1.product_name() == "test product");
  CHECK(a1.history().first_scan());
  CHECK(a1.history().scan_count() == 1);
  CHECK(a1.history().first_region() == "440106");
  CHECK(a1.message().find("First scan") != std::string::npos);

  ScanRequest second = Req(codes[0].url(), youma::v1::SCAN_ROLE_CONSUMER, "openid-2", "310101");
  const ScanAnswer a2 = MustScan(f.scanner, second);
  CHECK(a2.history().scan_count() == 2);
  CHECK_FALSE(a2.history().first_scan());
  CHECK(a2.history().first_region() == "440106");
  CHECK(a2.history().first_scan_time().seconds() == a1.history().first_scan_time().seconds());
  CHECK(a2.message().find("Scanned 2 times") != std::string::npos);

  // The same client scan id: the first answer, not counted again. Its group's
  // insert met the recorded id and ran again to look it up (a metric says so).
  auto lookups = [&] {
    return CounterValue(f.server, "youma_scan_group_retries_total", "reason", "retried_scan_id");
  };
  const double lookups_before = lookups();
  const ScanAnswer again = MustScan(f.scanner, first);
  CHECK(again.SerializeAsString() == a1.SerializeAsString());
  CHECK(lookups() - lookups_before >= 1);
  CHECK(f.server.QueryInt(absl::StrCat("SELECT scan_count FROM code_scans WHERE code_id = ",
                                       codes[0].code_id())) == 2);
  CHECK(f.server.QueryInt(absl::StrCat("SELECT COUNT(*) FROM scans WHERE code_id = ",
                                       codes[0].code_id())) == 2);
  // A bare token and lower case work as well as the URL.
  std::string token = codes[1].url().substr(codes[1].url().rfind('/') + 1);
  for (char& ch : token) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  CHECK(MustScan(f.scanner, Req(token)).verdict() == youma::v1::SCAN_VERDICT_GENUINE);
}

TEST_CASE("one client scan id sent several times at once is recorded once; every copy gets the first answer") {
  // One writer, stalled: the copies queue up meanwhile and make one group.
  TestServer server([&](app::AppOptions& o) { o.scan.writers = 1; });
  Fixture f(server);
  const auto codes = f.Codes(youma::v1::BATCH_KIND_BOTTLE, 3);
  auto splits = [&] { return CounterValue(server, "youma_scan_group_retries_total", "reason", "split"); };
  const double splits_before = splits();
  const ScanRequest repeated = Req(codes[1].url());
  std::vector<std::future<ScanAnswer>> copies;
  {
    StalledWriter stall(f, codes[0]);
    REQUIRE(stall.WriterWaits());
    for (int i = 0; i < 5; ++i) {
      copies.push_back(std::async(std::launch::async, [&] { return MustScan(f.scanner, repeated); }));
    }
    copies.push_back(std::async(std::launch::async, [&] { return MustScan(f.scanner, Req(codes[2].url())); }));
    REQUIRE(WaitFor([&] { return GaugeValue(server, "youma_scans_queued") == 6; }));
  }
  std::vector<std::string> answers;
  for (int i = 0; i < 5; ++i) answers.push_back(copies[i].get().SerializeAsString());
  CHECK(copies[5].get().history().scan_count() == 1);
  for (const std::string& a : answers) CHECK(a == answers.front());
  ScanAnswer first;
  REQUIRE(first.ParseFromString(answers.front()));
  CHECK(first.client_scan_id() == repeated.client_scan_id());
  CHECK(first.verdict() == youma::v1::SCAN_VERDICT_GENUINE);
  CHECK(first.history().scan_count() == 1);
  CHECK(server.QueryInt(absl::StrCat("SELECT COUNT(*) FROM scans WHERE code_id = ", codes[1].code_id())) == 1);
  CHECK(server.QueryInt(absl::StrCat("SELECT scan_count FROM code_scans WHERE code_id = ", codes[1].code_id())) ==
        1);
  // The copies were answered from their first in the group, not found by the
  // database refusing the group's insert and halving the group.
  CHECK(splits() == splits_before);
  // A retry later finds the recorded answer.
  CHECK(MustScan(f.scanner, repeated).SerializeAsString() == answers.front());
}

TEST_CASE("scan fields with quotes, backslashes and non-ASCII text are recorded exactly") {
  // The scan log is written as multi-row text statements: every field is
  // escaped, and the stored answer is the exact bytes.
  Fixture f;
  const auto codes = f.Codes(youma::v1::BATCH_KIND_BOTTLE, 1);
  ScanRequest r = Req(codes[0].url(), youma::v1::SCAN_ROLE_CONSUMER, "o'pen\\id\"; DROP TABLE scans; --", "440106");
  r.set_client_scan_id("scan 'one' \\ 扫码");
  r.set_device_id("设备\\0'");
  r.set_client_ip("::1");
  r.set_latitude(23.125178);
  r.set_longitude(113.280637);
  const ScanAnswer a = MustScan(f.scanner, r);
  CHECK(a.verdict() == youma::v1::SCAN_VERDICT_GENUINE);
  auto column = [&](const std::string& expr) {
    return f.server.QueryString(absl::StrCat("SELECT ", expr, " FROM scans WHERE code_id = ", codes[0].code_id()));
  };
  CHECK(column("user_id") == r.user_id());
  CHECK(column("client_scan_id") == r.client_scan_id());
  CHECK(column("device_id") == r.device_id());
  CHECK(column("CONCAT(latitude, ',', longitude)") == "23.125178,113.280637");
  CHECK(column("answer") == a.SerializeAsString());
  // The retry finds it by the same id and gets the same answer.
  CHECK(MustScan(f.scanner, r).SerializeAsString() == a.SerializeAsString());
  CHECK(column("COUNT(*)") == "1");
}

TEST_CASE("a client scan id ending in a space is refused: the database would take it for the id without") {
  // MariaDB compares VARCHAR keys ignoring trailing spaces, so "id " would hit
  // "id"'s row while the pipeline looked for "id " and the whole group failed.
  Fixture f;
  const auto codes = f.Codes(youma::v1::BATCH_KIND_BOTTLE, 2);
  ScanRequest first = Req(codes[0].url());
  MustScan(f.scanner, first);
  ScanRequest spaced = Req(codes[0].url());
  spaced.set_client_scan_id(first.client_scan_id() + " ");
  const std::vector<ScanAnswer> answers = StreamScanAll(f.scanner, {spaced, Req(codes[1].url())});
  REQUIRE(answers.size() == 2);
  for (const ScanAnswer& a : answers) {
    if (a.client_scan_id() == spaced.client_scan_id()) {
      CHECK(a.error_code() == grpc::INVALID_ARGUMENT);
      CHECK(a.error_message().find("space") != std::string::npos);
    } else {
      CHECK(a.verdict() == youma::v1::SCAN_VERDICT_GENUINE);
    }
  }
  CHECK(f.server.QueryInt(absl::StrCat("SELECT COUNT(*) FROM scans WHERE code_id = ", codes[0].code_id())) == 1);
  CHECK(f.server.QueryInt(absl::StrCat("SELECT COUNT(*) FROM scans WHERE code_id = ", codes[1].code_id())) == 1);
}

TEST_CASE("a scan the database refuses fails alone; the scans grouped with it are recorded") {
  // A trigger makes MariaDB refuse one scan's row, as it would a value it
  // cannot store: that scan's group fails, and the pipeline splits it.
  LogCapture log;
  TestServer server([&](app::AppOptions& o) { o.log = &log.log; });
  Fixture f(server);
  const auto codes = f.Codes(youma::v1::BATCH_KIND_BOTTLE, 12);
  const std::string poison = Unique("poison");
  auto execute = [&](const std::string& sql) {
    REQUIRE_OK(f.server.app().pool().WithConnection([&](sql::Connection& conn) -> absl::Status {
      storage::Execute(conn, sql);
      return absl::OkStatus();
    }));
  };
  execute(absl::StrCat("CREATE TRIGGER test_refuse_scan BEFORE INSERT ON scans FOR EACH ROW BEGIN "
                       "IF NEW.client_scan_id = '", poison, "' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = "
                       "'refused by the test trigger'; END IF; END"));
  struct DropTrigger {
    std::function<void()> drop;
    ~DropTrigger() { drop(); }
  } guard{[&] {  // no REQUIRE in a destructor: the other tests' scans would fail anyway
    (void)f.server.app().pool().WithConnection([](sql::Connection& conn) -> absl::Status {
      storage::Execute(conn, "DROP TRIGGER IF EXISTS test_refuse_scan");
      return absl::OkStatus();
    });
  }};
  std::vector<ScanRequest> requests;
  for (const auto& code : codes) requests.push_back(Req(code.url()));
  requests[5].set_client_scan_id(poison);
  int recorded = 0;
  for (const ScanAnswer& a : StreamScanAll(f.scanner, requests)) {
    if (a.client_scan_id() == poison) {
      CHECK(a.error_code() == grpc::INTERNAL);
      CHECK(a.error_message().find("refused by the test trigger") != std::string::npos);
    } else {
      CHECK(a.error_code() == 0);
      recorded += a.verdict() == youma::v1::SCAN_VERDICT_GENUINE;
    }
  }
  CHECK(recorded == 11);
  std::string ids;
  for (const auto& code : codes) absl::StrAppend(&ids, ids.empty() ? "" : ",", code.code_id());
  CHECK(f.server.QueryInt(absl::StrCat("SELECT COUNT(*) FROM scans WHERE code_id IN (", ids, ")")) == 11);
  CHECK(f.server.QueryInt(absl::StrCat("SELECT COUNT(*) FROM code_scans WHERE code_id IN (", ids, ")")) == 11);
  CHECK(f.server.QueryInt(absl::StrCat("SELECT COUNT(*) FROM scans WHERE client_scan_id = '", poison, "'")) == 0);
  // The operator's log names the refused scan and why, once.
  CHECK(log.Events("scan_group_failed").empty());
  const std::vector<nlohmann::json> refused = log.Events("scan_refused");
  REQUIRE(refused.size() == 1);
  const nlohmann::json& j = refused[0];
  CHECK(j["client_scan_id"] == poison);
  CHECK(j["code"] == "INTERNAL");
  CHECK(j["message"].get<std::string>().find("refused by the test trigger") != std::string::npos);
}

TEST_CASE("forged codes are answered COUNTERFEIT from memory: no rows, only counts") {
  Fixture f;
  const auto codes = f.Codes(youma::v1::BATCH_KIND_BOTTLE, 1);
  const int64_t scans_before = f.server.QueryInt("SELECT COUNT(*) FROM scans");
  const int64_t codes_before = f.server.QueryInt("SELECT COUNT(*) FROM code_scans");
  for (int i = 0; i < 500; ++i) {
    std::string forged = codes[0].url();
    const size_t pos = forged.size() - 1 - (i % 10);
    forged[pos] = forged[pos] == 'A' ? 'B' : 'A';
    const ScanAnswer a = MustScan(f.scanner, Req(forged, youma::v1::SCAN_ROLE_CONSUMER, "u", "350102"));
    REQUIRE(a.verdict() == youma::v1::SCAN_VERDICT_COUNTERFEIT);
    REQUIRE(a.code_id() == 0);
    REQUIRE(a.rewards().empty());
  }
  CHECK(f.server.QueryInt("SELECT COUNT(*) FROM scans") == scans_before);
  CHECK(f.server.QueryInt("SELECT COUNT(*) FROM code_scans") == codes_before);
  // Malformed input is a bad request, not a verdict.
  ScanAnswer a;
  const grpc::Status st = f.scanner.Call(&ScanStub::Scan, Req("HTTPS://YM.EXAMPLE.CN/NOPE"), &a);
  CHECK(st.error_code() == grpc::INVALID_ARGUMENT);
  CHECK(st.error_message().find("has 4 characters") != std::string::npos);
}

TEST_CASE("concurrent unary scans each get their own whole answer, with nothing left from an earlier call") {
  // A unary Scan's request and answer are reused from call to call: a forged
  // scan after a genuine one must carry no batch, product or history, and a
  // refused one (some with a user id far too long, whose messages are not
  // kept for the next call) no answer at all.
  Fixture f;
  constexpr int kThreads = 8, kPerThread = 30;
  const auto codes = f.Codes(youma::v1::BATCH_KIND_BOTTLE, kThreads * kPerThread);
  for (int round = 1; round <= 2; ++round) {
    std::vector<std::thread> threads;
    std::atomic<int> genuine{0}, forged{0}, refused{0};
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          const auto& code = codes[t * kPerThread + i];
          const ScanRequest r = Req(code.url(), youma::v1::SCAN_ROLE_CONSUMER, Unique("u"));
          const ScanAnswer a = MustScan(f.scanner, r);
          CHECK(a.client_scan_id() == r.client_scan_id());
          CHECK(a.code_id() == code.code_id());
          CHECK(a.verdict() == youma::v1::SCAN_VERDICT_GENUINE);
          CHECK(a.gtin() == kGtin);
          CHECK(a.history().scan_count() == static_cast<uint32_t>(round));
          ++genuine;

          std::string bad = code.url();
          bad[bad.size() - 2] = bad[bad.size() - 2] == 'A' ? 'B' : 'A';
          const ScanRequest fr = Req(bad);
          const ScanAnswer fa = MustScan(f.scanner, fr);
          CHECK(fa.client_scan_id() == fr.client_scan_id());
          CHECK(fa.verdict() == youma::v1::SCAN_VERDICT_COUNTERFEIT);
          CHECK(fa.code_id() == 0);
          CHECK(fa.batch_id() == 0);
          CHECK(fa.gtin().empty());
          CHECK(fa.product_name().empty());
          CHECK_FALSE(fa.has_history());
          ++forged;

          ScanRequest bad_request = r;
          if (i % 5 == 0) {
            bad_request.set_user_id(std::string(64 * 1024, 'u'));
          } else {
            bad_request.clear_client_scan_id();
          }
          ScanAnswer none;
          const grpc::Status st = f.scanner.Call(&ScanStub::Scan, bad_request, &none);
          CHECK(st.error_code() == grpc::INVALID_ARGUMENT);
          CHECK(none.ByteSizeLong() == 0);
          ++refused;
        }
      });
    }
    for (auto& th : threads) th.join();
    CHECK(genuine == kThreads * kPerThread);
    CHECK(forged == kThreads * kPerThread);
    CHECK(refused == kThreads * kPerThread);
  }
  CHECK(f.server.QueryInt(absl::StrCat("SELECT COUNT(*) FROM scans WHERE code_id BETWEEN ", codes.front().code_id(),
                                       " AND ", codes.back().code_id())) == 2 * kThreads * kPerThread);
}

TEST_CASE("counterfeit scans are counted per brand, region and hour") {
  TestServer server([](app::AppOptions& o) { o.scan.counterfeit_flush = absl::Milliseconds(100); });
  server.EnsureProduct("alpha");
  TestClient scanner = server.Connect("alpha", youma::v1::ROLE_SCANNER);
  for (int i = 0; i < 300; ++i) {
    MustScan(scanner, Req("HTTPS://YM.EXAMPLE.CN/CAAAAAAAAAAAAAAAAAAAAAAAAAAA", youma::v1::SCAN_ROLE_CONSUMER,
                          "u", i % 3 == 0 ? "350102" : "440106"));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  CHECK(server.QueryInt("SELECT SUM(scans) FROM counterfeit_counts WHERE brand = 'alpha'") == 300);
  CHECK(server.QueryInt("SELECT SUM(scans) FROM counterfeit_counts WHERE region = '350102'") == 100);
  CHECK(server.QueryInt("SELECT COUNT(*) FROM scans") == 0);
}

TEST_CASE("bad scan requests get INVALID_ARGUMENT; other tokens are refused") {
  Fixture f;
  const auto codes = f.Codes(youma::v1::BATCH_KIND_BOTTLE, 1);
  auto code_of = [&](ScanRequest r) {
    ScanAnswer a;
    return f.scanner.Call(&ScanStub::Scan, r, &a).error_code();
  };
  ScanRequest r = Req(codes[0].url());
  r.clear_client_scan_id();
  CHECK(code_of(r) == grpc::INVALID_ARGUMENT);
  r = Req(codes[0].url());
  r.set_role(youma::v1::SCAN_ROLE_UNSPECIFIED);
  CHECK(code_of(r) == grpc::INVALID_ARGUMENT);
  r = Req(codes[0].url(), youma::v1::SCAN_ROLE_CONSUMER, "u", "4401");
  CHECK(code_of(r) == grpc::INVALID_ARGUMENT);
  r = Req(codes[0].url());
  r.set_region_source(youma::v1::REGION_SOURCE_UNSPECIFIED);
  CHECK(code_of(r) == grpc::INVALID_ARGUMENT);
  r = Req(codes[0].url());
  r.clear_user_id();
  CHECK(code_of(r) == grpc::INVALID_ARGUMENT);
  r = Req(codes[0].url());
  r.set_latitude(91);
  r.set_longitude(113.3);
  CHECK(code_of(r) == grpc::INVALID_ARGUMENT);
  r.set_latitude(std::nan(""));
  CHECK(code_of(r) == grpc::INVALID_ARGUMENT);
  // Tokens: a factory token may not scan; another brand's scanner sees a forgery.
  ScanAnswer a;
  CHECK(f.factory.Call(&ScanStub::Scan, Req(codes[0].url()), &a).error_code() == grpc::PERMISSION_DENIED);
  TestClient beta = f.server.Connect("beta", youma::v1::ROLE_SCANNER);
  ScanRequest cross = Req(codes[0].url());
  CHECK(beta.Call(&ScanStub::Scan, cross, &a).ok());
  CHECK(a.verdict() == youma::v1::SCAN_VERDICT_COUNTERFEIT);
  cross.set_brand("alpha");
  CHECK(beta.Call(&ScanStub::Scan, cross, &a).error_code() == grpc::PERMISSION_DENIED);
  CHECK(f.server.QueryInt(absl::StrCat("SELECT COUNT(*) FROM scans WHERE code_id = ", codes[0].code_id())) == 0);
}

TEST_CASE("a scan's own time: up to 5 minutes ahead and 30 days back; anything else is refused, not recorded") {
  Fixture f;
  const absl::Time now = absl::Now();
  const auto codes = f.Codes(youma::v1::BATCH_KIND_BOTTLE, 2, 0, youma::v1::ACTIVATION_POLICY_AT_TIME,
                             now - absl::Hours(24 * 40));
  auto refused = [&](google::protobuf::Timestamp t) {
    ScanRequest r = Req(codes[0].url());
    *r.mutable_scan_time() = t;
    ScanAnswer a;
    const grpc::Status st = f.scanner.Call(&ScanStub::Scan, r, &a);
    CHECK(st.error_code() == grpc::INVALID_ARGUMENT);
    return st.error_message();
  };
  CHECK(refused(common::ToProtoTime(now + absl::Hours(1))).find("ahead of the server's clock") != std::string::npos);
  CHECK(refused(common::ToProtoTime(now - absl::Hours(24 * 31))).find("more than 30 days ago") != std::string::npos);
  google::protobuf::Timestamp far;
  far.set_seconds(253402300800);  // 10000-01-01: no DATETIME holds it
  CHECK(refused(far).find("9999-12-31") != std::string::npos);
  google::protobuf::Timestamp bad_nanos = common::ToProtoTime(now);
  bad_nanos.set_nanos(-1);
  CHECK(refused(bad_nanos).find("nanos") != std::string::npos);
  // On a stream, a refused scan answers alone; the scans beside it are recorded.
  std::vector<ScanRequest> stream = {Req(codes[1].url()), Req(codes[1].url()), Req(codes[1].url())};
  *stream[1].mutable_scan_time() = far;
  std::map<std::string, ScanAnswer> by_id;
  for (const ScanAnswer& a : StreamScanAll(f.scanner, stream)) by_id[a.client_scan_id()] = a;
  CHECK(by_id[stream[0].client_scan_id()].verdict() == youma::v1::SCAN_VERDICT_GENUINE);
  CHECK(by_id[stream[1].client_scan_id()].error_code() == grpc::INVALID_ARGUMENT);
  CHECK(by_id[stream[2].client_scan_id()].verdict() == youma::v1::SCAN_VERDICT_GENUINE);
  CHECK(f.server.QueryInt(absl::StrCat("SELECT COUNT(*) FROM scans WHERE code_id = ", codes[1].code_id())) == 2);
  // Within bounds: recorded with its own time, and the history shows it.
  ScanRequest late = Req(codes[0].url());
  const absl::Time two_days_ago = absl::FromUnixSeconds(absl::ToUnixSeconds(now - absl::Hours(48)));
  *late.mutable_scan_time() = common::ToProtoTime(two_days_ago);
  const ScanAnswer a = MustScan(f.scanner, late);
  CHECK(a.verdict() == youma::v1::SCAN_VERDICT_GENUINE);
  CHECK(a.history().first_scan_time().seconds() == absl::ToUnixSeconds(two_days_ago));
  CHECK(f.server.QueryInt(absl::StrCat("SELECT COUNT(*) FROM scans WHERE code_id = ", codes[0].code_id(),
                                       " AND scan_time = '", common::SqlTime(two_days_ago), "'")) == 1);
  CHECK(f.server.QueryInt(absl::StrCat("SELECT COUNT(*) FROM scans WHERE code_id = ", codes[0].code_id())) == 1);
}

TEST_CASE("scan groups committed later than the scan-log export's hold-back are counted and logged (a slow database)") {
  auto scan_three = [](Fixture& f) {
    const auto codes = f.Codes(youma::v1::BATCH_KIND_BOTTLE, 3);
    for (const auto& c : codes) CHECK(MustScan(f.scanner, Req(c.url())).verdict() == youma::v1::SCAN_VERDICT_GENUINE);
  };
  {
    // Within the default 5 s: none.
    Fixture f;
    const double before = CounterValue(f.server, "youma_scan_slow_commits_total");
    const double groups = CounterValue(f.server, "youma_scan_groups_total");
    scan_three(f);
    // A retry alone in its group writes no scan: nothing to be slow about.
    const auto codes = f.Codes(youma::v1::BATCH_KIND_BOTTLE, 1);
    const ScanRequest once = Req(codes[0].url());
    CHECK(MustScan(f.scanner, once).history().scan_count() == 1);
    CHECK(MustScan(f.scanner, once).history().scan_count() == 1);
    CHECK(CounterValue(f.server, "youma_scan_groups_total") >= groups + 4);
    CHECK(CounterValue(f.server, "youma_scan_slow_commits_total") == before);
  }
  // A hold-back no commit can meet: each group, one scan each here, is
  // counted and logged with its record time.
  LogCapture log;
  TestServer server([&](app::AppOptions& o) {
    o.audit.scan_log_hold_back = absl::Nanoseconds(1);
    o.log = &log.log;
  });
  Fixture f(server);
  const absl::Time start = absl::Now();
  scan_three(f);
  CHECK(CounterValue(server, "youma_scan_groups_total") == 3);
  CHECK(CounterValue(server, "youma_scan_slow_commits_total") == 3);
  const std::vector<nlohmann::json> logged = log.Events("scan_commit_slow");
  REQUIRE(logged.size() == 3);
  for (const nlohmann::json& j : logged) {
    CHECK(j["level"] == "warn");
    CHECK(j["event"] == "scan_commit_slow");
    CHECK(j["scans"] == 1);
    absl::Time recorded;
    std::string error;
    REQUIRE(absl::ParseTime(absl::RFC3339_full, j["record_time"].get<std::string>(), &recorded, &error));
    CHECK(recorded >= start);
    CHECK(recorded <= absl::Now());
    CHECK(j["hold_back_seconds"].get<double>() < 1e-6);
  }
}

TEST_CASE("a scan group waits at the scan-log gate while an export holds it, and stamps its record time after") {
  Fixture f;
  const auto codes = f.Codes(youma::v1::BATCH_KIND_BOTTLE, 1);
  // An export's moment at the gate, held long enough to see the group wait.
  absl::StatusOr<std::unique_ptr<sql::Connection>> export_side =
      storage::Connect(f.server.db().config(), /*with_schema=*/true, /*multi_statements=*/false);
  REQUIRE_OK(export_side.status());
  sql::Connection& c = **export_side;
  c.setAutoCommit(false);
  std::unique_ptr<sql::Statement> st(c.createStatement());
  std::unique_ptr<sql::ResultSet>(st->executeQuery("SELECT id FROM scan_log_gate WHERE id = 1 FOR UPDATE"));
  const ScanRequest req = Req(codes[0].url());
  auto answered = std::async(std::launch::async, [&] { return MustScan(f.scanner, req); });
  CHECK(answered.wait_for(std::chrono::milliseconds(400)) == std::future_status::timeout);
  const absl::Time released = absl::Now();
  c.commit();
  REQUIRE(answered.wait_for(std::chrono::seconds(20)) == std::future_status::ready);
  CHECK(answered.get().verdict() == youma::v1::SCAN_VERDICT_GENUINE);
  const std::string recorded = f.server.QueryString(absl::StrCat(
      "SELECT DATE_FORMAT(record_time, '%Y-%m-%d %H:%i:%s.%f') FROM scans WHERE brand = 'alpha' AND client_scan_id = '",
      req.client_scan_id(), "'"));
  REQUIRE(!recorded.empty());
  CHECK(common::ParseSqlTime(recorded) >= released);
}

TEST_CASE("a stalled database costs bounded waits: scans past max_queued are refused UNAVAILABLE at once, then all goes through") {
  LogCapture log;
  TestServer server([&](app::AppOptions& o) {
    o.scan.writers = 1;
    o.scan.max_queued = 3;
    o.log = &log.log;
  });
  Fixture f(server);
  const auto codes = f.Codes(youma::v1::BATCH_KIND_BOTTLE, 5);
  std::vector<std::future<ScanAnswer>> waiting;
  // Declared after `waiting`: whatever fails below, the lock goes before the
  // waiting scans are awaited.
  StalledWriter stall(f, codes[0]);
  REQUIRE(stall.WriterWaits());
  for (int i = 1; i <= 3; ++i) {
    waiting.push_back(std::async(std::launch::async, [&, i] { return MustScan(f.scanner, Req(codes[i].url())); }));
  }
  REQUIRE(WaitFor([&] { return GaugeValue(server, "youma_scans_queued") == 3; }));

  // The fourth one waiting is one too many: refused at once, nothing written.
  const ScanRequest refused_req = Req(codes[4].url());
  ScanAnswer refused;
  const auto asked = absl::Now();
  const grpc::Status st = f.scanner.Call(&ScanStub::Scan, refused_req, &refused);
  CHECK(absl::Now() - asked < absl::Seconds(5));  // not after the stalled group
  CHECK(st.error_code() == grpc::UNAVAILABLE);
  CHECK(st.error_message() ==
        "the scan service is overloaded: 3 scans are waiting for the database; retry this scan with the same "
        "client_scan_id in a moment");
  CHECK(CounterValue(server, "youma_scans_shed_total") == 1);
  const std::vector<nlohmann::json> shed = log.Events("scans_shed");
  REQUIRE(shed.size() == 1);
  CHECK(shed[0]["scans"] == 1);
  CHECK(shed[0]["queued"] == 3);
  CHECK(shed[0]["max_queued"] == 3);

  CHECK(stall.StalledAnswer().history().scan_count() == 2);
  for (int i = 1; i <= 3; ++i) {
    const ScanAnswer a = waiting[i - 1].get();
    CHECK(a.verdict() == youma::v1::SCAN_VERDICT_GENUINE);
    CHECK(a.history().scan_count() == 1);
  }
  CHECK(GaugeValue(server, "youma_scans_queued") == 0);
  // The refused scan, retried with its id, is its code's first.
  const ScanAnswer retried = MustScan(f.scanner, refused_req);
  CHECK(retried.history().scan_count() == 1);
  CHECK(server.QueryInt(absl::StrCat("SELECT COUNT(*) FROM scans WHERE client_scan_id = '",
                                     refused_req.client_scan_id(), "'")) == 1);
}

// How many of this process's threads run under each (name, scheduling policy).
std::map<std::pair<std::string, int>, int> ThreadPolicies() {
  std::map<std::pair<std::string, int>, int> out;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    std::getline(comm, name);
    const int policy = ::sched_getscheduler(std::stoi(task.path().filename().string()));
    if (!name.empty() && policy >= 0) ++out[{name, policy}];
  }
  return out;
}

TEST_CASE("scan writers and answerers run under SCHED_BATCH unless batch_scheduling is off") {
  for (const bool batch : {true, false}) {
    CAPTURE(batch);
    const auto before = ThreadPolicies();
    TestServer server([&](app::AppOptions& o) {
      o.scan.writers = 3;
      o.scan.batch_scheduling = batch;
    });
    Fixture f(server);
    const auto codes = f.Codes(youma::v1::BATCH_KIND_BOTTLE, 1);
    CHECK(MustScan(f.scanner, Req(codes[0].url())).verdict() == youma::v1::SCAN_VERDICT_GENUINE);
    auto after = ThreadPolicies();
    for (const auto& [key, n] : before) after[key] -= n;  // other servers' threads
    const int policy = batch ? SCHED_BATCH : SCHED_OTHER;
    const int other = batch ? SCHED_OTHER : SCHED_BATCH;
    CHECK(after[{"scan-writer", policy}] == 3);
    CHECK(after[{"scan-answerer", policy}] == 3);
    CHECK(after[{"scan-writer", other}] == 0);
    CHECK(after[{"scan-answerer", other}] == 0);
  }
}

TEST_CASE("a scan whose caller gave up while the database stalled is not recorded; its retry is") {
  TestServer server([&](app::AppOptions& o) { o.scan.writers = 1; });
  Fixture f(server);
  const auto codes = f.Codes(youma::v1::BATCH_KIND_BOTTLE, 4);
  StalledWriter stall(f, codes[0]);
  REQUIRE(stall.WriterWaits());
  // Three scans wait behind the stalled group; their callers give up first.
  std::vector<ScanRequest> gave_up;
  for (int i = 1; i <= 3; ++i) {
    gave_up.push_back(Req(codes[i].url()));
    auto ctx = f.scanner.Context();
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(300));
    ScanAnswer a;
    CHECK(f.scanner.scan->Scan(ctx.get(), gave_up.back(), &a).error_code() == grpc::DEADLINE_EXCEEDED);
  }
  // The server's deadline for a call runs from when the call reached it, a
  // little after the client's: give the last one time to pass there too
  // before the writer is let go (a CI run once saw it not yet cancelled).
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  CHECK(stall.StalledAnswer().history().scan_count() == 2);
  // The writer took them after the stall and dropped them: no rows, counted.
  REQUIRE(WaitFor([&] { return CounterValue(server, "youma_scans_abandoned_total") == 3; }));
  for (int i = 1; i <= 3; ++i) {
    CHECK(server.QueryInt(absl::StrCat("SELECT COUNT(*) FROM scans WHERE code_id = ", codes[i].code_id())) == 0);
    CHECK(server.QueryInt(absl::StrCat("SELECT COUNT(*) FROM code_scans WHERE code_id = ", codes[i].code_id())) ==
          0);
  }
  // Retried with the same scan id, each is its code's first scan.
  for (const ScanRequest& r : gave_up) {
    const ScanAnswer a = MustScan(f.scanner, r);
    CHECK(a.client_scan_id() == r.client_scan_id());
    CHECK(a.history().scan_count() == 1);
  }
  CHECK(CounterValue(server, "youma_scans_abandoned_total") == 3);
}

TEST_CASE("a phone's clock ahead of the server's does not scan a code before its activation") {
  Fixture f;
  const absl::Time now = absl::Now();
  const auto codes = f.Codes(youma::v1::BATCH_KIND_BOTTLE, 1, 0, youma::v1::ACTIVATION_POLICY_AT_TIME,
                             now + absl::Minutes(2));
  ScanRequest r = Req(codes[0].url());
  *r.mutable_scan_time() = common::ToProtoTime(now + absl::Minutes(4));  // within the 5 minutes allowed
  const ScanAnswer a = MustScan(f.scanner, r);
  CHECK(a.verdict() == youma::v1::SCAN_VERDICT_NOT_ACTIVE);
  // Recorded as when it arrived, not when the phone says.
  const int64_t recorded = a.history().first_scan_time().seconds();
  CHECK(recorded >= absl::ToUnixSeconds(now));
  CHECK(recorded <= absl::ToUnixSeconds(absl::Now()));
  CHECK(f.server.QueryInt(absl::StrCat("SELECT COUNT(*) FROM scans WHERE code_id = ", codes[0].code_id(),
                                       " AND scan_time <= UTC_TIMESTAMP(6)")) == 1);
}

TEST_CASE("revoked, frozen and not yet active codes say so and win nothing") {
  Fixture f;
  const auto b = MakeBatch(f.factory, youma::v1::BATCH_KIND_BOTTLE, 10);
  const auto codes = StreamAll(f.factory, b.batch_id());
  youma::v1::RangeChangeRequest rc;
  rc.set_batch_id(b.batch_id());
  rc.set_first_code_id(codes[0].code_id());
  rc.set_last_code_id(codes[0].code_id());
  rc.set_reason("recall");
  youma::v1::RangeChange change;
  REQUIRE(f.factory.Call(&IssuerStub::RevokeRange, rc, &change).ok());
  rc.set_first_code_id(codes[1].code_id());
  rc.set_last_code_id(codes[1].code_id());
  rc.set_reason("investigation");
  REQUIRE(f.factory.Call(&IssuerStub::FreezeRange, rc, &change).ok());
  CHECK(MustScan(f.scanner, Req(codes[0].url())).verdict() == youma::v1::SCAN_VERDICT_REVOKED);
  const ScanAnswer frozen = MustScan(f.scanner, Req(codes[1].url()));
  CHECK(frozen.verdict() == youma::v1::SCAN_VERDICT_FROZEN);
  CHECK(frozen.rewards().empty());
  REQUIRE(f.factory.Call(&IssuerStub::UnfreezeRange, rc, &change).ok());
  CHECK(MustScan(f.scanner, Req(codes[1].url())).verdict() == youma::v1::SCAN_VERDICT_GENUINE);
  const auto waiting = f.Codes(youma::v1::BATCH_KIND_BOTTLE, 2, 0, youma::v1::ACTIVATION_POLICY_ON_SHIPMENT);
  CHECK(MustScan(f.scanner, Req(waiting[0].url())).verdict() == youma::v1::SCAN_VERDICT_NOT_ACTIVE);
}

TEST_CASE("a batch activated on shipment, a few codes at a time: each code's verdict follows its own changes") {
  Fixture f;
  const youma::v1::Dealer d = f.Dealer(absl::StrCat("bit-", ::getpid()), "Dongguan dealer", {"4419"});
  const auto batch =
      MakeBatch(f.factory, youma::v1::BATCH_KIND_BOTTLE, 3'000, 0, youma::v1::ACTIVATION_POLICY_ON_SHIPMENT);
  const auto codes = StreamAll(f.factory, batch.batch_id());
  // 600 two-code ranges shipped (and so activated) in 20 shipments: codes
  // 5k and 5k + 1 of the first 3,000.
  for (int s = 0; s < 20; ++s) {
    youma::v1::ShipmentReport report;
    report.set_dealer_id(d.dealer_id());
    for (int k = s * 30; k < (s + 1) * 30; ++k) {
      auto* range = report.add_ranges();
      range->set_first_code_id(codes[5 * k].code_id());
      range->set_last_code_id(codes[5 * k + 1].code_id());
    }
    youma::v1::Shipment shipment;
    REQUIRE(f.factory.Call(&IssuerStub::ReportShipment, report, &shipment).ok());
    CHECK(shipment.activated() == 60);
  }
  CHECK(f.server.QueryInt(absl::StrCat("SELECT COUNT(*) FROM range_changes WHERE batch_id = ", batch.batch_id())) ==
        600);
  // One of them frozen again.
  youma::v1::RangeChangeRequest freeze;
  freeze.set_batch_id(batch.batch_id());
  freeze.set_first_code_id(codes[1'500].code_id());
  freeze.set_last_code_id(codes[1'501].code_id());
  freeze.set_reason("counterfeit cases seen in this lot");
  youma::v1::RangeChange change;
  REQUIRE(f.factory.Call(&IssuerStub::FreezeRange, freeze, &change).ok());
  // The first scan reads the batch's changes whole and finds 601; the
  // others read their code's changes by block keys.
  auto reads = [&](const char* by) { return CounterValue(f.server, "youma_scan_range_change_reads_total", "by", by); };
  const double whole_before = reads("batch"), by_keys_before = reads("blocks");
  const std::vector<size_t> scanned = {0, 1, 2, 4, 5, 1'499, 1'500, 1'501, 1'502, 2'995, 2'996, 2'997};
  for (size_t i : scanned) {
    INFO("code #", i);
    const youma::v1::ScanVerdict want = i == 1'500 || i == 1'501 ? youma::v1::SCAN_VERDICT_FROZEN
                                        : i % 5 < 2               ? youma::v1::SCAN_VERDICT_GENUINE
                                                                  : youma::v1::SCAN_VERDICT_NOT_ACTIVE;
    CHECK(MustScan(f.scanner, Req(codes[i].url())).verdict() == want);
  }
  CHECK(reads("batch") - whole_before == 1);
  CHECK(reads("blocks") - by_keys_before == static_cast<double>(scanned.size() - 1));
  // A batch with one change is still read whole.
  const auto few = f.Codes(youma::v1::BATCH_KIND_BOTTLE, 2);
  CHECK(MustScan(f.scanner, Req(few[0].url())).verdict() == youma::v1::SCAN_VERDICT_GENUINE);
  CHECK(MustScan(f.scanner, Req(few[1].url())).verdict() == youma::v1::SCAN_VERDICT_GENUINE);
  CHECK(reads("batch") - whole_before == 3);
  CHECK(reads("blocks") - by_keys_before == static_cast<double>(scanned.size() - 1));
}

TEST_CASE("campaign validation: prize cap, odds, budget, and changes after launch") {
  Fixture f;
  auto create = [&](const youma::v1::CampaignSpec& s) {
    youma::v1::CreateCampaignRequest req;
    *req.mutable_spec() = s;
    youma::v1::Campaign c;
    return f.admin.Call(&RulesStub::CreateCampaign, req, &c);
  };
  auto spec = Spec(10'000'000, 5'000'001, 1000);  // 50,000.01 yuan
  grpc::Status st = create(spec);
  CHECK(st.error_code() == grpc::INVALID_ARGUMENT);
  CHECK(st.error_message().find("50000.00") != std::string::npos);
  spec = Spec(10000, 100, 600'000);
  auto* second = spec.add_tiers();
  second->set_name("second");
  second->set_amount_fen(50);
  second->set_probability_ppm(500'000);
  CHECK(create(spec).error_code() == grpc::INVALID_ARGUMENT);  // 1.1 in all
  CHECK(create(Spec(99, 100, 1000)).error_code() == grpc::INVALID_ARGUMENT);  // budget below prize
  spec = Spec(10000, 100, 1000);
  spec.mutable_end_time()->set_seconds(253402300800);  // 10000-01-01
  st = create(spec);
  CHECK(st.error_code() == grpc::INVALID_ARGUMENT);
  CHECK(st.error_message().find("end_time") != std::string::npos);
  TestClient auditor = f.server.Connect("alpha", youma::v1::ROLE_AUDITOR);
  youma::v1::CreateCampaignRequest req;
  *req.mutable_spec() = Spec(1000, 100, 1000);
  youma::v1::Campaign c;
  CHECK(auditor.Call(&RulesStub::CreateCampaign, req, &c).error_code() == grpc::PERMISSION_DENIED);

  const youma::v1::Campaign live = Launch(f.admin, Spec(10000, 100, 1000));
  youma::v1::UpdateCampaignRequest update;
  update.set_campaign_id(live.campaign_id());
  *update.mutable_spec() = live.spec();
  update.mutable_spec()->mutable_tiers(0)->set_probability_ppm(500);
  st = f.admin.Call(&RulesStub::UpdateCampaign, update, &c);
  CHECK(st.error_code() == grpc::FAILED_PRECONDITION);
  CHECK(st.error_message().find("worse odds") != std::string::npos);
  *update.mutable_spec() = live.spec();
  update.mutable_spec()->mutable_tiers(0)->set_amount_fen(50);
  CHECK(f.admin.Call(&RulesStub::UpdateCampaign, update, &c).error_code() == grpc::FAILED_PRECONDITION);
  *update.mutable_spec() = live.spec();
  update.mutable_spec()->set_budget_fen(5000);
  CHECK(f.admin.Call(&RulesStub::UpdateCampaign, update, &c).error_code() == grpc::FAILED_PRECONDITION);
  // In the consumers' favour: more budget, better odds, larger prize.
  *update.mutable_spec() = live.spec();
  update.mutable_spec()->set_budget_fen(20000);
  update.mutable_spec()->mutable_tiers(0)->set_probability_ppm(2000);
  update.mutable_spec()->mutable_tiers(0)->set_amount_fen(120);
  REQUIRE(f.admin.Call(&RulesStub::UpdateCampaign, update, &c).ok());
  CHECK(c.spec().budget_fen() == 20000);
  CHECK(c.left_fen() == 20000);
  CHECK(f.server.QueryInt(absl::StrCat("SELECT SUM(remaining_fen) FROM budget_shards WHERE campaign_id = ",
                                       c.campaign_id())) == 20000);
  End(f.admin, live.campaign_id());
  youma::v1::CampaignRef ref;
  ref.set_campaign_id(live.campaign_id());
  CHECK(f.admin.Call(&RulesStub::LaunchCampaign, ref, &c).error_code() == grpc::FAILED_PRECONDITION);
}

TEST_CASE("a winning code is paid once per campaign and role, with an idempotent award id") {
  Fixture f;
  const auto codes = f.CodesOf("00000000000017", youma::v1::BATCH_KIND_BOTTLE, 5);
  auto spec = Spec(100000, 188, 1'000'000);  // everyone wins 1.88 yuan
  spec.set_gtins(0, "00000000000017");
  const youma::v1::Campaign c = Launch(f.admin, spec);
  const ScanAnswer won = MustScan(f.scanner, Req(codes[0].url()));
  REQUIRE(won.rewards_size() == 1);
  CHECK(won.rewards(0).amount_fen() == 188);
  CHECK(won.rewards(0).campaign_id() == c.campaign_id());
  CHECK(won.rewards(0).award_id().size() == 32);
  CHECK(won.message().find("You won 1.88 yuan") != std::string::npos);
  const ScanAnswer again = MustScan(f.scanner, Req(codes[0].url(), youma::v1::SCAN_ROLE_CONSUMER, "openid-9"));
  CHECK(again.rewards().empty());
  CHECK(again.no_reward_reason().find("already awarded") != std::string::npos);
  // Store owners are not in this campaign's roles.
  const ScanAnswer owner = MustScan(f.scanner, Req(codes[1].url(), youma::v1::SCAN_ROLE_STORE_OWNER));
  CHECK(owner.rewards().empty());
  youma::v1::CampaignRef ref;
  ref.set_campaign_id(c.campaign_id());
  youma::v1::Campaign status;
  REQUIRE(f.admin.Call(&RulesStub::GetCampaign, ref, &status).ok());
  CHECK(status.spent_fen() == 188);
  CHECK(status.left_fen() == 100000 - 188);
  CHECK(status.awards() == 1);
  CHECK(status.tiers(0).awarded() == 1);
  End(f.admin, c.campaign_id());
  // After the end: no more awards, and the seed is revealed.
  const ScanAnswer late = MustScan(f.scanner, Req(codes[2].url()));
  CHECK(late.rewards().empty());
  REQUIRE(f.admin.Call(&RulesStub::GetCampaign, ref, &status).ok());
  CHECK(status.seed_hex().size() == 64);
}

TEST_CASE("a campaign counts an award an older youma recorded at once, and folds it into its totals once") {
  TestServer server([](app::AppOptions& o) { o.upgrade_catch_up = absl::ZeroDuration(); });  // counted by hand below
  Fixture f(server);
  const auto codes = f.CodesOf("00000000000031", youma::v1::BATCH_KIND_BOTTLE, 3);
  auto spec = Spec(100000, 188, 1'000'000);  // everyone wins 1.88 yuan
  spec.set_gtins(0, "00000000000031");
  const youma::v1::Campaign c = Launch(f.admin, spec);
  REQUIRE(MustScan(f.scanner, Req(codes[0].url())).rewards_size() == 1);
  youma::v1::CampaignRef ref;
  ref.set_campaign_id(c.campaign_id());
  auto status = [&] {
    youma::v1::Campaign out;
    const grpc::Status st = f.admin.Call(&RulesStub::GetCampaign, ref, &out);
    INFO(st.error_message());
    CHECK(st.ok());
    return out;
  };
  CHECK(status().awards() == 1);
  // An older youma, still serving during the upgrade, records an award as it
  // did: no totals, so the ledger marks it uncounted.
  REQUIRE_OK(server.app().pool().WithConnection([&](sql::Connection& conn) -> absl::Status {
    storage::Execute(conn, absl::StrCat(
      "INSERT INTO awards (campaign_id, code_id, role, award_id, brand, user_id, tier, amount_fen, "
      "client_scan_id, award_time) VALUES (", c.campaign_id(), ", ", codes[1].code_id(), ", ",
      static_cast<int>(youma::v1::SCAN_ROLE_CONSUMER), ", 'older0000000000000000000000award', 'alpha', 'u-older', 0, "
      "188, 'older-scan', UTC_TIMESTAMP(6))"));
    return absl::OkStatus();
  }));
  const std::string uncounted = absl::StrCat("SELECT COUNT(*) FROM awards WHERE counted = 0 AND campaign_id = ",
                                             c.campaign_id());
  CHECK(server.QueryInt(uncounted) == 1);
  for (int pass = 0; pass < 2; ++pass) {
    INFO((pass == 0 ? "before the catch-up" : "after it"));
    const youma::v1::Campaign now = status();
    CHECK(now.awards() == 2);
    CHECK(now.spent_fen() == 376);
    CHECK(now.left_fen() == 100000 - 376);
    CHECK(now.tiers(0).awarded() == 2);
    CHECK(now.tiers(0).amount_fen() == 376);
    ASSIGN_OR_FAIL(int64_t counted, rules::CountOlderAwards(&server.app().pool()));
    CHECK(counted == (pass == 0 ? 1 : 0));
    CHECK(server.QueryInt(uncounted) == 0);
  }
  CHECK(server.QueryInt(absl::StrCat("SELECT SUM(awards) FROM award_totals WHERE campaign_id = ", c.campaign_id())) ==
        2);
  // The next award is counted as it is recorded.
  REQUIRE(MustScan(f.scanner, Req(codes[2].url())).rewards_size() == 1);
  CHECK(status().spent_fen() == 3 * 188);
  End(f.admin, c.campaign_id());
}

TEST_CASE("the per-user daily limit counts China days of the scans' arrival; a late scan wins nothing") {
  // The server's clock is moved to the times below: two days ago in China,
  // 23:00 to 00:20, which is one UTC day (15:00 to 16:20).
  std::atomic<int64_t> offset_ns{0};
  TestServer server([&](app::AppOptions& o) {
    o.scan.now = [&] { return absl::Now() + absl::Nanoseconds(offset_ns.load()); };
  });
  Fixture f(server);
  const absl::TimeZone china = common::ChinaTime();
  const absl::CivilDay day = absl::ToCivilDay(absl::Now() - absl::Hours(48), china);
  auto at = [&](absl::CivilDay d, int hour, int minute) {
    return absl::FromCivil(absl::CivilMinute(d.year(), d.month(), d.day(), hour, minute), china);
  };
  const auto codes = f.CodesOf("00000000000079", youma::v1::BATCH_KIND_BOTTLE, 8, 0,
                               absl::Now() - absl::Hours(24 * 4));
  auto spec = Spec(1'000'000, 100, 1'000'000);  // every scan wins 1 yuan
  spec.set_gtins(0, "00000000000079");
  spec.set_per_user_daily_limit(2);
  *spec.mutable_start_time() = common::ToProtoTime(absl::Now() - absl::Hours(24 * 4));
  const youma::v1::Campaign c = Launch(f.admin, spec);
  // A scan arriving at `arrival`, made at `made` (unset: when it arrives).
  auto scan = [&](const youma::v1::Code& code, const std::string& user, absl::Time arrival,
                  std::optional<absl::Time> made = std::nullopt) {
    ScanRequest r = Req(code.url(), youma::v1::SCAN_ROLE_CONSUMER, user);
    if (made.has_value()) *r.mutable_scan_time() = common::ToProtoTime(*made);
    offset_ns = absl::ToInt64Nanoseconds(arrival - absl::Now());
    return MustScan(f.scanner, r);
  };
  const std::string user = Unique("daily");
  CHECK(scan(codes[0], user, at(day, 23, 0)).rewards_size() == 1);
  CHECK(scan(codes[1], user, at(day, 23, 10)).rewards_size() == 1);
  const ScanAnswer third = scan(codes[2], user, at(day, 23, 20));
  CHECK(third.rewards().empty());
  CHECK(third.no_reward_reason() == "daily limit reached (2 prizes per user per day)");
  CHECK(scan(codes[3], Unique("other"), at(day, 23, 30)).rewards_size() == 1);  // another user
  // Made at 23:58, arrived at 00:05: it counts in the day it arrived, the
  // next one, so the user's scan time cannot spend a day already used up.
  const ScanAnswer after_midnight = scan(codes[4], user, at(day + 1, 0, 5), at(day, 23, 58));
  CHECK(after_midnight.rewards_size() == 1);
  CHECK(after_midnight.history().first_scan_time().seconds() == absl::ToUnixSeconds(at(day, 23, 58)));
  CHECK(scan(codes[5], user, at(day + 1, 0, 10)).rewards_size() == 1);
  CHECK(scan(codes[6], user, at(day + 1, 0, 15)).no_reward_reason() ==
        "daily limit reached (2 prizes per user per day)");
  // Made an hour and 20 minutes before it arrived (inside the campaign, on a
  // day the user had prizes left): recorded with its own time, but no prize.
  const std::string late_user = Unique("late");
  const ScanAnswer late = scan(codes[7], late_user, at(day + 1, 0, 20), at(day, 23, 0));
  CHECK(late.verdict() == youma::v1::SCAN_VERDICT_GENUINE);
  CHECK(late.rewards().empty());
  CHECK(late.no_reward_reason() ==
        "scanned 1h20m before it reached the server (more than 10m): late scans are recorded but win nothing");
  CHECK(late.history().first_scan());
  CHECK(f.server.QueryInt(absl::StrCat("SELECT COUNT(*) FROM scans WHERE user_id = '", late_user,
                                       "' AND scan_time = '", common::SqlTime(at(day, 23, 0)), "'")) == 1);
  CHECK(f.server.QueryInt(absl::StrCat("SELECT COUNT(*) FROM awards WHERE campaign_id = ", c.campaign_id())) == 5);
  // Awards carry the time they were made, by the server's clock.
  CHECK(f.server.QueryInt(absl::StrCat("SELECT COUNT(*) FROM awards WHERE campaign_id = ", c.campaign_id(),
                                       " AND award_time >= '", common::SqlTime(at(day + 1, 0, 5)),
                                       "' AND award_time < '", common::SqlTime(at(day + 1, 0, 6)), "'")) == 1);
  offset_ns = 0;
  End(f.admin, c.campaign_id());

  // A tier of 2 prizes that everyone would win: the third winner is told they are gone.
  const auto capped = f.CodesOf("00000000000086", youma::v1::BATCH_KIND_BOTTLE, 3);
  auto cap_spec = Spec(1'000'000, 100, 1'000'000);
  cap_spec.set_gtins(0, "00000000000086");
  cap_spec.mutable_tiers(0)->set_max_count(2);
  const youma::v1::Campaign cc = Launch(f.admin, cap_spec);
  int won = 0;
  for (int i = 0; i < 2; ++i) won += MustScan(f.scanner, Req(capped[i].url(), youma::v1::SCAN_ROLE_CONSUMER, Unique("u"))).rewards_size();
  CHECK(won == 2);
  const ScanAnswer third_winner = MustScan(f.scanner, Req(capped[2].url(), youma::v1::SCAN_ROLE_CONSUMER, Unique("u")));
  CHECK(third_winner.rewards().empty());
  CHECK(third_winner.no_reward_reason() == "all 2 'red packet' prizes are given out");
  const youma::v1::Campaign status = Report(f.admin, cc.campaign_id());
  CHECK(status.tiers(0).awarded() == 2);
  CHECK(status.spent_fen() == 200);
  End(f.admin, cc.campaign_id());
}

// Per-day counters of a user on these days ago, in both tables.
void AddDayCounters(TestServer& server, const std::vector<int>& days_ago) {
  REQUIRE_OK(server.app().pool().WithConnection([&](sql::Connection& c) -> absl::Status {
    for (int ago : days_ago) {
      const std::string day = absl::FormatTime("%Y-%m-%d", absl::Now() - absl::Hours(24 * ago), common::ChinaTime());
      storage::Execute(c, absl::StrCat("INSERT INTO fraud_counters VALUES (7, 1, 'o_user', '", day, "', 3)"));
      storage::Execute(c, absl::StrCat("INSERT INTO user_daily_awards VALUES (7, 'o_user', '", day, "', 1)"));
    }
    return absl::OkStatus();
  }));
}

std::string DaysAgo(int ago) {
  return absl::FormatTime("%Y-%m-%d", absl::Now() - absl::Hours(24 * ago), common::ChinaTime());
}

TEST_CASE("PruneDayCounters deletes the fraud limits' per-day rows before a day, in stretches of keys, and keeps the rest") {
  TestServer server([](app::AppOptions& o) { o.day_counters_prune = absl::ZeroDuration(); });
  AddDayCounters(server, {0, 1, 2, 40});
  REQUIRE_OK(server.app().pool().WithConnection([&](sql::Connection& c) -> absl::Status {
    storage::Execute(c, absl::StrCat("INSERT INTO fraud_counters SELECT 8, 2, CONCAT('ip-', seq), '", DaysAgo(3),
                                     "', 1 FROM seq_1_to_12000"));
    return absl::OkStatus();
  }));
  absl::StatusOr<int64_t> pruned = rules::PruneDayCounters(&server.app().pool(), DaysAgo(1));
  REQUIRE_OK(pruned.status());
  CHECK(*pruned == 12000 + 2 * 2);  // days 3 and 2 and 40, of both tables
  CHECK(server.QueryString("SELECT GROUP_CONCAT(day ORDER BY day) FROM fraud_counters") ==
        absl::StrCat(DaysAgo(1), ",", DaysAgo(0)));
  CHECK(server.QueryString("SELECT GROUP_CONCAT(day ORDER BY day) FROM user_daily_awards") ==
        absl::StrCat(DaysAgo(1), ",", DaysAgo(0)));
  pruned = rules::PruneDayCounters(&server.app().pool(), DaysAgo(1));
  REQUIRE_OK(pruned.status());
  CHECK(*pruned == 0);
  for (const char* bad : {"", "07/12/2026", "2026-12-07' OR '1'='1"}) {
    INFO(bad);
    CHECK(rules::PruneDayCounters(&server.app().pool(), bad).status().code() == absl::StatusCode::kInvalidArgument);
  }
  CHECK(server.QueryString("SELECT COUNT(*) FROM fraud_counters") == "2");
}

TEST_CASE("a server with the scan service on keeps the fraud limits' per-day rows of today and yesterday only") {
  TestServer server([](app::AppOptions& o) { o.day_counters_prune = absl::Milliseconds(100); });
  const std::string before_day = DaysAgo(1);
  // The server may have pruned today's turn before these rows were written:
  // a day pruned is recorded in the database, for every server.
  auto prune_again = [&] {
    REQUIRE_OK(server.app().pool().WithConnection([](sql::Connection& c) -> absl::Status {
      storage::Execute(c, "UPDATE daily_jobs SET done_day = '2000-01-01' WHERE job = 'day_counters_prune'");
      return absl::OkStatus();
    }));
    server.RestartApp();
  };
  AddDayCounters(server, {0, 1, 2, 40});
  prune_again();
  const std::string want = absl::StrCat(DaysAgo(1), ",", DaysAgo(0));
  auto wait_for_want = [&] {
    std::string left;
    for (absl::Time until = absl::Now() + absl::Seconds(20); left != want && absl::Now() < until;) {
      absl::SleepFor(absl::Milliseconds(50));
      left = server.QueryString("SELECT GROUP_CONCAT(day ORDER BY day) FROM fraud_counters");
    }
    return left;
  };
  CHECK(wait_for_want() == want);
  CHECK(server.QueryString("SELECT GROUP_CONCAT(day ORDER BY day) FROM user_daily_awards") == want);
  CHECK(server.QueryString("SELECT CONCAT(done_day, '/', claimed_by, '/', claimed_until IS NULL) FROM daily_jobs "
                           "WHERE job = 'day_counters_prune'") == before_day + "//1");
  // Pruned for today: a row of an old day written now (scans never write
  // one; they count on the day they arrive) waits for tomorrow's turn. A new
  // start, as another server, finds the day done.
  AddDayCounters(server, {40});
  absl::SleepFor(absl::Milliseconds(600));  // six turns
  CHECK(server.QueryString("SELECT COUNT(*) FROM fraud_counters") == "3");
  server.RestartApp();
  absl::SleepFor(absl::Milliseconds(600));
  CHECK(server.QueryString("SELECT COUNT(*) FROM fraud_counters") == "3");
  // The next day's turn (the record set back, as if a day had passed) prunes it.
  prune_again();
  CHECK(wait_for_want() == want);
}

TEST_CASE("a code scanned twice in one group commit wins once; the second scan sees the first's award") {
  Fixture f;
  const auto codes = f.CodesOf("00000000000062", youma::v1::BATCH_KIND_BOTTLE, 40);
  auto spec = Spec(1'000'000, 100, 1'000'000);  // every first scan wins 1 yuan
  spec.set_gtins(0, "00000000000062");
  const youma::v1::Campaign c = Launch(f.admin, spec);
  // Each code twice, back to back on one stream: the pipeline groups what is
  // queued, so the two scans of a code mostly share a transaction.
  std::vector<ScanRequest> requests;
  for (const auto& code : codes) {
    requests.push_back(Req(code.url(), youma::v1::SCAN_ROLE_CONSUMER, "openid-a"));
    requests.push_back(Req(code.url(), youma::v1::SCAN_ROLE_CONSUMER, "openid-b"));
  }
  const std::vector<ScanAnswer> answers = StreamScanAll(f.scanner, requests);
  REQUIRE(answers.size() == requests.size());
  std::map<uint64_t, std::pair<int, int>> per_code;  // code -> (won, already awarded)
  for (const ScanAnswer& a : answers) {
    auto& [won, already] = per_code[a.code_id()];
    won += a.rewards_size();
    already += a.no_reward_reason().find("already awarded") != std::string::npos;
  }
  REQUIRE(per_code.size() == codes.size());
  for (const auto& [code, counts] : per_code) {
    CAPTURE(code);
    CHECK(counts.first == 1);
    CHECK(counts.second == 1);
  }
  CHECK(f.server.QueryInt(absl::StrCat("SELECT COUNT(*) FROM awards WHERE campaign_id = ", c.campaign_id())) == 40);
  CHECK(f.server.QueryInt(absl::StrCat("SELECT COUNT(*) FROM payouts WHERE campaign_id = ", c.campaign_id())) == 40);
  End(f.admin, c.campaign_id());
}

TEST_CASE("within one group commit, a tier's cap, a user's daily limit and the budget hold exactly") {
  Fixture f;
  // Scans streamed back to back share group-commit transactions: the group
  // reads each counter and budget shard once and adds its own prizes to them.
  auto run = [&](const std::string& gtin, youma::v1::CampaignSpec spec, int scans, bool one_user) {
    const auto codes = f.CodesOf(gtin, youma::v1::BATCH_KIND_BOTTLE, scans);
    spec.set_gtins(0, gtin);
    const youma::v1::Campaign c = Launch(f.admin, spec);
    std::vector<ScanRequest> requests;
    const std::string user = Unique("user");
    for (const auto& code : codes) {
      requests.push_back(Req(code.url(), youma::v1::SCAN_ROLE_CONSUMER, one_user ? user : Unique("user")));
    }
    const std::vector<ScanAnswer> answers = StreamScanAll(f.scanner, requests);
    REQUIRE(answers.size() == requests.size());
    // The scans of one group share their record time: some group held several
    // (every scan here draws a prize, so they met the counters together).
    std::string ids;
    for (const auto& code : codes) absl::StrAppend(&ids, ids.empty() ? "" : ",", code.code_id());
    CHECK(f.server.QueryInt(absl::StrCat("SELECT MAX(n) FROM (SELECT COUNT(*) AS n FROM scans WHERE code_id IN (",
                                         ids, ") GROUP BY record_time) g")) >= 2);
    return std::make_pair(c, answers);
  };
  auto reasons = [](const std::vector<ScanAnswer>& answers) {
    std::map<std::string, int> out;
    for (const ScanAnswer& a : answers) ++out[a.rewards().empty() ? a.no_reward_reason() : "won"];
    return out;
  };
  auto awards = [&](uint64_t campaign_id, const char* table) {
    return f.server.QueryInt(absl::StrCat("SELECT COUNT(*) FROM ", table, " WHERE campaign_id = ", campaign_id));
  };

  SUBCASE("a tier of 5 prizes that everyone would win, 30 winners in waiting") {
    auto spec = Spec(1'000'000, 100, 1'000'000);
    spec.mutable_tiers(0)->set_max_count(5);
    const auto [c, answers] = run("00000000000093", spec, 30, false);
    CHECK(reasons(answers) == std::map<std::string, int>{{"won", 5}, {"all 5 'red packet' prizes are given out", 25}});
    const youma::v1::Campaign s = Report(f.admin, c.campaign_id());
    CHECK(s.tiers(0).awarded() == 5);
    CHECK(s.spent_fen() == 500);
    CHECK(awards(c.campaign_id(), "awards") == 5);
    CHECK(awards(c.campaign_id(), "payouts") == 5);
    End(f.admin, c.campaign_id());
  }
  SUBCASE("one user scanning 12 codes with a daily limit of 3") {
    auto spec = Spec(1'000'000, 100, 1'000'000);
    spec.set_per_user_daily_limit(3);
    const auto [c, answers] = run("00000000000109", spec, 12, true);
    CHECK(reasons(answers) ==
          std::map<std::string, int>{{"won", 3}, {"daily limit reached (3 prizes per user per day)", 9}});
    CHECK(f.server.QueryInt(absl::StrCat("SELECT SUM(awards) FROM user_daily_awards WHERE campaign_id = ",
                                         c.campaign_id())) == 3);
    CHECK(Report(f.admin, c.campaign_id()).spent_fen() == 300);
    CHECK(awards(c.campaign_id(), "payouts") == 3);
    End(f.admin, c.campaign_id());
  }
  SUBCASE("a budget of 48 prizes and 60 winners: shards run dry mid-group and are gathered") {
    const auto [c, answers] = run("00000000000116", Spec(4'800, 100, 1'000'000), 60, false);
    CHECK(reasons(answers) == std::map<std::string, int>{{"won", 48}, {"the campaign's budget is used up", 12}});
    const youma::v1::Campaign s = Report(f.admin, c.campaign_id());
    CHECK(s.spent_fen() == 4'800);
    CHECK(f.server.QueryInt(absl::StrCat("SELECT SUM(remaining_fen) FROM budget_shards WHERE campaign_id = ",
                                         c.campaign_id())) == 0);
    CHECK(f.server.QueryInt(absl::StrCat("SELECT COALESCE(SUM(amount_fen), 0) FROM payouts WHERE campaign_id = ",
                                         c.campaign_id())) == 4'800);
    End(f.admin, c.campaign_id());
  }
}

TEST_CASE("64 concurrent clients never overspend a small budget, with retries mixed in") {
  Fixture f;
  const auto codes = f.CodesOf("00000000000024", youma::v1::BATCH_KIND_BOTTLE, 401);
  auto spec = Spec(5000, 100, 1'000'000);  // 50 prizes of 1 yuan, demand 400 (one code kept for later)
  spec.set_gtins(0, "00000000000024");
  const youma::v1::Campaign c = Launch(f.admin, spec);
  std::atomic<int> next{0}, errors{0}, paid{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 64; ++t) {
    clients.emplace_back([&, t] {
      TestClient scanner = f.server.ConnectWithToken(f.scanner.token);
      for (int i; (i = next++) < 400;) {
        ScanRequest r = Req(codes[i].url(), youma::v1::SCAN_ROLE_CONSUMER, absl::StrCat("user-", i));
        for (int attempt = 0; attempt < (i % 3 == 0 ? 2 : 1); ++attempt) {  // some retries
          ScanAnswer a;
          const grpc::Status st = scanner.Call(&ScanStub::Scan, r, &a);
          if (!st.ok()) {
            ++errors;
            std::fprintf(stderr, "scan failed: %s\n", st.error_message().c_str());
          } else if (attempt == 0) {
            paid += a.rewards_size() > 0 ? static_cast<int>(a.rewards(0).amount_fen()) : 0;
          }
        }
      }
      (void)t;
    });
  }
  for (auto& th : clients) th.join();
  CHECK(errors == 0);
  CHECK(paid == 5000);
  const std::string where = absl::StrCat(" FROM awards WHERE campaign_id = ", c.campaign_id());
  CHECK(f.server.QueryInt("SELECT SUM(amount_fen)" + where) == 5000);
  CHECK(f.server.QueryInt("SELECT COUNT(*)" + where) == 50);
  CHECK(f.server.QueryInt("SELECT COUNT(DISTINCT code_id, role)" + where) == 50);
  CHECK(f.server.QueryInt(absl::StrCat("SELECT SUM(remaining_fen) FROM budget_shards WHERE campaign_id = ",
                                       c.campaign_id())) == 0);
  youma::v1::CampaignRef ref;
  ref.set_campaign_id(c.campaign_id());
  youma::v1::Campaign status;
  REQUIRE(f.admin.Call(&RulesStub::GetCampaign, ref, &status).ok());
  CHECK(status.budget_exhausted());
  CHECK(status.left_fen() == 0);
  // Read from the award totals the groups kept, spread over their shards,
  // not from the ledger: the same figures.
  const std::string totals = absl::StrCat(" FROM award_totals WHERE campaign_id = ", c.campaign_id());
  CHECK(f.server.QueryInt("SELECT SUM(awards)" + totals) == 50);
  CHECK(f.server.QueryInt("SELECT SUM(amount_fen)" + totals) == 5000);
  CHECK(f.server.QueryInt("SELECT COUNT(*)" + totals) > 1);
  CHECK(f.server.QueryInt("SELECT COUNT(*)" + where + " AND counted = 0") == 0);
  CHECK(status.awards() == 50);
  CHECK(status.spent_fen() == 5000);
  CHECK(status.tiers(0).awarded() == 50);
  // A code never scanned, which would win: the answer says why it does not.
  const ScanAnswer after = MustScan(f.scanner, Req(codes[400].url(), youma::v1::SCAN_ROLE_CONSUMER, "late"));
  CHECK(after.rewards().empty());
  CHECK(after.no_reward_reason() == "the campaign's budget is used up");
  CHECK(after.message().find("You won") == std::string::npos);
  End(f.admin, c.campaign_id());
}

TEST_CASE("draws are deterministic and verify-draws recomputes every award from the revealed seed") {
  Fixture f;
  const auto codes = f.CodesOf("00000000000031", youma::v1::BATCH_KIND_BOTTLE, 200);
  auto spec = Spec(1'000'000, 500, 300'000);
  spec.set_gtins(0, "00000000000031");
  auto* big = spec.add_tiers();
  big->set_name("big");
  big->set_amount_fen(8800);
  big->set_probability_ppm(50'000);
  big->set_max_count(3);
  const youma::v1::Campaign c = Launch(f.admin, spec);
  youma::v1::CampaignRef ref;
  ref.set_campaign_id(c.campaign_id());
  youma::v1::DrawAudit audit;
  CHECK(f.admin.Call(&RulesStub::VerifyDraws, ref, &audit).error_code() == grpc::FAILED_PRECONDITION);
  int won = 0;
  for (const auto& code : codes) won += MustScan(f.scanner, Req(code.url())).rewards_size();
  CHECK(won > 30);   // about 35% of 200
  CHECK(won < 110);
  CHECK(f.server.QueryInt(absl::StrCat("SELECT COUNT(*) FROM awards WHERE tier = 1 AND campaign_id = ",
                                       c.campaign_id())) <= 3);
  End(f.admin, c.campaign_id());
  youma::v1::Campaign ended;
  REQUIRE(f.admin.Call(&RulesStub::GetCampaign, ref, &ended).ok());
  // Anyone can check the revealed seed against the hash published at launch.
  std::string seed(32, '\0');
  for (int i = 0; i < 32; ++i) seed[i] = static_cast<char>(std::stoi(ended.seed_hex().substr(2 * i, 2), nullptr, 16));
  CHECK(rules::Sha256Hex(reinterpret_cast<const uint8_t*>(seed.data()), 32) == c.seed_sha256());
  REQUIRE(f.admin.Call(&RulesStub::VerifyDraws, ref, &audit).ok());
  CHECK(audit.awards_checked() == won);
  CHECK(audit.mismatches() == 0);
  // A tampered ledger is caught.
  REQUIRE_OK(f.server.app().pool().WithConnection([&](sql::Connection& conn) -> absl::Status {
    storage::Execute(conn, absl::StrCat("UPDATE awards SET tier = 1 - tier WHERE campaign_id = ",
                                        c.campaign_id(), " ORDER BY code_id LIMIT 1"));
    return absl::OkStatus();
  }));
  REQUIRE(f.admin.Call(&RulesStub::VerifyDraws, ref, &audit).ok());
  CHECK(audit.mismatches() == 1);
  CHECK(audit.mismatch_details(0).find("draw gives tier") != std::string::npos);
}

TEST_CASE("a whole batch shipped at once: codes past the first 65,536 still find their dealer") {
  Fixture f;
  const youma::v1::Dealer d = f.Dealer(absl::StrCat("long-", ::getpid()), "Foshan dealer", {"4406"});
  const youma::v1::Batch batch = MakeBatch(f.factory, youma::v1::BATCH_KIND_BOTTLE, 70'000);
  const auto codes = StreamAll(f.factory, batch.batch_id());
  youma::v1::ShipmentReport ship;
  ship.set_dealer_id(d.dealer_id());
  ship.add_batch_ids(batch.batch_id());
  youma::v1::Shipment s;
  REQUIRE(f.factory.Call(&IssuerStub::ReportShipment, ship, &s).ok());
  // Stored in pieces of at most 65,536 codes.
  CHECK(f.server.QueryInt(absl::StrCat("SELECT COUNT(*) FROM shipment_ranges WHERE shipment_id = ",
                                       s.shipment_id())) == 2);
  for (size_t i : {size_t{0}, size_t{65'535}, size_t{65'536}, size_t{69'999}}) {
    const ScanAnswer a = MustScan(f.scanner, Req(codes[i].url(), youma::v1::SCAN_ROLE_STORE_OWNER, "shop-far", "310101"));
    INFO("code #", i);
    CHECK(a.territory_warning().find("authorized for 4406") != std::string::npos);
    CHECK(a.territory_warning().find(d.dealer_id()) != std::string::npos);
  }
}

TEST_CASE("a later shipment takes the codes it carries from earlier ones; the rest keep their dealer") {
  Fixture f;
  const std::string tag = absl::StrCat(::getpid());
  const youma::v1::Dealer gz = f.Dealer("gz-" + tag, "Guangzhou dealer", {"4401"});
  const youma::v1::Dealer sh = f.Dealer("sh-" + tag, "Shanghai dealer", {"31"});
  const youma::v1::Dealer bj = f.Dealer("bj-" + tag, "Beijing dealer", {"11"});
  const youma::v1::Batch batch = MakeBatch(f.factory, youma::v1::BATCH_KIND_BOTTLE, 300);
  const auto codes = StreamAll(f.factory, batch.batch_id());
  auto ship = [&](const youma::v1::Dealer& d, size_t from, size_t to) {
    youma::v1::ShipmentReport report;
    report.set_dealer_id(d.dealer_id());
    auto* range = report.add_ranges();
    range->set_first_code_id(codes[from].code_id());
    range->set_last_code_id(codes[to].code_id());
    youma::v1::Shipment s;
    REQUIRE(f.factory.Call(&IssuerStub::ReportShipment, report, &s).ok());
  };
  // What a store owner in Shanghai is told about code #i (one owner per code).
  int scans = 0;
  auto warning = [&](size_t i) {
    return MustScan(f.scanner, Req(codes[i].url(), youma::v1::SCAN_ROLE_STORE_OWNER,
                                   absl::StrCat("shop-", tag, "-", ++scans), "310101"))
        .territory_warning();
  };
  ship(gz, 0, 299);    // the whole batch to Guangzhou,
  ship(sh, 100, 199);  // a part of it re-shipped to Shanghai,
  ship(bj, 140, 149);  // and a part of that on to Beijing
  for (size_t i : {0, 99, 200, 299}) {
    INFO("code #", i);
    CHECK(warning(i).find("authorized for 4401 (dealer gz-" + tag + ")") != std::string::npos);
  }
  for (size_t i : {100, 139, 150, 199}) {
    INFO("code #", i);
    CHECK(warning(i).empty());
  }
  for (size_t i : {140, 149}) {
    INFO("code #", i);
    CHECK(warning(i).find("authorized for 11 (dealer bj-" + tag + ")") != std::string::npos);
  }
  // Everything back to Guangzhou: the latest shipment wins again.
  ship(gz, 0, 299);
  for (size_t i : {120, 145}) {
    INFO("code #", i);
    CHECK(warning(i).find("authorized for 4401 (dealer gz-" + tag + ")") != std::string::npos);
  }
}

TEST_CASE("a shipment, its activation, an award and its payout recorded by an older youma during an upgrade are caught up within moments") {
  LogCapture log;
  TestServer server([&](app::AppOptions& o) {
    o.log = &log.log;
    o.upgrade_catch_up = absl::Milliseconds(100);
  });
  Fixture f(server);
  const std::string tag = absl::StrCat(::getpid());
  const youma::v1::Dealer gz = f.Dealer("gz-" + tag, "Guangzhou dealer", {"4401"});
  const youma::v1::Dealer sh = f.Dealer("sh-" + tag, "Shanghai dealer", {"31"});
  const auto batch =
      MakeBatch(f.factory, youma::v1::BATCH_KIND_BOTTLE, 300, 0, youma::v1::ACTIVATION_POLICY_ON_SHIPMENT);
  const auto codes = StreamAll(f.factory, batch.batch_id());
  // 70 codes shipped one by one by this youma: 70 activations, so that scans
  // read this batch's changes by block keys after the first.
  youma::v1::ShipmentReport report;
  report.set_dealer_id(gz.dealer_id());
  for (int k = 0; k < 70; ++k) {
    auto* range = report.add_ranges();
    range->set_first_code_id(codes[2 * k].code_id());
    range->set_last_code_id(codes[2 * k].code_id());
  }
  youma::v1::Shipment shipped;
  REQUIRE(f.factory.Call(&IssuerStub::ReportShipment, report, &shipped).ok());
  CHECK(shipped.activated() == 70);
  CHECK(MustScan(f.scanner, Req(codes[0].url())).verdict() == youma::v1::SCAN_VERDICT_GENUINE);
  CHECK(MustScan(f.scanner, Req(codes[200].url())).verdict() == youma::v1::SCAN_VERDICT_NOT_ACTIVE);

  // An older youma ships codes #200-#209 to Shanghai, recorded as it did:
  // no territory painted, no pieces for the activation.
  const std::string when = common::SqlTime(absl::Now() - absl::Minutes(1));
  uint64_t shipment_id = 0;
  REQUIRE_OK(server.app().pool().InTransaction([&](sql::Connection& c) -> absl::Status {
    storage::Execute(c, absl::StrCat("INSERT INTO shipments (brand, dealer_id, territory, cases, codes, activated, "
                                     "actor, ship_time, create_time) VALUES ('alpha', '", sh.dealer_id(),
                                     "', '31', 0, 10, 10, 'older-youma', '", when, "', '", when, "')"));
    std::unique_ptr<sql::Statement> st(c.createStatement());
    std::unique_ptr<sql::ResultSet> rs(st->executeQuery("SELECT LAST_INSERT_ID()"));
    rs->next();
    shipment_id = rs->getUInt64(1);
    storage::Execute(c, absl::StrCat("INSERT INTO shipment_ranges (shipment_id, first_code_id, last_code_id, brand) "
                                     "VALUES (", shipment_id, ", ", codes[200].code_id(), ", ", codes[209].code_id(),
                                     ", 'alpha')"));
    storage::Execute(c, absl::StrCat("INSERT INTO range_changes (brand, batch_id, action, first_code_id, "
                                     "last_code_id, reason, actor, effective_time, create_time) VALUES ('alpha', ",
                                     batch.batch_id(), ", 1, ", codes[200].code_id(), ", ", codes[209].code_id(),
                                     ", 'shipped', 'older-youma', '", when, "', '", when, "')"));
    // And an award of a campaign it ran, not counted in the campaign's totals.
    storage::Execute(c, absl::StrCat("INSERT INTO awards (campaign_id, code_id, role, award_id, brand, user_id, "
                                     "tier, amount_fen, client_scan_id, award_time) VALUES (999999, ",
                                     codes[0].code_id(), ", 1, 'older-upgrade-award-", tag, "', 'alpha', 'u', 0, 50, "
                                     "'older-scan', '", when, "')"));
    // Its payout, which its desk then confirmed.
    storage::Execute(c, absl::StrCat("INSERT INTO payouts (payout_id, brand, campaign_id, user_id, amount_fen, "
                                     "state, award_time) VALUES ('older-upgrade-payout-", tag, "', 'alpha', 999999, "
                                     "'u', 50, 3, '", when, "')"));
    return absl::OkStatus();
  }));
  // Caught up within moments (the test's catch-up runs every 0.1 s).
  bool painted = false, indexed = false, counted = false, moved = false;
  for (absl::Time until = absl::Now() + absl::Seconds(20);
       !(painted && indexed && counted && moved) && absl::Now() < until;) {
    absl::SleepFor(absl::Milliseconds(50));
    for (const nlohmann::json& e : log.Events("older_writes_caught_up")) {
      for (const auto& brand : e.value("brands_with_shipments_painted", nlohmann::json::array())) {
        painted |= brand == "alpha";
      }
      indexed |= e.value("range_changes_indexed", 0) > 0;
      counted |= e.value("awards_counted", 0) == 1;
      moved |= e.value("payout_states_counted", 0) == 1;
    }
  }
  CHECK(painted);
  CHECK(indexed);
  CHECK(counted);
  CHECK(moved);
  CHECK(server.QueryInt("SELECT payouts FROM payout_counts WHERE campaign_id = 999999 AND state = 3") == 1);
  CHECK(server.QueryInt("SELECT SUM(awards) FROM award_totals WHERE campaign_id = 999999") == 1);
  CHECK(server.QueryInt("SELECT SUM(amount_fen) FROM award_totals WHERE campaign_id = 999999") == 50);
  CHECK(server.QueryInt("SELECT COUNT(*) FROM awards WHERE counted = 0") == 0);
  CHECK(server.QueryInt("SELECT painted_through FROM shipment_locks WHERE brand = 'alpha'") ==
        static_cast<int64_t>(shipment_id));
  // Active now, and Shanghai's: a store owner in Guangzhou is warned.
  for (size_t i : {200, 209}) {
    INFO("code #", i);
    const ScanAnswer a = MustScan(f.scanner, Req(codes[i].url(), youma::v1::SCAN_ROLE_STORE_OWNER,
                                                 absl::StrCat("shop-gz-", tag, "-", i), "440106"));
    CHECK(a.verdict() == youma::v1::SCAN_VERDICT_GENUINE);
    CHECK(a.territory_warning().find("authorized for 31 (dealer sh-" + tag + ")") != std::string::npos);
  }
  CHECK(MustScan(f.scanner, Req(codes[210].url())).verdict() == youma::v1::SCAN_VERDICT_NOT_ACTIVE);
  CHECK(MustScan(f.scanner, Req(codes[2].url(), youma::v1::SCAN_ROLE_STORE_OWNER, "shop-gz-" + tag, "440106"))
            .territory_warning()
            .empty());
}

// A gauge's value in `families` with all of `labels` (NaN when missing).
double GaugeValue(const std::vector<prometheus::MetricFamily>& families, const std::string& name,
                  const std::map<std::string, std::string>& labels) {
  for (const auto& f : families) {
    if (f.name != name) continue;
    for (const auto& m : f.metric) {
      std::map<std::string, std::string> have;
      for (const auto& l : m.label) have[l.name] = l.value;
      if (have == labels) return m.gauge.value;
    }
  }
  return std::nan("");
}

TEST_CASE("budget left and diversion flags are gauges read from the database") {
  Fixture f;
  app::DatabaseGauges now(&f.server.app().pool(), absl::ZeroDuration(), absl::ZeroDuration());
  app::DatabaseGauges cached(&f.server.app().pool(), absl::Hours(1), absl::Hours(1));
  const auto codes = f.CodesOf("00000000000147", youma::v1::BATCH_KIND_BOTTLE, 3);
  auto spec = Spec(1'000, 100, 1'000'000);
  spec.set_gtins(0, "00000000000147");
  const youma::v1::Campaign c = Launch(f.admin, spec);
  const std::map<std::string, std::string> labels{{"brand", "alpha"}, {"campaign", absl::StrCat(c.campaign_id())}};
  CHECK(GaugeValue(now.Collect(), "youma_campaign_budget_left_fen", labels) == 1'000);
  CHECK(GaugeValue(cached.Collect(), "youma_campaign_budget_left_fen", labels) == 1'000);
  for (const auto& code : codes) CHECK(MustScan(f.scanner, Req(code.url())).rewards_size() == 1);
  CHECK(GaugeValue(now.Collect(), "youma_campaign_budget_left_fen", labels) == 700);
  CHECK(GaugeValue(cached.Collect(), "youma_campaign_budget_left_fen", labels) == 1'000);  // read an hour ago, say
  // Flags: a brand with none has no series yet.
  const double flags = GaugeValue(now.Collect(), "youma_diversion_flags", {{"brand", "alpha"}});
  CHECK((std::isnan(flags) ? 0 : flags) ==
        static_cast<double>(f.server.QueryInt("SELECT COUNT(*) FROM diversion_flags WHERE brand = 'alpha'")));
  End(f.admin, c.campaign_id());
  CHECK(std::isnan(GaugeValue(now.Collect(), "youma_campaign_budget_left_fen", labels)));  // live campaigns only
}

TEST_CASE("diversion: a store owner's case scan out of territory flags at once; consumers need two users") {
  Fixture f;
  app::DatabaseGauges gauges(&f.server.app().pool(), absl::ZeroDuration(), absl::ZeroDuration());
  auto flag_gauge = [&] {
    const double v = GaugeValue(gauges.Collect(), "youma_diversion_flags", {{"brand", "alpha"}});
    return std::isnan(v) ? 0.0 : v;
  };
  const double flags_before = flag_gauge();
  // The flags are counted at most once per their own refresh (a count over
  // every flag), whatever the budget's refresh.
  app::DatabaseGauges hourly_flags(&f.server.app().pool(), absl::ZeroDuration(), absl::Hours(1));
  auto hourly_flag_gauge = [&] {
    const double v = GaugeValue(hourly_flags.Collect(), "youma_diversion_flags", {{"brand", "alpha"}});
    return std::isnan(v) ? 0.0 : v;
  };
  CHECK(hourly_flag_gauge() == flags_before);
  const youma::v1::Dealer d = f.Dealer(absl::StrCat("div-", ::getpid()), "Guangzhou dealer", {"4401"});
  const auto set = f.Codes(youma::v1::BATCH_KIND_SET, 2, 6);  // cases at 0 and 7
  youma::v1::ShipmentReport ship;
  ship.set_dealer_id(d.dealer_id());
  ship.add_case_codes(set[0].url());
  ship.add_case_codes(set[7].url());
  youma::v1::Shipment s;
  REQUIRE(f.factory.Call(&IssuerStub::ReportShipment, ship, &s).ok());

  // In territory (Guangzhou, by GPS; Shenzhen by IP counts as Guangdong): nothing.
  CHECK(MustScan(f.scanner, Req(set[1].url(), youma::v1::SCAN_ROLE_CONSUMER, "c1", "440106")).territory_warning().empty());
  MustScan(f.scanner, Req(set[2].url(), youma::v1::SCAN_ROLE_CONSUMER, "c2", "440300", youma::v1::REGION_SOURCE_IP));
  CHECK(f.server.QueryInt(absl::StrCat("SELECT COUNT(*) FROM diversion_evidence WHERE case_code_id = ",
                                       set[0].code_id())) == 0);
  // A store owner opens the case in Shanghai: flagged at once, with a warning.
  const ScanAnswer owner = MustScan(f.scanner, Req(set[0].url(), youma::v1::SCAN_ROLE_STORE_OWNER, "shop-1", "310101"));
  CHECK(owner.territory_warning().find("authorized for 4401") != std::string::npos);
  CHECK(owner.territory_warning().find(d.dealer_id()) != std::string::npos);
  // The other case: consumers in Shanghai; one is not enough, two are.
  MustScan(f.scanner, Req(set[8].url(), youma::v1::SCAN_ROLE_CONSUMER, "s1", "310101"));
  MustScan(f.scanner, Req(set[9].url(), youma::v1::SCAN_ROLE_CONSUMER, "s1", "310104"));
  youma::v1::ListDiversionFlagsRequest list;
  list.set_dealer_id(d.dealer_id());
  youma::v1::ListDiversionFlagsResponse flags;
  REQUIRE(f.admin.Call(&RulesStub::ListDiversionFlags, list, &flags).ok());
  REQUIRE(flags.flags_size() == 1);
  CHECK(flags.flags(0).case_code_id() == set[0].code_id());
  CHECK(flags.flags(0).rule() == "store_owner_out_of_territory");
  CHECK(flags.flags(0).shipment_id() == s.shipment_id());
  REQUIRE(flags.flags(0).evidence_size() == 1);
  CHECK(flags.flags(0).evidence(0).region() == "310101");
  MustScan(f.scanner, Req(set[10].url(), youma::v1::SCAN_ROLE_CONSUMER, "s2", "310101"));
  REQUIRE(f.admin.Call(&RulesStub::ListDiversionFlags, list, &flags).ok());
  REQUIRE(flags.flags_size() == 2);
  CHECK(flags.flags(1).case_code_id() == set[7].code_id());
  CHECK(flags.flags(1).rule() == "consumers_out_of_territory");
  CHECK(flags.flags(1).parameters().find("min_users=2") != std::string::npos);
  CHECK(flags.flags(1).evidence_size() == 2);
  CHECK(flag_gauge() - flags_before == 2);
  CHECK(hourly_flag_gauge() == flags_before);  // read under an hour ago
  // By period: the last hour holds both; from an hour on, none yet.
  youma::v1::ListDiversionFlagsRequest period = list;
  *period.mutable_from_time() = common::ToProtoTime(absl::Now() - absl::Hours(1));
  *period.mutable_to_time() = common::ToProtoTime(absl::Now() + absl::Minutes(1));
  REQUIRE(f.admin.Call(&RulesStub::ListDiversionFlags, period, &flags).ok());
  CHECK(flags.flags_size() == 2);
  *period.mutable_from_time() = common::ToProtoTime(absl::Now() + absl::Hours(1));
  period.clear_to_time();
  REQUIRE(f.admin.Call(&RulesStub::ListDiversionFlags, period, &flags).ok());
  CHECK(flags.flags_size() == 0);
  period.mutable_to_time()->set_seconds(253402300800);  // 10000-01-01
  CHECK(f.admin.Call(&RulesStub::ListDiversionFlags, period, &flags).error_code() == grpc::INVALID_ARGUMENT);
  // Another brand's auditor sees none of it.
  TestClient beta = f.server.Connect("beta", youma::v1::ROLE_AUDITOR);
  youma::v1::ListDiversionFlagsRequest beta_list;
  REQUIRE(beta.Call(&RulesStub::ListDiversionFlags, beta_list, &flags).ok());
  CHECK(flags.flags_size() == 0);
}

TEST_CASE("diversion: consumers scanning one case at the same moment flag it, without deadlocks") {
  Fixture f;
  // Four mini-program backends stream at once: each user scans a bottle of
  // each case, another user another bottle of the same cases, all out of
  // territory. Their scans land in concurrent group commits; each case has
  // four distinct users' evidence and must be flagged, whichever commits last.
  const int cases = 60;
  const youma::v1::Dealer d = f.Dealer(absl::StrCat("race-", ::getpid()), "Guangzhou dealer", {"4401"});
  const auto set = f.Codes(youma::v1::BATCH_KIND_SET, cases, 6);  // case i at 7i, its bottles after it
  youma::v1::ShipmentReport ship;
  ship.set_dealer_id(d.dealer_id());
  for (int i = 0; i < cases; ++i) ship.add_case_codes(set[7 * i].url());
  youma::v1::Shipment s;
  REQUIRE(f.factory.Call(&IssuerStub::ReportShipment, ship, &s).ok());
  auto stream = [&](const std::string& user, int bottle) {
    std::vector<ScanRequest> requests;
    for (int i = 0; i < cases; ++i) {
      requests.push_back(Req(set[7 * i + bottle].url(), youma::v1::SCAN_ROLE_CONSUMER, user, "310101"));
    }
    return StreamScanAll(f.scanner, requests).size();
  };
  const double contention = CounterValue(f.server, "youma_scan_group_retries_total", "reason", "contention");
  std::vector<std::future<size_t>> streams;
  for (int u = 1; u <= 4; ++u) streams.push_back(std::async(std::launch::async, stream, Unique(absl::StrCat("u", u)), u));
  for (auto& s : streams) CHECK(s.get() == static_cast<size_t>(cases));
  // Groups lock the cases they flag in case order before they count: no
  // deadlock to retry.
  CHECK(CounterValue(f.server, "youma_scan_group_retries_total", "reason", "contention") == contention);
  youma::v1::ListDiversionFlagsRequest list;
  list.set_dealer_id(d.dealer_id());
  youma::v1::ListDiversionFlagsResponse flags;
  REQUIRE(f.admin.Call(&RulesStub::ListDiversionFlags, list, &flags).ok());
  CHECK(flags.flags_size() == cases);
  for (const auto& flag : flags.flags()) {
    CAPTURE(flag.case_code_id());
    CHECK(flag.rule() == "consumers_out_of_territory");
    CHECK(flag.evidence_size() == 4);
  }
}

TEST_CASE("StreamScans answers every scan on one stream, each with its client scan id") {
  Fixture f;
  const auto codes = f.Codes(youma::v1::BATCH_KIND_BOTTLE, 50);
  auto ctx = f.scanner.Context();
  auto stream = f.scanner.scan->StreamScans(ctx.get());
  std::map<std::string, uint64_t> sent;
  for (int i = 0; i < 60; ++i) {
    ScanRequest r = Req(i < 50 ? codes[i].url() : "HTTPS://YM.EXAMPLE.CN/BAD");
    sent[r.client_scan_id()] = i < 50 ? codes[i].code_id() : 0;
    REQUIRE(stream->Write(r));
  }
  stream->WritesDone();
  ScanAnswer a;
  int genuine = 0, errors = 0;
  while (stream->Read(&a)) {
    REQUIRE(sent.count(a.client_scan_id()) == 1);
    if (a.error_code() != 0) {
      ++errors;
      CHECK(a.error_code() == grpc::INVALID_ARGUMENT);
    } else {
      CHECK(a.code_id() == sent[a.client_scan_id()]);
      genuine += a.verdict() == youma::v1::SCAN_VERDICT_GENUINE;
    }
    sent.erase(a.client_scan_id());
  }
  CHECK(stream->Finish().ok());
  CHECK(genuine == 50);
  CHECK(errors == 10);
  CHECK(sent.empty());
}

}  // namespace
}  // namespace youma::testing

namespace youma::testing {
namespace {

TEST_CASE("every RulesService call refuses another brand, and its campaigns are not found") {
  Fixture f;
  TestClient beta_admin = f.server.Connect("beta", youma::v1::ROLE_ADMIN);
  const youma::v1::Campaign alpha_campaign = Launch(f.admin, Spec(10000, 100, 1000));
  const auto denied = [](const grpc::Status& st) { return st.error_code() == grpc::PERMISSION_DENIED; };
  youma::v1::Campaign c;
  {
    youma::v1::CreateCampaignRequest r;
    r.set_brand("alpha");
    *r.mutable_spec() = Spec(10000, 100, 1000);
    CHECK(denied(beta_admin.Call(&RulesStub::CreateCampaign, r, &c)));
  }
  {
    youma::v1::UpdateCampaignRequest r;
    r.set_brand("alpha");
    r.set_campaign_id(alpha_campaign.campaign_id());
    *r.mutable_spec() = alpha_campaign.spec();
    CHECK(denied(beta_admin.Call(&RulesStub::UpdateCampaign, r, &c)));
    r.clear_brand();
    CHECK(beta_admin.Call(&RulesStub::UpdateCampaign, r, &c).error_code() == grpc::NOT_FOUND);
  }
  for (auto method : {&RulesStub::LaunchCampaign, &RulesStub::EndCampaign, &RulesStub::GetCampaign}) {
    youma::v1::CampaignRef ref;
    ref.set_brand("alpha");
    ref.set_campaign_id(alpha_campaign.campaign_id());
    CHECK(denied(beta_admin.Call(method, ref, &c)));
    ref.clear_brand();
    CHECK(beta_admin.Call(method, ref, &c).error_code() == grpc::NOT_FOUND);
  }
  {
    youma::v1::CampaignRef ref;
    ref.set_brand("alpha");
    ref.set_campaign_id(alpha_campaign.campaign_id());
    youma::v1::DrawAudit audit;
    CHECK(denied(beta_admin.Call(&RulesStub::VerifyDraws, ref, &audit)));
    ref.clear_brand();
    CHECK(beta_admin.Call(&RulesStub::VerifyDraws, ref, &audit).error_code() == grpc::NOT_FOUND);
  }
  {
    youma::v1::ListCampaignsRequest r;
    r.set_brand("alpha");
    youma::v1::ListCampaignsResponse out;
    CHECK(denied(beta_admin.Call(&RulesStub::ListCampaigns, r, &out)));
    r.clear_brand();
    REQUIRE(beta_admin.Call(&RulesStub::ListCampaigns, r, &out).ok());
    for (const auto& x : out.campaigns()) CHECK(x.brand() == "beta");
  }
  {
    youma::v1::ListDiversionFlagsRequest r;
    r.set_brand("alpha");
    youma::v1::ListDiversionFlagsResponse out;
    CHECK(denied(beta_admin.Call(&RulesStub::ListDiversionFlags, r, &out)));
  }
  // A scanner token cannot run campaigns.
  youma::v1::CreateCampaignRequest r;
  *r.mutable_spec() = Spec(10000, 100, 1000);
  CHECK(denied(f.scanner.Call(&RulesStub::CreateCampaign, r, &c)));
  End(f.admin, alpha_campaign.campaign_id());
}

}  // namespace
}  // namespace youma::testing

namespace youma::testing {
namespace {

TEST_CASE("fraud limits: a limited scan is answered without a reward and counted in the report") {
  Fixture f;
  const auto codes = f.CodesOf("00000000000048", youma::v1::BATCH_KIND_BOTTLE, 20);
  auto spec = Spec(100000, 100, 1'000'000);
  spec.set_gtins(0, "00000000000048");
  spec.mutable_limits()->set_max_scans_per_user_per_day(2);
  spec.mutable_limits()->set_max_scans_per_device_per_day(3);
  spec.mutable_limits()->set_max_travel_kmh(900);
  const youma::v1::Campaign c = Launch(f.admin, spec);

  // Per user: two scans win, the third is limited (still recorded).
  int won = 0;
  for (int i = 0; i < 3; ++i) {
    ScanRequest r = Req(codes[i].url(), youma::v1::SCAN_ROLE_CONSUMER, "greedy");
    r.set_device_id(absl::StrCat("device-", i));
    const ScanAnswer a = MustScan(f.scanner, r);
    CHECK(a.verdict() == youma::v1::SCAN_VERDICT_GENUINE);
    won += a.rewards_size();
    if (i == 2) CHECK(a.no_reward_reason() == "limited: more than 2 scans by this user today in this campaign");
  }
  CHECK(won == 2);
  CHECK(f.server.QueryInt(absl::StrCat("SELECT COUNT(*) FROM scans WHERE code_id = ", codes[2].code_id())) == 1);
  // Per device: four users on one phone; the fourth is limited.
  for (int i = 3; i < 7; ++i) {
    ScanRequest r = Req(codes[i].url(), youma::v1::SCAN_ROLE_CONSUMER, absl::StrCat("farm-", i));
    r.set_device_id("one-phone");
    const ScanAnswer a = MustScan(f.scanner, r);
    CHECK(a.rewards_size() == (i < 6 ? 1 : 0));
    if (i == 6) CHECK(a.no_reward_reason().find("by this device") != std::string::npos);
  }
  // Impossible travel: Guangzhou, then Beijing a minute later.
  ScanRequest gz = Req(codes[7].url(), youma::v1::SCAN_ROLE_CONSUMER, "traveller", "440106");
  gz.set_latitude(23.13);
  gz.set_longitude(113.26);
  gz.set_device_id("t-1");
  const ScanAnswer near = MustScan(f.scanner, gz);
  INFO(near.no_reward_reason());
  CHECK(near.rewards_size() == 1);
  ScanRequest bj = Req(codes[8].url(), youma::v1::SCAN_ROLE_CONSUMER, "traveller", "110101");
  bj.set_latitude(39.90);
  bj.set_longitude(116.40);
  bj.set_device_id("t-2");
  const ScanAnswer far = MustScan(f.scanner, bj);
  CHECK(far.rewards().empty());
  CHECK(far.no_reward_reason().find("km from this user's last scan") != std::string::npos);

  youma::v1::CampaignRef ref;
  ref.set_campaign_id(c.campaign_id());
  youma::v1::Campaign report;
  REQUIRE(f.admin.Call(&RulesStub::GetCampaign, ref, &report).ok());
  std::map<std::string, int64_t> hits;
  for (const auto& h : report.limits_hit()) hits[h.rule()] = h.scans();
  CHECK(hits["user_velocity"] == 1);
  CHECK(hits["device_velocity"] == 1);
  CHECK(hits["impossible_travel"] == 1);
  CHECK(hits.count("case_sweep") == 0);
  // Loosening a limit after launch is fine; tightening is refused.
  youma::v1::UpdateCampaignRequest update;
  update.set_campaign_id(c.campaign_id());
  *update.mutable_spec() = report.spec();
  update.mutable_spec()->mutable_limits()->set_max_scans_per_user_per_day(1);
  youma::v1::Campaign out;
  CHECK(f.admin.Call(&RulesStub::UpdateCampaign, update, &out).error_code() == grpc::FAILED_PRECONDITION);
  update.mutable_spec()->mutable_limits()->set_max_scans_per_user_per_day(5);
  CHECK(f.admin.Call(&RulesStub::UpdateCampaign, update, &out).ok());
  End(f.admin, c.campaign_id());
}

}  // namespace
}  // namespace youma::testing

namespace youma::testing {
namespace {

TEST_CASE("fraud limits: a user's first scans in two cities at the same moment, one is impossible travel") {
  Fixture f;
  // Two backends stream at once: each of 40 users scans a code in Guangzhou on
  // one stream and another code in Beijing on the other. The users have no
  // position yet; whichever of a user's two scans commits second is limited.
  const int users = 40;
  const auto codes = f.CodesOf("00000000000123", youma::v1::BATCH_KIND_BOTTLE, 2 * users);
  auto spec = Spec(1'000'000, 100, 1'000'000);
  spec.set_gtins(0, "00000000000123");
  spec.mutable_limits()->set_max_travel_kmh(900);
  const youma::v1::Campaign c = Launch(f.admin, spec);
  std::vector<std::string> names;
  for (int i = 0; i < users; ++i) names.push_back(Unique("flyer"));
  auto city = [&](int first_code, const std::string& region, double lat, double lng) {
    std::vector<ScanRequest> requests;
    for (int i = 0; i < users; ++i) {
      ScanRequest r = Req(codes[first_code + i].url(), youma::v1::SCAN_ROLE_CONSUMER, names[i], region);
      r.set_latitude(lat);
      r.set_longitude(lng);
      requests.push_back(r);
    }
    return StreamScanAll(f.scanner, requests);
  };
  auto guangzhou = std::async(std::launch::async, city, 0, "440106", 23.13, 113.26);
  auto beijing = std::async(std::launch::async, city, users, "110101", 39.90, 116.40);
  std::vector<ScanAnswer> answers = guangzhou.get();
  for (ScanAnswer& a : beijing.get()) answers.push_back(std::move(a));
  REQUIRE(answers.size() == static_cast<size_t>(2 * users));
  int won = 0, too_far = 0;
  for (const ScanAnswer& a : answers) {
    won += a.rewards_size();
    too_far += a.no_reward_reason().find("km from this user's last scan") != std::string::npos;
  }
  CHECK(won == users);
  CHECK(too_far == users);
  // Each user won once: with one city, not both.
  CHECK(f.server.QueryInt(absl::StrCat("SELECT COUNT(*) FROM (SELECT user_id FROM awards WHERE campaign_id = ",
                                       c.campaign_id(), " GROUP BY user_id HAVING COUNT(*) = 1) one")) == users);
  CHECK(f.server.QueryInt(absl::StrCat("SELECT scans FROM limit_hits WHERE rule = 'impossible_travel' AND "
                                       "campaign_id = ", c.campaign_id())) == users);
  End(f.admin, c.campaign_id());
}

TEST_CASE("fraud limits: one user sweeping the bottles of one case is limited") {
  Fixture f;
  const auto set = f.CodesOf("00000000000055", youma::v1::BATCH_KIND_SET, 1, 6);
  auto spec = Spec(100000, 100, 1'000'000);
  spec.set_gtins(0, "00000000000055");
  spec.mutable_limits()->set_max_bottles_per_user_per_case(2);
  const youma::v1::Campaign c = Launch(f.admin, spec);
  int won = 0;
  std::string last_reason;
  for (int b = 1; b <= 4; ++b) {
    ScanRequest r = Req(set[b].url(), youma::v1::SCAN_ROLE_CONSUMER, "sweeper");
    r.clear_region();
    r.set_region_source(youma::v1::REGION_SOURCE_UNSPECIFIED);
    r.set_device_id(absl::StrCat("d", b));
    const ScanAnswer a = MustScan(f.scanner, r);
    won += a.rewards_size();
    last_reason = a.no_reward_reason();
  }
  CHECK(won == 2);
  CHECK(last_reason == "limited: more than 2 scans by this user of bottles from one case in this campaign");
  // Another user may still win from the same case.
  CHECK(MustScan(f.scanner, Req(set[5].url(), youma::v1::SCAN_ROLE_CONSUMER, "neighbour")).rewards_size() == 1);
  End(f.admin, c.campaign_id());
}

}  // namespace
}  // namespace youma::testing
