#include "services/web/console_reads.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "services/common/time_util.h"
#include "services/payout/payout_counts.h"
#include "youma/v1/payout.pb.h"

namespace youma::web {

using storage::Prepare;

CodeStates CountCodeStates(const std::vector<scan::RangeChangeRow>& changes, uint64_t first, uint64_t end,
                           absl::Time now) {
  // Codes between two consecutive boundaries are held by the same changes and
  // share one state: judge one code per stretch, by the changes holding it.
  std::map<uint64_t, std::vector<std::pair<size_t, bool>>> boundaries = {{first, {}}, {end, {}}};
  for (size_t i = 0; i < changes.size(); ++i) {
    const scan::RangeChangeRow& c = changes[i];
    if (c.last < first || c.first >= end) continue;
    boundaries[std::max(c.first, first)].push_back({i, true});
    if (c.last + 1 < end) boundaries[c.last + 1].push_back({i, false});
  }
  CodeStates s;
  std::set<size_t> holding;  // indexes into `changes`: in change order
  std::vector<scan::RangeChangeRow> held;
  for (auto it = boundaries.begin(); std::next(it) != boundaries.end(); ++it) {
    for (const auto& [i, enters] : it->second) {
      if (enters) {
        holding.insert(i);
      } else {
        holding.erase(i);
      }
    }
    held.clear();
    for (size_t i : holding) held.push_back(changes[i]);
    const int64_t n = static_cast<int64_t>(std::next(it)->first - it->first);
    switch (scan::LifecycleVerdict(held, it->first, now)) {
      case youma::v1::SCAN_VERDICT_GENUINE: s.active += n; break;
      case youma::v1::SCAN_VERDICT_FROZEN: s.frozen += n; break;
      case youma::v1::SCAN_VERDICT_REVOKED: s.revoked += n; break;
      default: s.not_active += n; break;
    }
  }
  return s;
}

absl::StatusOr<std::map<uint64_t, CodeStates>> ConsoleReads::BatchStates(
    const std::vector<youma::v1::Batch>& batches) {
  std::map<uint64_t, CodeStates> out;
  if (batches.empty()) return out;
  std::string ids;
  for (const auto& b : batches) absl::StrAppend(&ids, ids.empty() ? "" : ",", b.batch_id());
  return pool_->WithConnection([&](sql::Connection& c) -> absl::StatusOr<std::map<uint64_t, CodeStates>> {
    std::map<uint64_t, std::vector<scan::RangeChangeRow>> changes;
    std::unique_ptr<sql::Statement> st(c.createStatement());
    std::unique_ptr<sql::ResultSet> rs(st->executeQuery(absl::StrCat(
        "SELECT batch_id, action, first_code_id, last_code_id, effective_time FROM range_changes WHERE batch_id IN (",
        ids, ") ORDER BY change_id")));
    while (rs->next()) {
      changes[rs->getUInt64(1)].push_back({static_cast<youma::v1::RangeAction>(rs->getInt(2)), rs->getUInt64(3),
                                           rs->getUInt64(4), common::ParseSqlTime(rs->getString(5))});
    }
    const absl::Time now = absl::Now();
    for (const auto& b : batches) {
      out[b.batch_id()] =
          CountCodeStates(changes[b.batch_id()], b.first_code_id(), b.first_code_id() + b.code_count(), now);
    }
    return out;
  });
}

absl::StatusOr<std::map<std::string, std::string>> ConsoleReads::ProductNames(const std::string& brand,
                                                                              const std::set<std::string>& gtins) {
  std::map<std::string, std::string> out;
  if (gtins.empty()) return out;
  return pool_->WithConnection([&](sql::Connection& c) -> absl::StatusOr<std::map<std::string, std::string>> {
    const std::string sql = absl::StrCat(
        "SELECT gtin, name FROM products WHERE brand = ", storage::Quote(c, brand), " AND gtin IN (",
        absl::StrJoin(gtins, ",", [&c](std::string* out, const std::string& gtin) { *out += storage::Quote(c, gtin); }),
        ")");
    std::unique_ptr<sql::Statement> st(c.createStatement());
    std::unique_ptr<sql::ResultSet> rs(st->executeQuery(sql));
    while (rs->next()) out[rs->getString(1)] = rs->getString(2);
    return out;
  });
}

absl::StatusOr<std::map<uint64_t, PayoutCounts>> ConsoleReads::Payouts(
    const std::string& brand, const youma::v1::ListCampaignsResponse& campaigns) {
  return pool_->WithConnection([&](sql::Connection& c) -> absl::StatusOr<std::map<uint64_t, PayoutCounts>> {
    const std::map<uint64_t, std::map<int, int64_t>> states = payout::CountPayoutStates(c, brand);
    std::map<uint64_t, PayoutCounts> out;
    for (const youma::v1::Campaign& campaign : campaigns.campaigns()) {
      PayoutCounts& p = out[campaign.campaign_id()];
      if (auto it = states.find(campaign.campaign_id()); it != states.end()) {
        auto count = [&](youma::v1::PayoutState s) {
          auto n = it->second.find(s);
          return n == it->second.end() ? int64_t{0} : n->second;
        };
        p.sent = count(youma::v1::PAYOUT_STATE_SENT);
        p.confirmed = count(youma::v1::PAYOUT_STATE_CONFIRMED);
        p.failed = count(youma::v1::PAYOUT_STATE_FAILED);
      }
      // Each award makes one payout: the rest are waiting.
      p.pending = campaign.awards() - p.sent - p.confirmed - p.failed;
    }
    return out;
  });
}

absl::StatusOr<std::vector<ProvinceCount>> ConsoleReads::Provinces(const std::string& brand, absl::Time from,
                                                                   absl::Time to) {
  return pool_->WithConnection([&](sql::Connection& c) -> absl::StatusOr<std::vector<ProvinceCount>> {
    std::map<std::string, ProvinceCount> by;
    // Whole hours counted already (audit::Auditor::RollUpScanHours) come
    // from scan_hours; the rest of the window (its first part hour, and the
    // hours since the last counted, about one) from the scan log.
    std::unique_ptr<sql::Statement> st(c.createStatement());
    std::unique_ptr<sql::ResultSet> rs(st->executeQuery("SELECT MAX(hour) FROM scan_hours_rolled"));
    const absl::Time counted_end = rs->next() && !rs->isNull(1)
                                       ? common::ParseSqlTime(rs->getString(1)) + absl::Hours(1)
                                       : absl::InfinitePast();
    const absl::Time hours_from = common::HourStart(from + absl::Hours(1) - absl::Nanoseconds(1));  // from, rounded up
    const absl::Time hours_to = std::min(common::HourStart(to), counted_end);
    // Adds the scans per province that `query` counts in [a, b) (brand, a, b).
    auto add = [&](const char* query, absl::Time a, absl::Time b) {
      if (a >= b) return;
      auto st = Prepare(c, query);
      st->setString(1, brand);
      st->setString(2, common::SqlTime(a));
      st->setString(3, common::SqlTime(b));
      rs.reset(st->executeQuery());
      while (rs->next()) by[rs->getString(1)].scans += rs->getInt64(2);
    };
    constexpr char kFromLog[] = "SELECT LEFT(region, 2), COUNT(*) FROM scans WHERE brand = ? AND record_time >= ? "
                                "AND record_time < ? AND verdict <> 2 GROUP BY LEFT(region, 2)";
    if (hours_from < hours_to) {
      add(kFromLog, from, hours_from);
      add("SELECT province, SUM(scans) FROM scan_hours WHERE brand = ? AND hour >= ? AND hour < ? GROUP BY province",
          hours_from, hours_to);
      add(kFromLog, hours_to, to);
    } else {
      add(kFromLog, from, to);
    }
    auto fakes = Prepare(c, "SELECT LEFT(region, 2), SUM(scans) FROM counterfeit_counts WHERE brand = ? AND "
                            "hour >= ? AND hour < ? GROUP BY LEFT(region, 2)");
    fakes->setString(1, brand);
    fakes->setString(2, common::SqlTime(from - absl::Hours(1)));
    fakes->setString(3, common::SqlTime(to));
    rs.reset(fakes->executeQuery());
    while (rs->next()) by[rs->getString(1)].counterfeits = rs->getInt64(2);
    std::vector<ProvinceCount> out;
    for (auto& [p, count] : by) {
      count.province = p == "00" ? "000000" : p + "0000";
      out.push_back(count);
    }
    return out;
  });
}

}  // namespace youma::web
