// bench/audit: the brand's audit reads over a large scan log, each beside a
// plain indexed range scan of the same table reading the same rows, in the
// same run and on the same MariaDB.
//
//   1. The diversion report for one dealer and one month (AuditService over
//      gRPC) beside a range scan of the flags by (brand, dealer, time) joined
//      to their evidence.
//   2. The scan-log export of one day (AuditService.ExportScanLog streaming
//      every row of that day) beside a range scan of the scans of that day on
//      the (brand, record_time) index, reading every column.
//   3. Reading a campaign with one award per ten scans (RulesService.GetCampaign,
//      what the console does every 5 s) beside counting its award ledger
//      (what that read did before award totals).
//   4. The console's map of scans by province over 30 days (from the hours
//      counted into scan_hours, and the scan log for the rest) beside
//      counting those 30 days of the scan log (what it did before).
//
//   build/bench/audit_bench                 # 10,000,000 scans over 100 days
//   build/bench/audit_bench --rows 1000000  # fewer
//   build/bench/audit_bench --smoke         # 200,000 scans (CI)
#include <cstdio>
#include <cstring>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bench/bench_server.h"
#include "services/common/time_util.h"
#include "services/storage/mysql.h"
#include "services/web/console_reads.h"
#include "youma/v1/audit.grpc.pb.h"
#include "youma/v1/rules.grpc.pb.h"

namespace {

using youma::bench::Check;
using youma::bench::Die;
using youma::bench::SecondsSince;
using youma::common::SqlTime;

constexpr int kDays = 100;
constexpr int kDealers = 50;

// Runs `sql` on `c` (no result).
void Exec(sql::Connection& c, const std::string& sql) {
  std::unique_ptr<sql::Statement> st(c.createStatement());
  st->execute(sql);
}

// Reads every row and column of `sql`'s result, as a client would; returns the row count.
int64_t ReadAll(sql::Connection& c, const std::string& sql) {
  std::unique_ptr<sql::Statement> st(c.createStatement());
  std::unique_ptr<sql::ResultSet> rs(st->executeQuery(sql));
  const int columns = static_cast<int>(rs->getMetaData()->getColumnCount());
  int64_t rows = 0;
  size_t bytes = 0;
  while (rs->next()) {
    ++rows;
    for (int i = 1; i <= columns; ++i) bytes += rs->getString(i).length();
  }
  if (bytes == 0 && rows > 0) Die("the range scan read no bytes");
  return rows;
}

}  // namespace

