// The rules a scan meets inside its own transaction: rewards from the brand's
// live campaigns (deterministic draw, one award per campaign, code and role,
// budget shards that never overspend, tier caps, per-user daily limits) and
// diversion (窜货) evidence and flags.
//
//   RulesEngine rules(&pool, {.diversion_min_users = 2});
//   // inside the scan's transaction, for a genuine, active code:
//   YOUMA_RETURN_IF_ERROR(rules.Apply(conn, facts, &answer));
//
// Thread-safe. Campaigns are cached for two seconds; every decision that
// spends money is re-checked against the database in the transaction.
#pragma once

#include <array>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/issuer/batch_index.h"
#include "services/rules/campaign.h"
#include "services/storage/mysql.h"
#include "youma/v1/scan.pb.h"

namespace youma::rules {

inline constexpr int kBudgetShards = 16;

struct RulesOptions {
  // Distinct consumers scanning a case out of territory before it is flagged.
  int diversion_min_users = 2;
  absl::Duration campaign_cache = absl::Seconds(2);
  // A scan made longer than this before it reached the server (an app that
  // was offline) is recorded, and counts for the code's history, diversion
  // and the store's case opens, but wins nothing: a client's own scan time
  // would otherwise choose the day its limits count in, or win in a
  // campaign's window after the fact.
  absl::Duration late_scan = absl::Minutes(10);
};

// Where a code travels and may be sold, looked up once per group of scans.
struct Territory {
  uint64_t case_id = 0;  // the case the code travels in (itself if none is known)
  std::vector<std::string> prefixes;
  std::string dealer_id;
  uint64_t shipment_id = 0;
  // The store that opened the case, if one has. Bound before this group of
  // scans: a case opened in the same group counts from the next one.
  uint64_t store_id = 0;
  std::string store_name;
  std::string store_owner;
  std::string store_region;
};

// A store as the rules see it at registration.
struct NewStore {
  std::string brand;
  uint64_t store_id = 0;
  std::string owner_user_id;
  std::string region;
  // When the registration reached the server: the bonus goes by it.
  absl::Time arrival_time;
  // Set when the bonus is withheld (a duplicate store): says why.
  std::string withhold_reason;
};

// What the scans of one group-commit transaction share: the awards their
// codes already have in the campaigns live when the group began (from
// PrefetchCampaigns) and those the group makes as it goes; what the group has
// read and locked once for all its scans (a campaign's state, its budget
// shard, prize counters); and the ledger's writes, which wait to go with the
// COMMIT (AddGroupWrites). Money is decided here exactly as row by row: each
// row is read under its lock, and this group's own changes are added to it.
// Awards and their sum in fen, per (campaign, tier, shard): rows of
// award_totals, which a campaign's read sums instead of counting its ledger.
struct AwardTotal {
  int64_t awards = 0;
  int64_t amount_fen = 0;
};
using AwardTotals = std::map<std::tuple<uint64_t, int, int>, AwardTotal>;
// The statement that adds `totals` (not empty) to award_totals; rows in key
// order, as every writer takes them.
std::string AddToAwardTotals(const AwardTotals& totals);

struct GroupState {
  std::set<uint64_t> campaigns;                          // the campaigns PrefetchCampaigns read
  std::set<std::tuple<uint64_t, uint64_t, int>> awarded;  // (campaign, code, role)
  std::map<uint64_t, bool> live;  // campaign -> ACTIVE, as read (the row stays share-locked)
  // The budget shard the group spends from, per campaign: what it held when
  // read (locked), and what the group has taken from it since.
  struct Budget {
    int shard = 0;
    int64_t remaining = 0;
    int64_t taken = 0;
  };
  std::map<uint64_t, Budget> budgets;
  // A counter row read FOR UPDATE (0 when missing) and what the group adds.
  struct Counter {
    int64_t value = 0;
    int64_t limit = 0;  // tier_counts: the cap stored with the row
    int64_t added = 0;
  };
  std::map<std::pair<uint64_t, int>, Counter> tiers;  // (campaign, tier)
  std::map<std::tuple<uint64_t, std::string, std::string>, Counter> user_days;  // (campaign, user, day)
  std::string award_rows, payout_rows;  // VALUES lists of awards and payouts
  // What the group's awards add to award_totals, per (campaign, tier, shard).
  AwardTotals totals;
};

// One genuine scan, as the rules see it.
struct ScanFacts {
  std::string brand;
  uint64_t code_id = 0;
  bool is_case = false;
  issuer::BatchInfo batch;
  const youma::v1::ScanRequest* request = nullptr;
  absl::Time scan_time;     // when the code was scanned (the client's word, checked)
  // When the scan reached the server: money is counted by it (the campaign's
  // window, the days of its limits, the award's time).
  absl::Time arrival_time;
  const Territory* territory = nullptr;  // from PrefetchTerritories
  // Shared by the group's scans (see GroupState); Apply needs it. A draw in a
  // campaign PrefetchCampaigns did not read looks its code's award up itself.
  GroupState* group = nullptr;
  // The budget shard this scan's transaction spends from first. One shard per
  // transaction keeps concurrent transactions from locking shards in
  // different orders (and so from deadlocking).
  int budget_shard = 0;
};

class RulesEngine {
 public:
  RulesEngine(storage::ConnectionPool* pool, RulesOptions options)
      : pool_(pool), options_(options) {}

