// How many of each campaign's payouts are SENT, CONFIRMED and FAILED, kept
// in payout_counts as the payout desk changes payouts' states, so that the
// brand console reads a few rows instead of counting the outbox (which holds
// a row per award ever made). PENDING is not kept: each award makes exactly
// one payout, so a campaign's pending payouts are its awards less the rest.
//
// Each payout row carries the state its counts hold (counted_state). A
// payout an older youma moved (during a rolling upgrade past migration 19)
// has a state its counts do not hold yet: reads correct for such rows (an
// index probe when there are none), and CountOlderPayoutStates moves them.
//
//   StateCountChanges changes;
//   changes.Move("alpha", campaign_id, counted_state, youma::v1::PAYOUT_STATE_SENT);
//   changes.Apply(c);  // in the transaction that changed the payout
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "services/storage/mysql.h"

namespace youma::payout {

// Changes to payout_counts, gathered over one transaction's state changes.
class StateCountChanges {
 public:
  // A payout of `brand`'s `campaign` whose counts held it `from` is now `to`.
  void Move(const std::string& brand, uint64_t campaign, int from, int to);
  // Writes the changes (rows in key order, as every writer takes them);
  // nothing when there are none.
  void Apply(sql::Connection& c) const;

 private:
  std::map<std::pair<uint64_t, int>, std::pair<std::string, int64_t>> delta_;  // (campaign, state) -> brand, change
};

// Per campaign of `brand`: how many of its payouts are in each counted state
// (youma::v1::PayoutState SENT, CONFIRMED, FAILED), exactly.
std::map<uint64_t, std::map<int, int64_t>> CountPayoutStates(sql::Connection& c, const std::string& brand);

// Brings into payout_counts the payouts whose state an older youma changed,
// a chunk per transaction under the rows' locks until none is left; returns
// how many. Safe to run on several servers at once.
absl::StatusOr<int64_t> CountOlderPayoutStates(storage::ConnectionPool* pool);

}  // namespace youma::payout
