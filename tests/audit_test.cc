// AuditService end to end: the scan log from a cursor, the counterfeit map and
// the diversion report, on a real MariaDB and server.
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/harness.h"
#include "youma/v1/audit.grpc.pb.h"

namespace youma::testing {
namespace {

using IssuerStub = youma::v1::IssuerService::Stub;
using ScanStub = youma::v1::ScanService::Stub;

struct AuditFixture {
  TestServer server{[](app::AppOptions& o) {
    o.audit.scan_log_hold_back = absl::ZeroDuration();
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

TEST_CASE("the diversion report filters by dealer, region and product, with totals per dealer") {
  AuditFixture f;
  youma::v1::CreateDealerRequest dealer;
  dealer.set_dealer_id("gz-1");
  dealer.set_name("Guangzhou");
  dealer.add_territory("4401");
  youma::v1::Dealer d;
  REQUIRE(f.factory.Call(&IssuerStub::CreateDealer, dealer, &d).ok());
  const auto set = StreamAll(f.factory, MakeBatch(f.factory, youma::v1::BATCH_KIND_SET, 2, 2).batch_id());
  youma::v1::ShipmentReport ship;
  ship.set_dealer_id("gz-1");
  ship.add_case_codes(set[0].url());
  ship.add_case_codes(set[3].url());
  youma::v1::Shipment s;
  REQUIRE(f.factory.Call(&IssuerStub::ReportShipment, ship, &s).ok());
  f.Scan(set[0].url(), "o1", youma::v1::SCAN_ROLE_STORE_OWNER, "shop-sh", "310101");
  f.Scan(set[3].url(), "o2", youma::v1::SCAN_ROLE_STORE_OWNER, "shop-bj", "110101");
  youma::v1::DiversionReportRequest req;
  youma::v1::DiversionReportResponse report;
  auto ctx = f.auditor.Context();
  REQUIRE(f.audit->DiversionReport(ctx.get(), req, &report).ok());
  CHECK(report.flags_size() == 2);
  REQUIRE(report.by_dealer_size() == 1);
  CHECK(report.by_dealer(0).dealer_id() == "gz-1");
  CHECK(report.by_dealer(0).flagged_cases() == 2);
  CHECK(report.by_dealer(0).evidence_scans() == 2);
  req.set_region_prefix("31");
  auto ctx2 = f.auditor.Context();
  REQUIRE(f.audit->DiversionReport(ctx2.get(), req, &report).ok());
  REQUIRE(report.flags_size() == 1);
  CHECK(report.flags(0).case_code_id() == set[0].code_id());
  req.clear_region_prefix();
  req.set_gtin("00000000000017");
  auto ctx3 = f.auditor.Context();
  REQUIRE(f.audit->DiversionReport(ctx3.get(), req, &report).ok());
  CHECK(report.flags_size() == 0);
  req.clear_gtin();
  req.set_dealer_id("nobody");
  auto ctx4 = f.auditor.Context();
  REQUIRE(f.audit->DiversionReport(ctx4.get(), req, &report).ok());
  CHECK(report.flags_size() == 0);
}

}  // namespace
}  // namespace youma::testing
