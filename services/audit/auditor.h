// Audit reads: the scan log from a cursor, the counterfeit map and the
// diversion report. Plain values in, protos out; the gRPC front is thin.
//
//   Auditor auditor(&pool, &campaigns, &index, {});
//   YOUMA_ASSIGN_OR_RETURN(ScanLogChunk chunk, auditor.ReadScanLog("moutai", cursor, 1000));
//   // store chunk.next_cursor(); call again from it later: nothing is skipped or repeated.
#pragma once

#include <mutex>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/common/keyset_registry.h"
#include "services/issuer/batch_index.h"
#include "services/rules/campaign_admin.h"
#include "services/storage/daily_jobs.h"
#include "services/storage/mysql.h"
#include "youma/v1/audit.pb.h"

namespace youma::audit {

struct AuditOptions {
  // Scans recorded less than this long ago are not exported yet: another
  // server's clock may be behind this one's (the scan-log gate covers the
  // groups still committing, see services/storage/scan_log_gate.h).
  absl::Duration scan_log_hold_back = absl::Seconds(5);
  // How long an export waits for the scan groups in flight before it answers
  // UNAVAILABLE; groups that start meanwhile wait as long.
  absl::Duration scan_log_gate_wait = absl::Seconds(1);
  // The diversion report's by_shipment lists at most this many shipments
  // (the most flagged first); shipments_flagged counts them all.
  int report_shipments = 1000;
  // Personal data (who scanned, from which device, IP and place) is cleared
  // from records this many days old (Auditor::ForgetPersonalData, hourly on
  // servers with the scan service on). 0: kept for good.
  int personal_data_days = 0;
};

// What one Auditor::ForgetPersonalData call cleared.
struct ForgottenPersonalData {
  int64_t scans = 0;           // scan-log rows whose user, device, IP and coordinates were cleared
  int64_t positions = 0;       // users' last positions deleted (the impossible-travel check)
  int64_t first_ips = 0;       // campaigns' accounts whose first IP was cleared
};

// The diversion report as CSV, one row per piece of evidence.
std::string DiversionCsv(const youma::v1::DiversionReportResponse& report);

// The report's totals as lines for people: a line per dealer, then per
// shipment, each with the provinces its goods were scanned in:
//   "dealer gz-001: 3 flagged cases, 5 scans of evidence; scanned in 31 (4), 11 (1)"
//   "shipment 17 to gz-001 on 2026-11-02: 1 flagged case, 1 scan of evidence; scanned in 31 (1)"
std::string DiversionTotalsText(const youma::v1::DiversionReportResponse& report);

// A whole diversion report, page after page: `fetch(req)` reads one page
// (the RPC, or Auditor::DiversionReport), returning
// absl::StatusOr<DiversionReportResponse>. The flags of every page are
// gathered behind the first's, which holds the totals.
template <typename Fetch>
absl::StatusOr<youma::v1::DiversionReportResponse> WholeDiversionReport(youma::v1::DiversionReportRequest req,
                                                                        Fetch&& fetch) {
  if (req.page_size() == 0) req.set_page_size(1000);  // well within a message's 4 MB
  absl::StatusOr<youma::v1::DiversionReportResponse> whole = fetch(req);
  if (!whole.ok()) return whole;
  for (req.set_page_token(whole->next_page_token()); !req.page_token().empty();) {
    absl::StatusOr<youma::v1::DiversionReportResponse> page = fetch(req);
    if (!page.ok()) return page.status();
    for (auto& flag : *page->mutable_flags()) *whole->add_flags() = std::move(flag);
    req.set_page_token(page->next_page_token());
  }
  whole->clear_next_page_token();
  return whole;
}

class Auditor {
 public:
  Auditor(storage::ConnectionPool* pool, rules::CampaignAdmin* campaigns, issuer::BatchIndex* index,
          common::KeysetRegistry* keysets, AuditOptions options)
      : pool_(pool), campaigns_(campaigns), index_(index), keysets_(keysets), options_(options) {}

  // Up to `rows` scan-log rows after `cursor` (or from `from`, without one)
  // and recorded before `to`; next_cursor is where to go on.
  // INVALID_ARGUMENT for a cursor this server did not make.
  absl::StatusOr<youma::v1::ScanLogChunk> ReadScanLog(const std::string& brand,
                                                      const std::string& cursor, int rows,
                                                      absl::Time from = absl::InfinitePast(),
                                                      absl::Time to = absl::InfiniteFuture());
  absl::StatusOr<youma::v1::CounterfeitMapResponse> CounterfeitMap(
      const std::string& brand, const youma::v1::CounterfeitMapRequest& req);
  absl::StatusOr<youma::v1::DiversionReportResponse> DiversionReport(
      const std::string& brand, const youma::v1::DiversionReportRequest& req);
  // The history of a code (or a case with its bottles) as EPCIS 2.0 JSON.
  // INVALID_ARGUMENT for a code that is not a youma code, NOT_FOUND for one
  // that is not a genuine code of a batch of this brand.
  absl::StatusOr<youma::v1::CodeHistoryResponse> CodeHistory(const std::string& brand,
                                                             const youma::v1::CodeHistoryRequest& req);

  // Counts the scans of whole hours per brand and province into scan_hours
  // (the console's map reads them instead of the scan log), oldest hour
  // first from the first scan recorded, and only hours no scan can still
  // join: ended before the scan-log gate's last pass less the hold-back
  // (passing the gate when that would let an hour more through). At most
  // `max_hours` per call; returns how many it counted. Servers may run it at
  // once: each hour is counted by one of them. UNAVAILABLE when the gate
  // cannot be passed (a scan group is stalled).
  absl::StatusOr<int> RollUpScanHours(int max_hours);

  // Clears what identifies a person from records made before `before`
  // (personal_data_days ago; PIPL asks for no longer than the purpose needs):
  //   - in the scan log, the user id, device id, client IP and coordinates;
  //     the code, region, times, verdict and answer stay, so histories, maps,
  //     exports and draw audits still hold (exports show the fields empty);
  //   - users' last positions (deleted) and campaigns' accounts' first IPs
  //     (cleared); the fraud limits' per-day counters, keyed by user, device
  //     and IP, are kept two days in any case (rules::PruneDayCounters);
  // at most `max_scans` scan-log rows per brand per call, a committed chunk at
  // a time (each brand's progress is kept: a call does not read the rows
  // cleared before). Positions and first IPs, in tables with no index by
  // time, are read once per day, by one server of many (storage::DailyJobs). Kept: awards and payouts (who was paid),
  // stores (accounts) and diversion evidence (the users that make a flag).
  // Servers may run it at once.
  absl::StatusOr<ForgottenPersonalData> ForgetPersonalData(absl::Time before, int64_t max_scans);

 private:
  // When this server last passed the scan-log gate (InfinitePast: never).
  absl::Time LastGatePass();
  // Passes the scan-log gate; returns the time before the pass (every scan
  // stamped before it is visible).
  absl::StatusOr<absl::Time> PassGate();

  storage::ConnectionPool* pool_;
  rules::CampaignAdmin* campaigns_;
  issuer::BatchIndex* index_;
  common::KeysetRegistry* keysets_;
  AuditOptions options_;
  std::mutex gate_mu_;
  absl::Time gate_passed_ = absl::InfinitePast();
  storage::DailyJobs daily_jobs_{pool_};  // the positions' and first IPs' once-a-day pass
};

}  // namespace youma::audit
