#include "services/audit/auditor.h"

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "services/audit/epcis.h"
#include "services/common/csv.h"
#include "services/common/status_macros.h"
#include "services/common/time_util.h"
#include "services/issuer/shipment_ranges.h"
#include "services/storage/scan_log_gate.h"

namespace youma::audit {
namespace {

using storage::Prepare;

std::string MakeCursor(const std::string& record_time, const std::string& scan_id) {
  return absl::WebSafeBase64Escape(absl::StrCat(record_time, "|", scan_id));
}

absl::Status ParseCursor(const std::string& cursor, std::string* record_time, std::string* scan_id) {
  std::string raw;
  if (!absl::WebSafeBase64Unescape(cursor, &raw)) {
    return absl::InvalidArgumentError("the cursor is not one ExportScanLog returned");
  }
  const size_t bar = raw.find('|');
  if (bar == std::string::npos || bar != 26) {
    return absl::InvalidArgumentError("the cursor is not one ExportScanLog returned");
  }
  *record_time = raw.substr(0, bar);
  *scan_id = raw.substr(bar + 1);
  return absl::OkStatus();
}

// The diversion report's totals, per dealer and per shipment, each with the
// provinces its evidence was scanned in.
class DiversionTotals {
 public:
  void Add(const youma::v1::DiversionFlag& flag) {
    Add(flag, dealers_[flag.dealer_id()]);
    Shipment& s = shipments_[flag.shipment_id()];
    // Unshipped cases (shipment 0) have no dealer, and take their batches'
    // planned territories: no one territory.
    if (s.cases == 0 && flag.shipment_id() != 0) {
      s.dealer = flag.dealer_id();
      s.territory.assign(flag.territory().begin(), flag.territory().end());
    }
    Add(flag, s);
  }

  // Writes by_dealer, by_shipment (the `max_shipments` most flagged, with
  // their ship times) and shipments_flagged.
  absl::Status Fill(storage::ConnectionPool& pool, const std::string& brand, int max_shipments,
                    youma::v1::DiversionReportResponse* out) const {
    for (const auto& [dealer, totals] : dealers_) {
      auto* d = out->add_by_dealer();
      d->set_dealer_id(dealer);
      d->set_flagged_cases(totals.cases);
      d->set_evidence_scans(totals.scans);
      AddProvinces(totals, d->mutable_scanned_in());
    }
    std::vector<const std::pair<const uint64_t, Shipment>*> most;
    for (const auto& s : shipments_) most.push_back(&s);
    std::sort(most.begin(), most.end(), [](const auto* a, const auto* b) {
      return a->second.cases != b->second.cases ? a->second.cases > b->second.cases : a->first < b->first;
    });
    if (most.size() > static_cast<size_t>(std::max(max_shipments, 0))) most.resize(std::max(max_shipments, 0));
    std::vector<uint64_t> shipped;
    for (const auto* s : most) {
      if (s->first != 0) shipped.push_back(s->first);
    }
    std::map<uint64_t, absl::Time> ship_times;
    if (!shipped.empty()) {
      YOUMA_RETURN_IF_ERROR(pool.WithConnection([&](sql::Connection& c) -> absl::Status {
        std::unique_ptr<sql::Statement> st(c.createStatement());
        std::unique_ptr<sql::ResultSet> rs(st->executeQuery(
            absl::StrCat("SELECT shipment_id, ship_time FROM shipments WHERE brand = ", storage::Quote(c, brand),
                         " AND shipment_id IN (", absl::StrJoin(shipped, ","), ")")));
        while (rs->next()) ship_times[rs->getUInt64(1)] = common::ParseSqlTime(rs->getString(2));
        return absl::OkStatus();
      }));
    }
    for (const auto* s : most) {
      const Shipment& totals = s->second;
      auto* d = out->add_by_shipment();
      d->set_shipment_id(s->first);
      d->set_dealer_id(totals.dealer);
      if (auto it = ship_times.find(s->first); it != ship_times.end()) {
        *d->mutable_ship_time() = common::ToProtoTime(it->second);
      }
      for (const std::string& t : totals.territory) d->add_territory(t);
      d->set_flagged_cases(totals.cases);
      d->set_evidence_scans(totals.scans);
      AddProvinces(totals, d->mutable_scanned_in());
    }
    out->set_shipments_flagged(static_cast<int64_t>(shipments_.size()));
    return absl::OkStatus();
  }