  // The authorized territory of each code of a group of scans: its case (set
  // layout or aggregation) and the latest shipment covering it, else the
  // batch's plan, and the store that opened the case. Adds its queries (a
  // few for the whole group) to `batch`, so that they share the caller's
  // round trip; `out` holds every code's territory once the batch has run.
  void PrefetchTerritories(const std::vector<const ScanFacts*>& scans,
                           storage::StatementBatch& batch, std::map<uint64_t, Territory>* out);
  // Locks, in case order, the cases whose scans in this group fall outside
  // their territory (after PrefetchTerritories has run), before any evidence
  // of diversion is written or counted: groups flagging the same case take
  // turns instead of deadlocking. A round trip only when there are such cases.
  void LockDiversionCases(sql::Connection& c, const std::vector<const ScanFacts*>& scans);
  // Adds to `batch` what the group's draws need: the awards the group's codes
  // already have in their brands' live campaigns (a draw then needs no lookup
  // of its own) and, for each campaign in which a code of the group draws a
  // prize, its state (share-locked) and the group's budget shard (locked).
  // A brand whose campaigns cannot be read is left out (its draws look up as
  // before, and report the error).
  void PrefetchCampaigns(const std::vector<const ScanFacts*>& scans, storage::StatementBatch& batch, GroupState* out);
  // The group's deferred writes (budget taken, prize counters, ledger and
  // payout outbox), a statement or two each, added to the statements sent
  // with its COMMIT.
  static void AddGroupWrites(sql::Connection& c, const GroupState& group, storage::StatementBatch& tail);

  // Rewards and diversion for one scan, in the caller's transaction; fills the
  // answer's rewards, no_reward_reason and territory_warning. Some writes wait
  // in facts.group: the caller adds them to its COMMIT with AddGroupWrites.
  absl::Status Apply(sql::Connection& c, const ScanFacts& facts, youma::v1::ScanAnswer* answer);

  // Registration bonuses (店主注册领红包) of the brand's live campaigns for a
  // new store, in the caller's transaction; fills rewards, or why none.
  absl::Status RegistrationBonus(sql::Connection& c, const NewStore& store,
                                 google::protobuf::RepeatedPtrField<youma::v1::Reward>* rewards,
                                 std::string* why_not);

  // Forgets cached campaigns of a brand (after an admin change here).
  void Invalidate(const std::string& brand);

  // The deterministic award id of (campaign, code, role): a payer's bill number.
  static std::string AwardId(uint64_t campaign_id, uint64_t code_id, int role);

