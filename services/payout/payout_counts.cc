#include "services/payout/payout_counts.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "youma/v1/payout.pb.h"

namespace youma::payout {
namespace {

// The states payout_counts holds (PENDING is each campaign's awards less these).
bool Counted(int state) {
  return state == youma::v1::PAYOUT_STATE_SENT || state == youma::v1::PAYOUT_STATE_CONFIRMED ||
         state == youma::v1::PAYOUT_STATE_FAILED;
}

}  // namespace

void StateCountChanges::Move(const std::string& brand, uint64_t campaign, int from, int to) {
  if (from == to) return;
  for (const auto& [state, change] : {std::pair{from, -1}, std::pair{to, 1}}) {
    if (!Counted(state)) continue;
    auto& [row_brand, delta] = delta_[{campaign, state}];
    row_brand = brand;
    delta += change;
  }
}

void StateCountChanges::Apply(sql::Connection& c) const {
  std::vector<std::string> rows;
  for (const auto& [key, change] : delta_) {
    if (change.second == 0) continue;
    rows.push_back(absl::StrCat("(", key.first, ",", key.second, ",", storage::Quote(c, change.first), ",",
                                change.second, ")"));
  }
  if (rows.empty()) return;
  storage::Execute(c, absl::StrCat("INSERT INTO payout_counts (campaign_id, state, brand, payouts) VALUES ",
                                   absl::StrJoin(rows, ","), " ON DUPLICATE KEY UPDATE payouts = payouts + "
                                   "VALUES(payouts)"));
}

std::map<uint64_t, std::map<int, int64_t>> CountPayoutStates(sql::Connection& c, const std::string& brand) {
  std::map<uint64_t, std::map<int, int64_t>> out;
  auto counts = storage::Prepare(c, "SELECT campaign_id, state, payouts FROM payout_counts WHERE brand = ?");
  counts->setString(1, brand);
  std::unique_ptr<sql::ResultSet> rs(counts->executeQuery());
  while (rs->next()) out[rs->getUInt64(1)][rs->getInt(2)] += rs->getInt64(3);
  // Payouts an older youma moved: held by their counts as counted_state.
  auto moved = storage::Prepare(c, "SELECT campaign_id, counted_state, state, COUNT(*) FROM payouts "
                                   "WHERE uncounted = 1 AND brand = ? GROUP BY campaign_id, counted_state, state");
  moved->setString(1, brand);
  rs.reset(moved->executeQuery());
  while (rs->next()) {
    std::map<int, int64_t>& campaign = out[rs->getUInt64(1)];
    const int64_t n = rs->getInt64(4);
    if (Counted(rs->getInt(2))) campaign[rs->getInt(2)] -= n;
    if (Counted(rs->getInt(3))) campaign[rs->getInt(3)] += n;
  }
  return out;
}

absl::StatusOr<int64_t> CountOlderPayoutStates(storage::ConnectionPool* pool) {
  constexpr int kChunk = 2000;
  return storage::InChunks(*pool, kChunk, [](sql::Connection& c) {
    std::unique_ptr<sql::Statement> st(c.createStatement());
    std::unique_ptr<sql::ResultSet> rs(st->executeQuery(absl::StrCat(
        "SELECT payout_id, brand, campaign_id, counted_state, state FROM payouts WHERE uncounted = 1 LIMIT ", kChunk,
        " FOR UPDATE")));
    StateCountChanges changes;
    std::vector<std::string> ids;
    while (rs->next()) {
      ids.push_back(storage::Quote(c, std::string(rs->getString(1))));
      changes.Move(rs->getString(2), rs->getUInt64(3), rs->getInt(4), rs->getInt(5));
    }
    if (ids.empty()) return 0;
    storage::Execute(c, absl::StrCat("UPDATE payouts SET counted_state = state WHERE payout_id IN (",
                                     absl::StrJoin(ids, ","), ")"));
    changes.Apply(c);
    return static_cast<int>(ids.size());
  });
}

}  // namespace youma::payout
