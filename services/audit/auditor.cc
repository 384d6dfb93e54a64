#include "services/audit/auditor.h"

#include <map>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "services/common/status_macros.h"
#include "services/common/time_util.h"

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

}  // namespace

absl::StatusOr<youma::v1::ScanLogChunk> Auditor::ReadScanLog(const std::string& brand,
                                                             const std::string& cursor, int rows) {
  std::string after_time = "0000-00-00 00:00:00.000000", after_id;
  if (!cursor.empty()) YOUMA_RETURN_IF_ERROR(ParseCursor(cursor, &after_time, &after_id));
  if (rows <= 0 || rows > 10000) return absl::InvalidArgumentError("rows must be 1 to 10000");
  const std::string until = common::SqlTime(absl::Now() - options_.scan_log_hold_back);
  return pool_->WithConnection([&](sql::Connection& c) -> absl::StatusOr<youma::v1::ScanLogChunk> {
    auto st = Prepare(c,
                      "SELECT DATE_FORMAT(record_time, '%Y-%m-%d %H:%i:%s.%f'), client_scan_id, "
                      "code_id, role, user_id, device_id, client_ip, region, region_source, "
                      "latitude, longitude, scan_time, answer FROM scans WHERE brand = ? AND "
                      "record_time < ? AND (record_time > ? OR (record_time = ? AND client_scan_id > ?)) "
                      "ORDER BY record_time, client_scan_id LIMIT ?");
    st->setString(1, brand);
    st->setString(2, until);
    st->setString(3, after_time);
    st->setString(4, after_time);
    st->setString(5, after_id);
    st->setInt(6, rows);
    std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
    youma::v1::ScanLogChunk out;
    std::string last_time = after_time, last_id = after_id;
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
    out.set_next_cursor(out.rows().empty() ? cursor : MakeCursor(last_time, last_id));
    return out;
  });
}

absl::StatusOr<youma::v1::CounterfeitMapResponse> Auditor::CounterfeitMap(
    const std::string& brand, const youma::v1::CounterfeitMapRequest& req) {
  const absl::Time from = req.has_from_time() ? common::FromProtoTime(req.from_time()) : absl::UnixEpoch();
  const absl::Time to = req.has_to_time() ? common::FromProtoTime(req.to_time()) : absl::Now() + absl::Hours(1);
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
  YOUMA_ASSIGN_OR_RETURN(youma::v1::ListDiversionFlagsResponse flags, campaigns_->DiversionFlags(brand, list));
  youma::v1::DiversionReportResponse out;
  std::map<std::string, youma::v1::DealerDiversion> by_dealer;
  for (auto& flag : *flags.mutable_flags()) {
    if (!req.gtin().empty()) {
      absl::StatusOr<issuer::BatchInfo> batch = index_->Find(flag.case_code_id());
      if (!batch.ok() || batch->gtin != req.gtin()) continue;
    }
    if (!req.region_prefix().empty()) {
      bool in_region = false;
      for (const auto& e : flag.evidence()) in_region = in_region || absl::StartsWith(e.region(), req.region_prefix());
      if (!in_region) continue;
    }
    auto& d = by_dealer[flag.dealer_id()];
    d.set_dealer_id(flag.dealer_id());
    d.set_flagged_cases(d.flagged_cases() + 1);
    d.set_evidence_scans(d.evidence_scans() + flag.evidence_size());
    *out.add_flags() = std::move(flag);
  }
  for (auto& [dealer, d] : by_dealer) *out.add_by_dealer() = d;
  return out;
}

}  // namespace youma::audit