 private:
  struct Totals {
    int64_t cases = 0, scans = 0;
    std::map<std::string, int64_t> provinces;  // evidence scans by province prefix
  };
  struct Shipment : Totals {
    std::string dealer;
    std::vector<std::string> territory;
  };

  static void Add(const youma::v1::DiversionFlag& flag, Totals& t) {
    ++t.cases;
    t.scans += flag.evidence_size();
    for (const auto& e : flag.evidence()) ++t.provinces[e.region().substr(0, 2)];
  }
  static void AddProvinces(const Totals& t, google::protobuf::RepeatedPtrField<youma::v1::ProvinceScans>* out) {
    std::vector<std::pair<std::string, int64_t>> sorted(t.provinces.begin(), t.provinces.end());
    std::stable_sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    for (const auto& [province, scans] : sorted) {
      auto* p = out->Add();
      p->set_province(province);
      p->set_scans(scans);
    }
  }

  std::map<std::string, Totals> dealers_;
  std::map<uint64_t, Shipment> shipments_;
};

}  // namespace

std::string DiversionCsv(const youma::v1::DiversionReportResponse& report) {
  using common::CsvField;
  std::string out =
      "case_code_id,rule,dealer_id,shipment_id,territory,scan_id,role,user_id,region,region_source,scan_time\n";
  for (const auto& f : report.flags()) {
    for (const auto& e : f.evidence()) {
      absl::StrAppend(&out, f.case_code_id(), ",", CsvField(f.rule()), ",", CsvField(f.dealer_id()), ",",
                      f.shipment_id(), ",", CsvField(absl::StrJoin(f.territory(), " ")), ",",
                      CsvField(e.client_scan_id()), ",", youma::v1::ScanRole_Name(e.role()), ",",
                      CsvField(e.user_id()), ",", CsvField(e.region()), ",",
                      youma::v1::RegionSource_Name(e.region_source()), ",",
                      absl::FormatTime(absl::RFC3339_full, common::FromProtoTime(e.scan_time()), absl::UTCTimeZone()),
                      "\n");
    }
  }
  return out;
}

std::string DiversionTotalsText(const youma::v1::DiversionReportResponse& report) {
  auto scanned_in = [](const google::protobuf::RepeatedPtrField<youma::v1::ProvinceScans>& provinces) {
    std::vector<std::string> parts;
    for (const auto& p : provinces) parts.push_back(absl::StrFormat("%s (%d)", p.province(), p.scans()));
    return parts.empty() ? std::string() : absl::StrCat("; scanned in ", absl::StrJoin(parts, ", "));
  };
  auto counts = [](int64_t cases, int64_t scans) {
    return absl::StrFormat("%d flagged case%s, %d scan%s of evidence", cases, cases == 1 ? "" : "s", scans,
                           scans == 1 ? "" : "s");
  };
  std::string out;
  for (const auto& d : report.by_dealer()) {
    absl::StrAppendFormat(&out, "dealer %s: %s%s\n",
                          d.dealer_id().empty() ? "(never shipped: planned territory)" : d.dealer_id(),
                          counts(d.flagged_cases(), d.evidence_scans()), scanned_in(d.scanned_in()));
  }
  for (const auto& s : report.by_shipment()) {
    const std::string which =
        s.shipment_id() == 0
            ? std::string("cases never shipped (planned territory)")
            : absl::StrCat("shipment ", s.shipment_id(), " to ", s.dealer_id(),
                           s.has_ship_time() ? absl::FormatTime(" on %Y-%m-%d", common::FromProtoTime(s.ship_time()),
                                                                common::ChinaTime())
                                             : "");
    absl::StrAppendFormat(&out, "%s: %s%s\n", which, counts(s.flagged_cases(), s.evidence_scans()),
                          scanned_in(s.scanned_in()));
  }
  if (report.shipments_flagged() > report.by_shipment_size()) {
    absl::StrAppendFormat(&out, "(and %d more shipments with fewer flagged cases: the CSV lists every flag)\n",
                          report.shipments_flagged() - report.by_shipment_size());
  }
  return out;
}

absl::StatusOr<youma::v1::ScanLogChunk> Auditor::ReadScanLog(const std::string& brand,
                                                             const std::string& cursor, int rows,
                                                             absl::Time from, absl::Time to) {
  std::string after_time = "0000-00-00 00:00:00.000000", after_id;
  if (!cursor.empty()) {
    YOUMA_RETURN_IF_ERROR(ParseCursor(cursor, &after_time, &after_id));
  } else if (from != absl::InfinitePast()) {
    after_time = common::SqlTime(from);  // with no id, rows at exactly `from` come too
  }
  if (rows <= 0 || rows > 10000) return absl::InvalidArgumentError("rows must be 1 to 10000");
  youma::v1::ScanLogChunk out;
  std::string last_time = after_time, last_id = after_id;
  // Appends the rows after the cursor recorded before `until`, up to the chunk's size.
  auto read = [&](absl::Time until) -> absl::Status {
    return pool_->WithConnection([&](sql::Connection& c) -> absl::Status {
      auto st = Prepare(c,
                        "SELECT DATE_FORMAT(record_time, '%Y-%m-%d %H:%i:%s.%f'), client_scan_id, "
                        "code_id, role, user_id, device_id, client_ip, region, region_source, "
                        "latitude, longitude, scan_time, answer FROM scans WHERE brand = ? AND "
                        "record_time < ? AND (record_time > ? OR (record_time = ? AND client_scan_id > ?)) "
                        "ORDER BY record_time, client_scan_id LIMIT ?");
      st->setString(1, brand);
      st->setString(2, common::SqlTime(until));
      st->setString(3, last_time);
      st->setString(4, last_time);
      st->setString(5, last_id);
      st->setInt(6, rows - out.rows_size());
      std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
      while (rs->next()) {
        auto* row = out.add_rows();
        last_time = rs->getString(1);
        last_id = rs->getString(2);
        auto* r = row->mutable_request();
        r->set_brand(brand);
        r->set_client_scan_id(last_id);
        r->set_role(static_cast<youma::v1::ScanRole>(rs->getInt(4)));
        r->set_user_id(rs->getString(5));
        r->set_device_id(rs->getString(6));
        r->set_client_ip(rs->getString(7));
        r->set_region(rs->getString(8));
        r->set_region_source(static_cast<youma::v1::RegionSource>(rs->getInt(9)));
        if (!rs->isNull(10)) r->set_latitude(rs->getDouble(10));
        if (!rs->isNull(11)) r->set_longitude(rs->getDouble(11));
        *r->mutable_scan_time() = common::ToProtoTime(common::ParseSqlTime(rs->getString(12)));
        if (!row->mutable_answer()->ParseFromString(rs->getString(13))) {
          return absl::DataLossError(absl::StrCat("scan ", last_id, " has an answer that does not parse"));
        }
        *row->mutable_record_time() = common::ToProtoTime(common::ParseSqlTime(last_time));
      }
      return absl::OkStatus();
    });
  };
  // Scans stamped before the scan-log gate was last passed are all visible
  // (see scan_log_gate.h; the hold-back covers the clocks of other servers,
  // which stamp their own). A chunk filled from before then needs no new
  // pass: an export catching up does not hold up the scan groups chunk by
  // chunk. One that reaches that point passes the gate again and goes on.
  const absl::Time passed = LastGatePass();
  const absl::Time safe = std::min(passed - options_.scan_log_hold_back, to);
  if (passed != absl::InfinitePast()) YOUMA_RETURN_IF_ERROR(read(safe));
  // (A window that ends before the last pass has nothing more to wait for.)
  if (out.rows_size() < rows && safe < to) {
    YOUMA_ASSIGN_OR_RETURN(const absl::Time now, PassGate());
    if (const absl::Time until = std::min(now - options_.scan_log_hold_back, to); until > safe) {
      YOUMA_RETURN_IF_ERROR(read(until));
    }
  }
  out.set_next_cursor(out.rows().empty() ? cursor : MakeCursor(last_time, last_id));
  return out;
}

absl::StatusOr<absl::Time> Auditor::PassGate() {
  const absl::Time now = absl::Now();  // before the pass: stamped before this, visible after it
  YOUMA_RETURN_IF_ERROR(storage::PassScanLogGate(*pool_, options_.scan_log_gate_wait));
  std::lock_guard<std::mutex> lock(gate_mu_);
  gate_passed_ = std::max(gate_passed_, now);
  return now;
}

absl::StatusOr<int> Auditor::RollUpScanHours(int max_hours) {
  // The next hour to count: after the last one counted, else the first
  // scan's (one probe per brand on scans_record); the brands to count.
  absl::Time next = absl::InfiniteFuture();
  std::vector<std::string> brands;  // quoted
  YOUMA_RETURN_IF_ERROR(pool_->WithConnection([&](sql::Connection& c) -> absl::Status {
    std::unique_ptr<sql::Statement> st(c.createStatement());
    std::unique_ptr<sql::ResultSet> rs(
        st->executeQuery("SELECT brand, MIN(record_time) FROM scans GROUP BY brand"));
    while (rs->next()) {
      brands.push_back(storage::Quote(c, std::string(rs->getString(1))));
      next = std::min(next, common::HourStart(common::ParseSqlTime(rs->getString(2))));
    }
    rs.reset(st->executeQuery("SELECT MAX(hour) FROM scan_hours_rolled"));
    if (rs->next() && !rs->isNull(1)) next = common::ParseSqlTime(rs->getString(1)) + absl::Hours(1);
    return absl::OkStatus();
  }));
  if (brands.empty()) return 0;  // no scan yet
  const std::string brand_list = absl::StrJoin(brands, ",");
  absl::Time safe = LastGatePass() - options_.scan_log_hold_back;
  int counted = 0;
  for (; counted < max_hours; ++counted, next += absl::Hours(1)) {
    const absl::Time end = next + absl::Hours(1);
    if (end > safe) {
      // Only when a pass now could let this hour through.
      if (end > absl::Now() - options_.scan_log_hold_back) break;
      YOUMA_ASSIGN_OR_RETURN(const absl::Time passed, PassGate());
      safe = passed - options_.scan_log_hold_back;
      if (end > safe) break;
    }
    absl::StatusOr<bool> mine = pool_->InTransaction([&](sql::Connection& c) -> absl::StatusOr<bool> {
      // The hour's row first: a server counting it at the same time waits
      // here, then finds it taken.
      std::unique_ptr<sql::Statement> st(c.createStatement());
      if (st->executeUpdate(absl::StrCat("INSERT IGNORE INTO scan_hours_rolled (hour, rolled_time) VALUES ('",
                                         common::SqlTime(next), "', '", common::SqlTime(absl::Now()), "')")) == 0) {
        return false;
      }
      st->execute(absl::StrCat("INSERT INTO scan_hours (brand, hour, province, scans) SELECT brand, '",
                               common::SqlTime(next), "', LEFT(region, 2), COUNT(*) FROM scans WHERE brand IN (",
                               brand_list, ") AND record_time >= '", common::SqlTime(next),
                               "' AND record_time < '", common::SqlTime(end),
                               "' AND verdict <> 2 GROUP BY brand, LEFT(region, 2)"));
      return true;
    });
    if (!mine.ok()) return mine.status();
    if (!*mine) break;  // another server is counting from here
  }
  return counted;
}

absl::StatusOr<ForgottenPersonalData> Auditor::ForgetPersonalData(absl::Time before, int64_t max_scans) {
  constexpr int kChunk = 2000;
  ForgottenPersonalData out;
  const std::string cutoff = common::SqlTime(before);
  // The scan log, brand by brand, from the scan the last call stopped after,
  // in scans_record's (record_time, client_scan_id) order: a group's scans
  // share one record time, so the scan id breaks the ties. Record times are
  // stamped at commit: no scan can still appear before a cutoff days ago.
  struct Mark {
    std::string brand, time, scan_id;
  };
  std::vector<Mark> brands;
  YOUMA_RETURN_IF_ERROR(pool_->WithConnection([&](sql::Connection& c) -> absl::Status {
    std::unique_ptr<sql::Statement> st(c.createStatement());
    std::unique_ptr<sql::ResultSet> rs(st->executeQuery(
        "SELECT s.brand, COALESCE(p.through, '0000-00-00 00:00:00'), COALESCE(p.through_scan_id, '') FROM "
        "(SELECT brand FROM scans GROUP BY brand) s LEFT JOIN personal_data_cleared p ON p.brand = s.brand"));
    while (rs->next()) brands.push_back({rs->getString(1), rs->getString(2), rs->getString(3)});
    return absl::OkStatus();
  }));
  for (Mark& m : brands) {
    for (int64_t done = 0; m.time < cutoff && done < max_scans;) {
      // Where this chunk ends; taken once it commits (a transaction run
      // again on a new connection starts from `m` again).
      Mark next;
      size_t read = 0;
      YOUMA_ASSIGN_OR_RETURN(const int64_t cleared, pool_->InTransaction([&](sql::Connection& c) -> absl::StatusOr<int64_t> {
        auto rows = Prepare(c, "SELECT client_scan_id, record_time FROM scans WHERE brand = ? AND record_time < ? "
                               "AND (record_time > ? OR (record_time = ? AND client_scan_id > ?)) "
                               "ORDER BY record_time, client_scan_id LIMIT ?");
        rows->setString(1, m.brand);
        rows->setString(2, cutoff);
        rows->setString(3, m.time);
        rows->setString(4, m.time);
        rows->setString(5, m.scan_id);
        rows->setInt(6, kChunk);
        std::unique_ptr<sql::ResultSet> rs(rows->executeQuery());
        std::vector<std::string> ids;
        next = m;
        while (rs->next()) {
          next.scan_id = rs->getString(1);
          next.time = rs->getString(2);
          ids.push_back(storage::Quote(c, next.scan_id));
        }
        int64_t n = 0;
        if (!ids.empty()) {
          std::unique_ptr<sql::Statement> st(c.createStatement());
          n = st->executeUpdate(absl::StrCat(
              "UPDATE scans SET user_id = '', device_id = '', client_ip = '', latitude = NULL, longitude = NULL "
              "WHERE brand = ", storage::Quote(c, m.brand), " AND client_scan_id IN (", absl::StrJoin(ids, ","),
              ") AND (user_id <> '' OR device_id <> '' OR client_ip <> '' OR latitude IS NOT NULL)"));
        }
        // A short chunk reached the cutoff: everything before it is clear.
        if (ids.size() < static_cast<size_t>(kChunk)) next = {m.brand, cutoff, ""};
        auto mark = Prepare(c, "INSERT INTO personal_data_cleared (brand, through, through_scan_id) VALUES (?, ?, ?) "
                               "ON DUPLICATE KEY UPDATE through_scan_id = IF((VALUES(through), VALUES(through_scan_id)) "
                               "> (through, through_scan_id), VALUES(through_scan_id), through_scan_id), "
                               "through = GREATEST(through, VALUES(through))");
        mark->setString(1, m.brand);
        mark->setString(2, next.time);
        mark->setString(3, next.scan_id);
        mark->executeUpdate();
        read = ids.size();
        return n;
      }));
      m = next;
      done += static_cast<int64_t>(read);
      out.scans += cleared;
    }
  }
  // Positions and first IPs (tables with no index by time: read whole, in
  // one pass each), once a day by one server of many. The fraud limits'
  // per-day counters are pruned to two days anyway (rules::PruneDayCounters).
  const std::string day = absl::FormatTime("%Y-%m-%d", before, common::ChinaTime());
  // Each walked by its primary key, a stretch per short transaction.
  constexpr int kStretch = 10'000;
  auto sweep = [&]() -> absl::Status {
    YOUMA_ASSIGN_OR_RETURN(out.positions,
                           storage::SweepByKey(*pool_, "DELETE FROM user_positions", "user_positions",
                                               {{"brand"}, {"user_id"}}, absl::StrCat("scan_time < '", cutoff, "'"),
                                               kStretch));
    YOUMA_ASSIGN_OR_RETURN(out.first_ips,
                           storage::SweepByKey(*pool_, "UPDATE campaign_users SET first_ip = ''", "campaign_users",
                                               {{"campaign_id", true}, {"user_id"}},
                                               absl::StrCat("first_time < '", cutoff, "' AND first_ip <> ''"),
                                               kStretch));
    return absl::OkStatus();
  };
  // kTaken: another server is at it; kDone: cleared before.
  YOUMA_RETURN_IF_ERROR(daily_jobs_.RunOnce("personal_data_day_tables", day, sweep).status());
  return out;
}

absl::Time Auditor::LastGatePass() {
  std::lock_guard<std::mutex> lock(gate_mu_);
  return gate_passed_;
}

absl::StatusOr<youma::v1::CounterfeitMapResponse> Auditor::CounterfeitMap(
    const std::string& brand, const youma::v1::CounterfeitMapRequest& req) {
  YOUMA_ASSIGN_OR_RETURN(const absl::Time from, common::RequestTimeOr(req.has_from_time(), req.from_time(),
                                                                       "from_time", absl::UnixEpoch()));
  YOUMA_ASSIGN_OR_RETURN(const absl::Time to, common::RequestTimeOr(req.has_to_time(), req.to_time(), "to_time",
                                                                     absl::Now() + absl::Hours(1)));
  if (to <= from) return absl::InvalidArgumentError("to_time must be after from_time");
  return pool_->WithConnection([&](sql::Connection& c) -> absl::StatusOr<youma::v1::CounterfeitMapResponse> {
    auto st = Prepare(c,
                      "SELECT region, DATE(hour), SUM(scans) FROM counterfeit_counts WHERE brand = ? "
                      "AND hour >= ? AND hour < ? GROUP BY region, DATE(hour) ORDER BY DATE(hour), region");
    st->setString(1, brand);
    st->setString(2, common::SqlTime(from));
    st->setString(3, common::SqlTime(to));
    std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
    youma::v1::CounterfeitMapResponse out;
    while (rs->next()) {
      auto* cell = out.add_cells();
      cell->set_region(rs->getString(1));
      cell->set_day(rs->getString(2));
      cell->set_scans(rs->getInt64(3));
      out.set_total(out.total() + cell->scans());
    }
    return out;
  });
}

absl::StatusOr<youma::v1::DiversionReportResponse> Auditor::DiversionReport(
    const std::string& brand, const youma::v1::DiversionReportRequest& req) {
  youma::v1::ListDiversionFlagsRequest list;
  list.set_dealer_id(req.dealer_id());
  if (req.has_from_time()) *list.mutable_from_time() = req.from_time();
  if (req.has_to_time()) *list.mutable_to_time() = req.to_time();
  list.set_page_size(req.page_size());
  list.set_page_token(req.page_token());
  auto matches = [&](const youma::v1::DiversionFlag& flag) {
    if (!req.gtin().empty()) {
      absl::StatusOr<issuer::BatchInfo> batch = index_->Find(flag.case_code_id());
      if (!batch.ok() || batch->gtin != req.gtin()) return false;
    }
    if (req.region_prefix().empty()) return true;
    for (const auto& e : flag.evidence()) {
      if (absl::StartsWith(e.region(), req.region_prefix())) return true;
    }
    return false;
  };
  YOUMA_ASSIGN_OR_RETURN(youma::v1::ListDiversionFlagsResponse flags, campaigns_->DiversionFlags(brand, list));
  youma::v1::DiversionReportResponse out;
  out.set_next_page_token(flags.next_page_token());
  DiversionTotals totals;
  for (auto& flag : *flags.mutable_flags()) {
    if (!matches(flag)) continue;
    if (req.page_token().empty()) totals.Add(flag);
    *out.add_flags() = std::move(flag);
  }
  if (!req.page_token().empty()) return out;  // the totals came with the first page
  // The totals count every flag the filters match: the pages after this one too.
  list.set_page_size(0);  // the largest
  for (list.set_page_token(flags.next_page_token()); !list.page_token().empty();) {
    YOUMA_ASSIGN_OR_RETURN(youma::v1::ListDiversionFlagsResponse more, campaigns_->DiversionFlags(brand, list));
    for (const auto& flag : more.flags()) {
      if (matches(flag)) totals.Add(flag);
    }
    list.set_page_token(more.next_page_token());
  }
  YOUMA_RETURN_IF_ERROR(totals.Fill(*pool_, brand, options_.report_shipments, &out));
  return out;
}

absl::StatusOr<youma::v1::CodeHistoryResponse> Auditor::CodeHistory(const std::string& brand,
                                                                     const youma::v1::CodeHistoryRequest& req) {
  uint64_t code_id = req.code_id();
  if (!req.code().empty()) {
    YOUMA_ASSIGN_OR_RETURN(std::shared_ptr<const common::BrandKeys> keys, keysets_->Get(brand));
    const codegen::Verification v = keys->verifier.Verify(req.code());
    if (v.verdict == codegen::Verdict::kMalformed || v.verdict == codegen::Verdict::kUnverifiable) {
      return absl::InvalidArgumentError(absl::StrCat("the code is not a youma code: ", v.problem));
    }
    if (v.verdict != codegen::Verdict::kGenuine) {
      return absl::NotFoundError(absl::StrCat("the code is not a genuine code of brand ", brand));
    }
    if (code_id != 0 && code_id != v.code_id) {
      return absl::InvalidArgumentError("code and code_id name different codes: give one");
    }
    code_id = v.code_id;
  }
  if (code_id == 0) return absl::InvalidArgumentError("give the code (URL or token) or its code_id");
  absl::StatusOr<issuer::BatchInfo> batch = index_->Find(code_id);
  if (!batch.ok() || batch->brand != brand) {
    if (!batch.ok() && !absl::IsNotFound(batch.status())) return batch.status();
    return absl::NotFoundError(absl::StrCat("no code ", code_id, " in a batch of brand ", brand));
  }
  const bool is_case = batch->IsCase(code_id);
  return pool_->WithConnection([&](sql::Connection& c) -> absl::StatusOr<youma::v1::CodeHistoryResponse> {
    EpcisDocument doc(brand);
    std::vector<uint64_t> codes = {code_id};  // whose commissioning and scans are told
    uint64_t case_id = is_case ? code_id : 0;
    // Aggregation: a SET batch packs by construction when it is made; other
    // bottles were linked by the line's report.
    struct Link {
      uint64_t bottle;
      std::string line;
      absl::Time when;
    };
    std::vector<Link> links;
    if (is_case && batch->kind == youma::v1::BATCH_KIND_SET) {
      for (uint32_t i = 1; i <= batch->set_size; ++i) links.push_back({code_id + i, "", absl::InfinitePast()});
    } else if (!is_case) {
      if (auto set_case = batch->SetCaseOf(code_id)) {
        case_id = *set_case;
        links.push_back({code_id, "", absl::InfinitePast()});
      }
    }
    if (links.empty()) {
      auto st = Prepare(c, absl::StrCat("SELECT bottle_code_id, case_code_id, production_line, create_time FROM "
                                        "aggregation_links WHERE brand = ? AND ",
                                        is_case ? "case_code_id = ?" : "bottle_code_id = ?",
                                        " ORDER BY bottle_code_id"));
      st->setString(1, brand);
      st->setUInt64(2, code_id);
      std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
      while (rs->next()) {
        case_id = rs->getUInt64(2);
        links.push_back({rs->getUInt64(1), rs->getString(3), common::ParseSqlTime(rs->getString(4))});
      }
    }
    if (is_case) {
      for (const Link& l : links) codes.push_back(l.bottle);
    }
    // Commissioning, one event per batch, at the batch's creation.
    std::map<uint64_t, std::pair<issuer::BatchInfo, std::vector<uint64_t>>> by_batch;
    for (uint64_t id : codes) {
      absl::StatusOr<issuer::BatchInfo> b = index_->Find(id);
      if (!b.ok()) continue;
      auto& entry = by_batch[b->batch_id];
      entry.first = *b;
      entry.second.push_back(id);
    }
    if (!is_case && case_id != 0) {
      // The bottle's case, for the packing and shipping events.
      if (absl::StatusOr<issuer::BatchInfo> b = index_->Find(case_id); b.ok()) by_batch[b->batch_id].first = *b;
    }
    std::map<uint64_t, absl::Time> created;
    {
      std::string ids;
      for (const auto& [id, entry] : by_batch) absl::StrAppend(&ids, ids.empty() ? "" : ",", id);
      std::unique_ptr<sql::Statement> st(c.createStatement());
      std::unique_ptr<sql::ResultSet> rs(
          st->executeQuery(absl::StrCat("SELECT batch_id, create_time FROM batches WHERE batch_id IN (", ids, ")")));
      while (rs->next()) created[rs->getUInt64(1)] = common::ParseSqlTime(rs->getString(2));
    }
    for (const auto& [id, entry] : by_batch) {
      if (!entry.second.empty()) doc.Commissioning(created[id], entry.second, id, entry.first.gtin);
    }
    if (case_id != 0 && !links.empty()) {
      // Links made at printing (SET) carry their batch's time; reported ones their own.
      std::map<std::pair<int64_t, std::string>, std::vector<uint64_t>> packs;
      for (const Link& l : links) {
        const absl::Time when = l.when == absl::InfinitePast() ? created[batch->batch_id] : l.when;
        packs[{absl::ToUnixMicros(when), l.line}].push_back(l.bottle);
      }
      for (const auto& [key, bottles] : packs) {
        doc.Aggregation(absl::FromUnixMicros(key.first), case_id, bottles, key.second);
      }
    }
    {
      auto st = Prepare(c, absl::StrCat("SELECT bottle_code_id, case_code_id, create_time FROM aggregation_unlinks "
                                        "WHERE brand = ? AND ",
                                        is_case ? "case_code_id = ?" : "bottle_code_id = ?"));
      st->setString(1, brand);
      st->setUInt64(2, code_id);
      std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
      while (rs->next()) {
        doc.Aggregation(common::ParseSqlTime(rs->getString(3)), rs->getUInt64(2), {rs->getUInt64(1)}, "",
                        /*unpack=*/true);
      }
    }
    {
      // Shipments of the case (bottles travel in it), or of the code itself.
      const uint64_t shipped = case_id != 0 ? case_id : code_id;
      auto st = Prepare(c, absl::StrCat("SELECT s.shipment_id, s.dealer_id, s.territory, s.ship_time FROM "
                                        "shipment_ranges r JOIN shipments s ON s.shipment_id = r.shipment_id "
                                        "WHERE r.brand = ? AND ", issuer::ShipmentRangeCovers("r", shipped),
                                        " ORDER BY s.ship_time, s.shipment_id"));
      st->setString(1, brand);
      std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
      while (rs->next()) {
        const std::vector<std::string> territory = absl::StrSplit(std::string(rs->getString(3)), ',', absl::SkipEmpty());
        doc.Shipping(common::ParseSqlTime(rs->getString(4)), shipped, rs->getUInt64(1), rs->getString(2), territory);
      }
    }
    {
      // Every scan of the codes told, oldest first (at most 10,000).
      auto st = Prepare(c, absl::StrCat("SELECT code_id, role, region, region_source, latitude, longitude, "
                                        "scan_time, verdict, client_scan_id FROM scans WHERE brand = ? AND code_id IN (",
                                        absl::StrJoin(codes, ","), ") ORDER BY scan_time LIMIT 10000"));
      st->setString(1, brand);
      std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
      while (rs->next()) {
        const bool located = !rs->isNull(5) && !rs->isNull(6);
        doc.Observation(common::ParseSqlTime(rs->getString(7)), rs->getUInt64(1),
                        static_cast<youma::v1::ScanRole>(rs->getInt(2)), rs->getString(3),
                        static_cast<youma::v1::RegionSource>(rs->getInt(4)), located,
                        located ? static_cast<double>(rs->getDouble(5)) : 0.0,
                        located ? static_cast<double>(rs->getDouble(6)) : 0.0,
                        static_cast<youma::v1::ScanVerdict>(rs->getInt(8)), rs->getString(9));
      }
    }
    youma::v1::CodeHistoryResponse out;
    out.set_code_id(code_id);
    out.set_is_case(is_case);
    out.set_events(doc.events());
    out.set_epcis_json(doc.Json(absl::Now()));
    return out;
  });
}

}  // namespace youma::audit