 private:
  struct Live {
    uint64_t campaign_id;
    youma::v1::CampaignSpec spec;
    std::array<uint8_t, kSeedSize> seed;
  };
  absl::StatusOr<std::shared_ptr<const std::vector<Live>>> Campaigns(const std::string& brand);
  absl::Status Award(sql::Connection& c, const Live& campaign, const ScanFacts& facts,
                     youma::v1::ScanAnswer* answer, std::string* why_not);
  absl::Status Diversion(sql::Connection& c, const ScanFacts& facts, youma::v1::ScanAnswer* answer);
  // The store side of a scan: a store owner's case scan opens the case for
  // its store; a consumer's first scan of a bottle from an opened case counts
  // for that store. Returns the store a rebate goes to (0: none).
  struct StoreSide {
    uint64_t store_id = 0;          // store owners: their store; consumers: the bottle's store
    std::string owner;              // who a rebate pays
    bool bottle_counted = false;    // a consumer's first scan of the bottle: rebates pay
    std::string owner_not_eligible; // store owners: why no open-case reward
  };
  absl::StatusOr<StoreSide> StoreScan(sql::Connection& c, const ScanFacts& facts,
                                      youma::v1::ScanAnswer* answer);
  // A fixed store reward (rebate or registration bonus) from the budget into
  // the ledger and the payout outbox; false when the budget cannot pay it.
  absl::StatusOr<bool> PayFixed(sql::Connection& c, const Live& campaign, uint64_t code_id, int role,
                                const std::string& brand, const std::string& user_id, int64_t amount,
                                const std::string& client_scan_id, absl::Time time, int shard,
                                GroupState* group, youma::v1::Reward* reward);
  // Whether the campaign is still ACTIVE (it may have ended since the
  // cache), share-locking its row until the transaction ends.
  static bool StillLive(sql::Connection& c, uint64_t campaign_id, GroupState* group);
  // Counts the scan against the campaign's fraud limits; returns why it is
  // limited, or "" when it is not.
  absl::StatusOr<std::string> CheckLimits(sql::Connection& c, const Live& campaign, const ScanFacts& facts);

  storage::ConnectionPool* pool_;
  RulesOptions options_;
  std::mutex mu_;
  struct Cached {
    std::shared_ptr<const std::vector<Live>> campaigns;
    absl::Time loaded;
  };
  std::map<std::string, Cached> cache_;
};

// Writes an award to the ledger, the payout outbox and the campaign's award
// totals, in one transaction with what earned it, and returns its
// idempotent id. `shard` is the budget shard the award was paid from first.
// With a group, the rows go with the group's COMMIT (AddGroupWrites).
std::string RecordAward(sql::Connection& c, uint64_t campaign_id, uint64_t code_id, int role,
                        const std::string& brand, const std::string& user_id, int tier,
                        int64_t amount_fen, const std::string& client_scan_id, absl::Time time, int shard,
                        GroupState* group = nullptr);

// Counts into award_totals the awards an older youma recorded without
// counting them (during a rolling upgrade past migration 18), a chunk per
// transaction until none is left; returns how many it counted. Safe to run
// on several servers at once: each award is counted under its row's lock.
absl::StatusOr<int64_t> CountOlderAwards(storage::ConnectionPool* pool);

// Deletes the fraud limits' per-day counters and the per-user daily award
// counts of China days before `before_day` ("2026-12-06"): the limits read
// only the day a scan arrives on, and without pruning these tables grow by
// a row per user, device and IP each day. One pass over each table by its
// primary key (storage::SweepByKey); returns how many rows it deleted, or
// INVALID_ARGUMENT for a day not written like that. Safe to run on several
// servers at once.
absl::StatusOr<int64_t> PruneDayCounters(storage::ConnectionPool* pool, const std::string& before_day);

// Takes `amount` from the campaign's budget shards (from `shard` first; then,
// near the end of the budget, gathering the remainders into one shard).
// Returns false when the budget cannot pay it. Call inside a transaction.
// With a group, `shard` is read and locked once and the group's takings
// from it are written with its COMMIT.
bool SpendBudget(sql::Connection& c, uint64_t campaign_id, int shard, int64_t amount, GroupState* group = nullptr);

}  // namespace youma::rules