int main(int argc, char** argv) {
  bool smoke = false;
  int64_t rows = 10'000'000;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--smoke") == 0) {
      smoke = true;
      rows = 200'000;
    } else if (std::strcmp(argv[i], "--rows") == 0 && i + 1 < argc) {
      rows = std::atoll(argv[++i]);
    } else {
      Die("usage: audit_bench [--smoke] [--rows N]");
    }
  }
  if (rows < kDays * 100) Die("--rows must be at least 10000");
  // The hours of scans are counted below, by hand, once the log is filled.
  youma::bench::BenchServer server([](youma::app::AppOptions& o) { o.scan_hours_rollup = absl::ZeroDuration(); });
  youma::storage::ConnectionPool& pool = server.app().pool();

  // The scan log: `rows` genuine scans over 100 days ending yesterday, each
  // with a real serialized answer; 1 in 500 cases flagged for diversion with
  // three pieces of evidence, spread over 50 dealers.
  const absl::Time end = absl::Now() - absl::Hours(24);
  const absl::Time begin = end - absl::Hours(24 * kDays);
  youma::v1::ScanAnswer answer;
  answer.set_verdict(youma::v1::SCAN_VERDICT_GENUINE);
  answer.set_gtin("06901234567892");
  answer.set_product_name("飞天 53% vol 500ml");
  answer.set_batch_id(1'000'001);
  answer.set_code_id(1'000'123);
  answer.mutable_history()->set_scan_count(1);
  answer.mutable_history()->set_first_region("440106");
  answer.set_message("Genuine. First scan.");
  answer.set_no_reward_reason("no prize this time");
  const std::string answer_hex = absl::BytesToHexString(answer.SerializeAsString());
  const int64_t span_us = absl::ToInt64Microseconds(end - begin);
  const int64_t flags = rows / 500;
  const auto fill_start = std::chrono::steady_clock::now();
  Check(pool.WithConnection([&](sql::Connection& c) -> absl::Status {
    constexpr int64_t kChunk = 500'000;
    for (int64_t first = 1; first <= rows; first += kChunk) {
      const int64_t last = std::min(rows, first + kChunk - 1);
      Exec(c, absl::StrCat(
                  "INSERT INTO scans (brand, client_scan_id, code_id, role, user_id, device_id, client_ip, "
                  "region, region_source, latitude, longitude, scan_time, record_time, verdict, answer) "
                  "SELECT 'bench', CONCAT('s', LPAD(seq, 10, '0')), 1000000000 + seq, 1, CONCAT('u', seq % 1000003), "
                  "CONCAT('d', seq % 500009), '203.0.113.7', ELT(1 + seq % 4, '440106', '110105', '310101', '510104'), "
                  "1, NULL, NULL, TIMESTAMPADD(MICROSECOND, seq * ", span_us / rows, ", '", SqlTime(begin),
                  "'), TIMESTAMPADD(MICROSECOND, seq * ", span_us / rows, " + 1000, '", SqlTime(begin),
                  "'), 1, X'", answer_hex, "' FROM seq_", first, "_to_", last));
      std::fprintf(stderr, "\rfilling the scan log: %lld of %lld rows", static_cast<long long>(last),
                   static_cast<long long>(rows));
    }
    std::fprintf(stderr, "\n");
    Exec(c, absl::StrCat("INSERT INTO diversion_flags (brand, case_code_id, rule, parameters, dealer_id, shipment_id, "
                         "territory, flag_time) SELECT 'bench', 2000000000 + seq, 'consumers_out_of_territory', "
                         "'min_users=2', CONCAT('dealer-', LPAD(seq % ", kDealers, ", 2, '0')), seq % 997, '44', "
                         "TIMESTAMPADD(MICROSECOND, seq * ", span_us / flags, ", '", SqlTime(begin),
                         "') FROM seq_1_to_", flags));
    Exec(c, absl::StrCat("INSERT INTO diversion_evidence (case_code_id, user_id, brand, client_scan_id, role, region, "
                         "region_source, scan_time) SELECT 2000000000 + f.seq, CONCAT('u', f.seq, '-', e.seq), "
                         "'bench', CONCAT('s', LPAD(f.seq * 3 + e.seq, 10, '0')), 1, '110105', 1, "
                         "TIMESTAMPADD(MICROSECOND, f.seq * ", span_us / flags, ", '", SqlTime(begin),
                         "') FROM seq_1_to_", flags, " f, seq_1_to_3 e"));
    ReadAll(c, "ANALYZE TABLE scans, diversion_flags, diversion_evidence");
    return absl::OkStatus();
  }), "filling the scan log");
  const double fill_secs = SecondsSince(fill_start);

  auto channel = grpc::CreateChannel(server.app().address(), grpc::InsecureChannelCredentials());
  auto audit = youma::v1::AuditService::NewStub(channel);
  auto context = [&] {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->AddMetadata("authorization", "Bearer " + server.admin_token());
    return ctx;
  };

  // 1. Diversion report: one dealer, one month (days 30 to 60).
  const absl::Time month_from = begin + absl::Hours(24 * 30), month_to = begin + absl::Hours(24 * 60);
  youma::v1::DiversionReportRequest report_req;
  report_req.set_brand("bench");
  report_req.set_dealer_id("dealer-07");
  *report_req.mutable_from_time() = youma::common::ToProtoTime(month_from);
  *report_req.mutable_to_time() = youma::common::ToProtoTime(month_to);
  double report_secs = 1e9, report_scan_secs = 1e9;
  int64_t report_flags = 0, report_scan_rows = 0;
  for (int run = 0; run < 3; ++run) {
    youma::v1::DiversionReportResponse report;
    const auto t0 = std::chrono::steady_clock::now();
    Check(audit->DiversionReport(context().get(), report_req, &report), "DiversionReport");
    report_secs = std::min(report_secs, SecondsSince(t0));
    report_flags = report.flags_size();
    Check(pool.WithConnection([&](sql::Connection& c) -> absl::Status {
      const auto t1 = std::chrono::steady_clock::now();
      report_scan_rows = ReadAll(
          c, absl::StrCat("SELECT f.*, e.* FROM diversion_flags f JOIN diversion_evidence e ON e.case_code_id = "
                          "f.case_code_id WHERE f.brand = 'bench' AND f.dealer_id = 'dealer-07' AND f.flag_time >= '",
                          SqlTime(month_from), "' AND f.flag_time < '", SqlTime(month_to), "'"));
      report_scan_secs = std::min(report_scan_secs, SecondsSince(t1));
      return absl::OkStatus();
    }), "range scan of the flags");
  }
  if (report_flags == 0 || report_scan_rows != report_flags * 3) {
    Die(absl::StrCat("the report has ", report_flags, " flags, the range scan ", report_scan_rows, " evidence rows"));
  }

  // 2. Scan-log export of one day (day 50).
  const absl::Time day_from = begin + absl::Hours(24 * 50), day_to = day_from + absl::Hours(24);
  youma::v1::ExportScanLogRequest export_req;
  export_req.set_brand("bench");
  export_req.set_chunk_rows(5000);
  *export_req.mutable_from_time() = youma::common::ToProtoTime(day_from);
  *export_req.mutable_to_time() = youma::common::ToProtoTime(day_to);
  double export_secs = 1e9, export_scan_secs = 1e9;
  int64_t exported = 0, day_rows = 0;
  for (int run = 0; run < 3; ++run) {
    const auto t0 = std::chrono::steady_clock::now();
    auto ctx = context();
    auto reader = audit->ExportScanLog(ctx.get(), export_req);
    youma::v1::ScanLogChunk chunk;
    exported = 0;
    while (reader->Read(&chunk)) exported += chunk.rows_size();
    Check(reader->Finish(), "ExportScanLog");
    export_secs = std::min(export_secs, SecondsSince(t0));
    Check(pool.WithConnection([&](sql::Connection& c) -> absl::Status {
      const auto t1 = std::chrono::steady_clock::now();
      day_rows = ReadAll(c, absl::StrCat("SELECT record_time, client_scan_id, code_id, role, user_id, device_id, "
                                         "client_ip, region, region_source, latitude, longitude, scan_time, answer "
                                         "FROM scans WHERE brand = 'bench' AND record_time >= '",
                                         SqlTime(day_from), "' AND record_time < '", SqlTime(day_to),
                                         "' ORDER BY record_time, client_scan_id"));
      export_scan_secs = std::min(export_scan_secs, SecondsSince(t1));
      return absl::OkStatus();
    }), "range scan of one day");
  }
  if (exported == 0 || exported != day_rows) {
    Die(absl::StrCat("the export has ", exported, " rows, the range scan ", day_rows));
  }

  // 3. A campaign with rows / 10 awards of 1 yuan, written as scan groups
  // write them: the ledger, and the totals on the 16 budget shards.
  auto rules = youma::v1::RulesService::NewStub(channel);
  youma::v1::CreateCampaignRequest create;
  create.set_brand("bench");
  *create.mutable_spec() = youma::bench::RedPacketCampaign(1'000'000'000'000, begin);
  youma::v1::Campaign campaign;
  Check(rules->CreateCampaign(context().get(), create, &campaign), "CreateCampaign");
  const int64_t awards = rows / 10;
  Check(pool.WithConnection([&](sql::Connection& c) -> absl::Status {
    constexpr int64_t kChunk = 500'000;
    for (int64_t first = 1; first <= awards; first += kChunk) {
      const int64_t last = std::min(awards, first + kChunk - 1);
      Exec(c, absl::StrCat("INSERT INTO awards (campaign_id, code_id, role, award_id, brand, user_id, tier, "
                           "amount_fen, client_scan_id, award_time, counted) SELECT ", campaign.campaign_id(),
                           ", 3000000000 + seq, 1, MD5(seq), 'bench', CONCAT('u', seq % 1000003), 0, 100, "
                           "CONCAT('s', LPAD(seq * 10, 10, '0')), TIMESTAMPADD(MICROSECOND, seq * ",
                           span_us / awards, ", '", SqlTime(begin), "'), 1 FROM seq_", first, "_to_", last));
    }
    Exec(c, absl::StrCat("INSERT INTO award_totals (campaign_id, tier, shard, awards, amount_fen) SELECT "
                         "campaign_id, tier, code_id % 16, COUNT(*), SUM(amount_fen) FROM awards WHERE campaign_id = ",
                         campaign.campaign_id(), " GROUP BY campaign_id, tier, code_id % 16"));
    return absl::OkStatus();
  }), "filling the award ledger");
  youma::v1::CampaignRef ref;
  ref.set_brand("bench");
  ref.set_campaign_id(campaign.campaign_id());
  double campaign_secs = 1e9, ledger_secs = 1e9;
  int64_t ledger_awards = 0;
  for (int run = 0; run < 3; ++run) {
    const auto t0 = std::chrono::steady_clock::now();
    Check(rules->GetCampaign(context().get(), ref, &campaign), "GetCampaign");
    campaign_secs = std::min(campaign_secs, SecondsSince(t0));
    Check(pool.WithConnection([&](sql::Connection& c) -> absl::Status {
      const auto t1 = std::chrono::steady_clock::now();
      std::unique_ptr<sql::Statement> st(c.createStatement());
      std::unique_ptr<sql::ResultSet> rs(st->executeQuery(absl::StrCat(
          "SELECT tier, COUNT(*), SUM(amount_fen) FROM awards WHERE campaign_id = ", campaign.campaign_id(),
          " GROUP BY tier")));
      ledger_awards = 0;
      while (rs->next()) ledger_awards += rs->getInt64(2);
      ledger_secs = std::min(ledger_secs, SecondsSince(t1));
      return absl::OkStatus();
    }), "counting the award ledger");
  }
  if (campaign.awards() != awards || ledger_awards != awards || campaign.spent_fen() != 100 * awards) {
    Die(absl::StrCat("the campaign read says ", campaign.awards(), " awards and ", campaign.spent_fen(),
                     " fen; the ledger has ", ledger_awards, " of ", awards));
  }

  // 4. The map: every hour of the log counted first (as servers do each
  // minute; a week of hours per turn), then 30 days read.
  const auto rollup_start = std::chrono::steady_clock::now();
  for (;;) {
    absl::StatusOr<int> hours = server.app().auditor().RollUpScanHours(24 * 7);
    Check(hours.status(), "RollUpScanHours");
    if (*hours == 0) break;
  }
  const double rollup_secs = SecondsSince(rollup_start);
  youma::web::ConsoleReads reads(&pool);
  double map_secs = 1e9, map_log_secs = 1e9;
  int64_t map_scans = 0, log_scans = 0;
  for (int run = 0; run < 3; ++run) {
    const auto t0 = std::chrono::steady_clock::now();
    absl::StatusOr<std::vector<youma::web::ProvinceCount>> map = reads.Provinces("bench", month_from, month_to);
    Check(map.status(), "the console's map");
    map_secs = std::min(map_secs, SecondsSince(t0));
    map_scans = 0;
    for (const auto& p : *map) map_scans += p.scans;
    Check(pool.WithConnection([&](sql::Connection& c) -> absl::Status {
      const auto t1 = std::chrono::steady_clock::now();
      std::unique_ptr<sql::Statement> st(c.createStatement());
      std::unique_ptr<sql::ResultSet> rs(st->executeQuery(absl::StrCat(
          "SELECT LEFT(region, 2), COUNT(*) FROM scans WHERE brand = 'bench' AND record_time >= '",
          SqlTime(month_from), "' AND record_time < '", SqlTime(month_to), "' AND verdict <> 2 GROUP BY LEFT(region, 2)")));
      log_scans = 0;
      while (rs->next()) log_scans += rs->getInt64(2);
      map_log_secs = std::min(map_log_secs, SecondsSince(t1));
      return absl::OkStatus();
    }), "counting 30 days of the scan log");
  }
  if (map_scans == 0 || map_scans != log_scans) {
    Die(absl::StrCat("the map counts ", map_scans, " scans, the scan log ", log_scans));
  }

  std::printf("youma audit benchmark%s: %lld scans over %d days (filled in %.1f s), %lld diversion flags, "
              "best of 3 runs\n\n",
              smoke ? " (smoke mode: figures not meaningful)" : "", static_cast<long long>(rows), kDays, fill_secs,
              static_cast<long long>(flags));
  std::printf("%-44s %10s %10s   %-46s %10s %7s\n", "measure", "rows", "seconds", "limit (same run)", "seconds",
              "ratio");
  auto row = [](const char* what, int64_t n, double secs, const char* limit_name, double limit) {
    std::printf("%-44s %10lld %10.3f   %-46s %10.3f %6.0f%%\n", what, static_cast<long long>(n), secs, limit_name,
                limit, secs > 0 ? 100.0 * limit / secs : 0.0);
  };
  row("diversion report, one dealer, one month", report_flags, report_secs,
      "indexed range scan: flags + evidence, same rows", report_scan_secs);
  row("scan-log export of one day (gRPC stream)", exported, export_secs,
      "indexed range scan: scans of that day, all cols", export_scan_secs);
  std::printf("%-44s %10lld %10.4f   %-46s %10.3f %6.0fx\n", "campaign read (GetCampaign), its awards",
              static_cast<long long>(awards), campaign_secs, "counting its award ledger (the read before)",
              ledger_secs, campaign_secs > 0 ? ledger_secs / campaign_secs : 0.0);
  std::printf("%-44s %10lld %10.4f   %-46s %10.3f %6.0fx\n", "console map of scans by province, 30 days",
              static_cast<long long>(map_scans), map_secs, "counting those 30 days of the scan log", map_log_secs,
              map_secs > 0 ? map_log_secs / map_secs : 0.0);
  std::printf("(the scan log's %d days counted into scan_hours first, as servers do: %.1f s)\n", kDays, rollup_secs);
  std::printf("\nratio: the range scan's time over the audit call's (100%% = as fast as reading the rows "
              "straight from MariaDB); for the campaign read and the map, how many times faster they are than "
              "counting the rows they stand for\n");
  return 0;
}
