#include "services/rules/rules_engine.h"

#include <sodium.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "services/common/geo.h"
#include "services/common/status_macros.h"
#include "services/common/time_util.h"
#include "services/storage/shipment_territories.h"

namespace youma::rules {
namespace {

using common::ChinaDay;
using storage::PrepareText;

// Reads a counter row under an exclusive lock held to the end of the
// transaction, `create` making it (at 0) when missing, in one round trip.
// Under READ COMMITTED, FOR UPDATE on a missing row locks nothing: two
// transactions would each count from 0 and both pay. `create` is an INSERT
// whose ON DUPLICATE KEY UPDATE changes nothing: it locks an existing row.
void LockCounter(sql::Connection& c, std::string create, std::string read,
                 std::function<void(sql::ResultSet&)> on_row) {
  storage::StatementBatch batch;
  batch.Add(std::move(create));
  batch.Add(std::move(read), [&on_row](sql::ResultSet& rs) {
    if (rs.next()) on_row(rs);
  });
  batch.Run(c);
}

bool RegionIn(const std::string& region, const google::protobuf::RepeatedPtrField<std::string>& prefixes) {
  if (prefixes.empty()) return true;
  return std::any_of(prefixes.begin(), prefixes.end(),
                     [&](const std::string& p) { return absl::StartsWith(region, p); });
}

// Whether a scan region lies in a territory; IP-sourced regions count at
// province level only (the first two digits).
bool InTerritory(const std::string& region, youma::v1::RegionSource source,
                 const std::vector<std::string>& territory) {
  for (const std::string& t : territory) {
    if (source == youma::v1::REGION_SOURCE_IP) {
      if (region.substr(0, 2) == t.substr(0, 2)) return true;
    } else if (absl::StartsWith(region, t)) {
      return true;
    }
  }
  return false;
}

// Whether a scan falls outside its code's authorized territory: evidence of
// diversion for its case.
bool OutOfTerritory(const ScanFacts& facts) {
  const youma::v1::ScanRequest& req = *facts.request;
  if (req.region().empty() || facts.territory == nullptr || facts.territory->prefixes.empty()) return false;
  return !InTerritory(req.region(), req.region_source(), facts.territory->prefixes);
}

}  // namespace

std::string RulesEngine::AwardId(uint64_t campaign_id, uint64_t code_id, int role) {
  uint8_t msg[17];
  for (int i = 0; i < 8; ++i) msg[i] = static_cast<uint8_t>(campaign_id >> (56 - 8 * i));
  for (int i = 0; i < 8; ++i) msg[8 + i] = static_cast<uint8_t>(code_id >> (56 - 8 * i));
  msg[16] = static_cast<uint8_t>(role);
  uint8_t out[16];
  crypto_generichash(out, sizeof out, msg, sizeof msg, nullptr, 0);
  char hex[33];
  sodium_bin2hex(hex, sizeof hex, out, sizeof out);
  return hex;
}

void RulesEngine::Invalidate(const std::string& brand) {
  std::lock_guard<std::mutex> lock(mu_);
  cache_.erase(brand);
}

absl::StatusOr<std::shared_ptr<const std::vector<RulesEngine::Live>>> RulesEngine::Campaigns(
    const std::string& brand) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = cache_.find(brand);
    if (it != cache_.end() && absl::Now() - it->second.loaded < options_.campaign_cache) {
      return it->second.campaigns;
    }
  }
  YOUMA_ASSIGN_OR_RETURN(
      std::vector<Live> live,
      pool_->WithConnection([&](sql::Connection& c) -> absl::StatusOr<std::vector<Live>> {
        auto st = PrepareText(c, "SELECT campaign_id, spec, seed FROM campaigns WHERE brand = ? AND state = ?");
        st->setString(1, brand);
        st->setInt(2, youma::v1::CAMPAIGN_STATE_ACTIVE);
        std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
        std::vector<Live> out;
        while (rs->next()) {
          Live l;
          l.campaign_id = rs->getUInt64(1);
          if (!l.spec.ParseFromString(rs->getString(2))) {
            return absl::DataLossError(absl::StrCat("campaign ", l.campaign_id, " does not parse"));
          }
          const std::string seed = rs->getString(3);
          if (seed.size() != kSeedSize) return absl::DataLossError("campaign seed has the wrong size");
          std::copy(seed.begin(), seed.end(), l.seed.begin());
          out.push_back(std::move(l));
        }
        return out;
      }));
  auto shared = std::make_shared<const std::vector<Live>>(std::move(live));
  std::lock_guard<std::mutex> lock(mu_);
  cache_[brand] = Cached{shared, absl::Now()};
  return shared;
}

namespace {

// A budget shard's index for any int (the group sequence, a store id).
int ShardIndex(int shard) { return ((shard % kBudgetShards) + kBudgetShards) % kBudgetShards; }

}  // namespace

std::string AddToAwardTotals(const AwardTotals& totals) {
  std::string rows;
  for (const auto& [key, t] : totals) {
    absl::StrAppend(&rows, rows.empty() ? "(" : ",(", std::get<0>(key), ",", std::get<1>(key), ",", std::get<2>(key),
                    ",", t.awards, ",", t.amount_fen, ")");
  }
  return absl::StrCat("INSERT INTO award_totals (campaign_id, tier, shard, awards, amount_fen) VALUES ", rows,
                      " ON DUPLICATE KEY UPDATE awards = awards + VALUES(awards), "
                      "amount_fen = amount_fen + VALUES(amount_fen)");
}

std::string RecordAward(sql::Connection& c, uint64_t campaign_id, uint64_t code_id, int role,
                        const std::string& brand, const std::string& user_id, int tier,
                        int64_t amount_fen, const std::string& client_scan_id, absl::Time time, int shard,
                        GroupState* group) {
  const std::string award_id = RulesEngine::AwardId(campaign_id, code_id, role);
  const std::string when = common::SqlTime(time);
  // A group adds to its budget shard's rows, which it holds already; awards
  // outside a group, to rows of their own (kBudgetShards up), so that the two
  // never wait for each other's rows.
  AwardTotals mine;
  AwardTotal& total = group != nullptr ? group->totals[{campaign_id, tier, ShardIndex(shard)}]
                                       : mine[{campaign_id, tier, kBudgetShards + ShardIndex(shard)}];
  ++total.awards;
  total.amount_fen += amount_fen;
  if (group != nullptr) {
    using storage::Quote;
    absl::StrAppend(&group->award_rows, group->award_rows.empty() ? "(" : ",(", campaign_id, ",", code_id, ",",
                    role, ",'", award_id, "',", Quote(c, brand), ",", Quote(c, user_id), ",", tier, ",",
                    amount_fen, ",", Quote(c, client_scan_id), ",'", when, "',1)");
    absl::StrAppend(&group->payout_rows, group->payout_rows.empty() ? "('" : ",('", award_id, "',", Quote(c, brand),
                    ",", campaign_id, ",", Quote(c, user_id), ",", amount_fen, ",1,'", when, "')");
    return award_id;
  }
  auto ins = PrepareText(c,
                     "INSERT INTO awards (campaign_id, code_id, role, award_id, brand, user_id, tier, "
                     "amount_fen, client_scan_id, award_time, counted) VALUES (?,?,?,?,?,?,?,?,?,?,1)");
  ins->setUInt64(1, campaign_id);
  ins->setUInt64(2, code_id);
  ins->setInt(3, role);
  ins->setString(4, award_id);
  ins->setString(5, brand);
  ins->setString(6, user_id);
  ins->setInt(7, tier);
  ins->setInt64(8, amount_fen);
  ins->setString(9, client_scan_id);
  ins->setString(10, when);
  ins->executeUpdate();
  // The payout outbox, in the same transaction: an award is paid or it is not there.
  auto outbox = PrepareText(c,
                        "INSERT INTO payouts (payout_id, brand, campaign_id, user_id, amount_fen, state, "
                        "award_time) VALUES (?,?,?,?,?,1,?)");
  outbox->setString(1, award_id);
  outbox->setString(2, brand);
  outbox->setUInt64(3, campaign_id);
  outbox->setString(4, user_id);
  outbox->setInt64(5, amount_fen);
  outbox->setString(6, when);
  outbox->executeUpdate();
  storage::Execute(c, AddToAwardTotals(mine));
  return award_id;
}

namespace {

// What `shard` of a campaign's budget holds, its row locked until the
// transaction ends; 0 when the row is missing.
int64_t LockShard(sql::Connection& c, uint64_t campaign_id, int shard) {
  auto st = PrepareText(c, "SELECT remaining_fen FROM budget_shards WHERE campaign_id = ? AND shard = ? FOR UPDATE");
  st->setUInt64(1, campaign_id);
  st->setInt(2, shard);
  std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
  return rs->next() ? rs->getInt64(1) : 0;
}

// The statement that writes what a group took from its shard.
std::string TakeFromShard(uint64_t campaign_id, const GroupState::Budget& b) {
  return absl::StrCat("UPDATE budget_shards SET remaining_fen = remaining_fen - ", b.taken,
                      " WHERE campaign_id = ", campaign_id, " AND shard = ", b.shard);
}

}  // namespace

bool SpendBudget(sql::Connection& c, uint64_t campaign_id, int shard, int64_t amount, GroupState* group) {
  const int start = ShardIndex(shard);
  if (group != nullptr) {
    auto it = group->budgets.find(campaign_id);
    if (it == group->budgets.end()) {
      it = group->budgets.emplace(campaign_id, GroupState::Budget{start, LockShard(c, campaign_id, start), 0}).first;
    }
    GroupState::Budget& b = it->second;
    if (b.remaining >= amount) {
      b.remaining -= amount;
      b.taken += amount;
      return true;
    }
    // The group's shard cannot pay: what the group took from it is written
    // now, so that the other shards are searched and gathered as below with
    // every shard's row as it stands; the next prize reads the shard again.
    if (b.taken > 0) storage::Execute(c, TakeFromShard(campaign_id, b));
    group->budgets.erase(it);
  }
  auto take = PrepareText(c,
                      "UPDATE budget_shards SET remaining_fen = remaining_fen - ? WHERE "
                      "campaign_id = ? AND shard = ? AND remaining_fen >= ?");
  take->setInt64(1, amount);
  take->setUInt64(2, campaign_id);
  take->setInt(3, start);
  take->setInt64(4, amount);
  if (take->executeUpdate() == 1) return true;
  // Another shard that can pay and that no other transaction holds.
  auto other = PrepareText(c,
                       "SELECT shard FROM budget_shards WHERE campaign_id = ? AND remaining_fen >= ? "
                       "ORDER BY shard LIMIT 1 FOR UPDATE SKIP LOCKED");
  other->setUInt64(1, campaign_id);
  other->setInt64(2, amount);
  std::unique_ptr<sql::ResultSet> free_shard(other->executeQuery());
  if (free_shard->next()) {
    take->setInt(3, free_shard->getInt(1));
    if (take->executeUpdate() == 1) return true;
  }
  // None alone can pay: lock every shard (in key order, as every
  // transaction does here) and gather what is left into this one. Rare: only
  // when a shard runs dry, near the end of the budget.
  auto all = PrepareText(c, "SELECT SUM(remaining_fen) FROM budget_shards WHERE campaign_id = ? FOR UPDATE");
  all->setUInt64(1, campaign_id);
  std::unique_ptr<sql::ResultSet> rs(all->executeQuery());
  const int64_t left = rs->next() ? rs->getInt64(1) : 0;
  if (left < amount) return false;
  auto zero = PrepareText(c, "UPDATE budget_shards SET remaining_fen = IF(shard = ?, ?, 0) WHERE campaign_id = ?");
  zero->setInt(1, start);
  zero->setInt64(2, left - amount);
  zero->setUInt64(3, campaign_id);
  zero->executeUpdate();
  return true;
}

bool RulesEngine::StillLive(sql::Connection& c, uint64_t campaign_id, GroupState* group) {
  if (group != nullptr) {
    if (auto it = group->live.find(campaign_id); it != group->live.end()) return it->second;
  }
  auto st = PrepareText(c, "SELECT state FROM campaigns WHERE campaign_id = ? LOCK IN SHARE MODE");
  st->setUInt64(1, campaign_id);
  std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
  const bool live = rs->next() && rs->getInt(1) == youma::v1::CAMPAIGN_STATE_ACTIVE;
  if (group != nullptr) group->live[campaign_id] = live;
  return live;
}

void RulesEngine::AddGroupWrites(sql::Connection& c, const GroupState& group, storage::StatementBatch& tail) {
  for (const auto& [campaign_id, b] : group.budgets) {
    if (b.taken > 0) tail.Add(TakeFromShard(campaign_id, b));
  }
  std::string rows;
  for (const auto& [key, n] : group.tiers) {
    if (n.added == 0) continue;
    absl::StrAppend(&rows, rows.empty() ? "(" : ",(", key.first, ",", key.second, ",", n.added, ",", n.limit, ")");
  }
  if (!rows.empty()) {
    tail.Add(absl::StrCat("INSERT INTO tier_counts (campaign_id, tier, awarded, max_count) VALUES ", rows,
                          " ON DUPLICATE KEY UPDATE awarded = awarded + VALUES(awarded), max_count = VALUES(max_count)"));
  }
  rows.clear();
  for (const auto& [key, n] : group.user_days) {
    if (n.added == 0) continue;
    absl::StrAppend(&rows, rows.empty() ? "(" : ",(", std::get<0>(key), ",", storage::Quote(c, std::get<1>(key)),
                    ",'", std::get<2>(key), "',", n.added, ")");
  }
  if (!rows.empty()) {
    tail.Add(absl::StrCat("INSERT INTO user_daily_awards (campaign_id, user_id, day, awards) VALUES ", rows,
                          " ON DUPLICATE KEY UPDATE awards = awards + VALUES(awards)"));
  }
  if (!group.award_rows.empty()) {
    tail.Add(absl::StrCat("INSERT INTO awards (campaign_id, code_id, role, award_id, brand, user_id, tier, "
                          "amount_fen, client_scan_id, award_time, counted) VALUES ", group.award_rows));
    tail.Add(absl::StrCat("INSERT INTO payouts (payout_id, brand, campaign_id, user_id, amount_fen, state, "
                          "award_time) VALUES ", group.payout_rows));
    tail.Add(AddToAwardTotals(group.totals));
  }
}

absl::StatusOr<int64_t> PruneDayCounters(storage::ConnectionPool* pool, const std::string& before_day) {
  absl::Time parsed;
  std::string why;
  if (!absl::ParseTime("%Y-%m-%d", before_day, &parsed, &why)) {
    return absl::InvalidArgumentError(absl::StrCat("before_day '", before_day, "' is not a day like 2026-12-06"));
  }
  // The tables have no index by day (one would cost every first scan of a
  // user, device or IP in a day): each is walked by its primary key, a
  // stretch per short transaction, in one pass however many rows go.
  constexpr int kStretch = 10'000;
  const std::string older = absl::StrCat("day < '", before_day, "'");
  YOUMA_ASSIGN_OR_RETURN(const int64_t counters,
                         storage::SweepByKey(*pool, "DELETE FROM fraud_counters", "fraud_counters",
                                             {{"campaign_id", true}, {"kind", true}, {"key_value"}, {"day"}}, older,
                                             kStretch));
  YOUMA_ASSIGN_OR_RETURN(const int64_t awards,
                         storage::SweepByKey(*pool, "DELETE FROM user_daily_awards", "user_daily_awards",
                                             {{"campaign_id", true}, {"user_id"}, {"day"}}, older, kStretch));
  return counters + awards;
}

absl::StatusOr<int64_t> CountOlderAwards(storage::ConnectionPool* pool) {
  // Rows of their own, which no scan waits for.
  static constexpr int kOlderAwardsShard = 2 * kBudgetShards;
  constexpr int kChunk = 2000;
  return storage::InChunks(*pool, kChunk, [](sql::Connection& c) {
    std::unique_ptr<sql::Statement> st(c.createStatement());
    std::unique_ptr<sql::ResultSet> rs(st->executeQuery(absl::StrCat(
        "SELECT campaign_id, tier, amount_fen, award_id FROM awards WHERE counted = 0 LIMIT ", kChunk,
        " FOR UPDATE")));
    AwardTotals totals;
    std::vector<std::string> ids;
    while (rs->next()) {
      AwardTotal& t = totals[{rs->getUInt64(1), rs->getInt(2), kOlderAwardsShard}];
      ++t.awards;
      t.amount_fen += rs->getInt64(3);
      ids.push_back(storage::Quote(c, std::string(rs->getString(4))));
    }
    if (ids.empty()) return 0;
    storage::Execute(c, absl::StrCat("UPDATE awards SET counted = 1 WHERE award_id IN (", absl::StrJoin(ids, ","),
                                     ")"));
    storage::Execute(c, AddToAwardTotals(totals));
    return static_cast<int>(ids.size());
  });
}

absl::Status RulesEngine::Apply(sql::Connection& c, const ScanFacts& facts,
                                youma::v1::ScanAnswer* answer) {
  if (facts.group == nullptr) return absl::InternalError("RulesEngine::Apply needs the scan's group state");
  const youma::v1::ScanRequest& req = *facts.request;
  if (req.role() != youma::v1::SCAN_ROLE_DEALER_INSPECTION) {
    YOUMA_RETURN_IF_ERROR(Diversion(c, facts, answer));
  }
  YOUMA_ASSIGN_OR_RETURN(const StoreSide store, StoreScan(c, facts, answer));
  YOUMA_ASSIGN_OR_RETURN(auto campaigns, Campaigns(facts.brand));
  const bool late = facts.scan_time < facts.arrival_time - options_.late_scan;
  std::string why_not;
  bool matched = false;
  int64_t rebate_fen = 0;
  for (const Live& l : *campaigns) {
    const auto& spec = l.spec;
    const bool role_ok = spec.roles().empty()
                             ? req.role() == youma::v1::SCAN_ROLE_CONSUMER
                             : std::find(spec.roles().begin(), spec.roles().end(), req.role()) !=
                                   spec.roles().end();
    const bool product_ok = spec.gtins().empty() ||
                            std::find(spec.gtins().begin(), spec.gtins().end(), facts.batch.gtin) !=
                                spec.gtins().end();
    const bool time_ok = facts.arrival_time >= common::FromProtoTime(spec.start_time()) &&
                         facts.arrival_time < common::FromProtoTime(spec.end_time());
    const bool region_ok = spec.regions().empty() || (!req.region().empty() && RegionIn(req.region(), spec.regions()));
    const bool rebate = store.bottle_counted && spec.store().rebate_fen() > 0;
    if ((!role_ok && !rebate) || !product_ok) continue;
    if (late) {
      why_not = absl::StrCat("scanned ", absl::FormatDuration(absl::Trunc(facts.arrival_time - facts.scan_time,
                                                                           absl::Minutes(1))),
                             " before it reached the server (more than ", absl::FormatDuration(options_.late_scan),
                             "): late scans are recorded but win nothing");
      break;
    }
    if (!time_ok) {
      if (why_not.empty()) why_not = "the campaign is not running at this time";
      continue;
    }
    if (!region_ok) {
      if (why_not.empty()) why_not = "the campaign does not cover this region";
      continue;
    }
    std::string reason;
    if (role_ok && !spec.tiers().empty()) {
      matched = true;
      if (!store.owner_not_eligible.empty()) {
        reason = store.owner_not_eligible;
      } else {
        YOUMA_RETURN_IF_ERROR(Award(c, l, facts, answer, &reason));
      }
      if (!reason.empty() && why_not.empty()) why_not = reason;
    }
    // The store's rebate for the bottle, unless the consumer's scan was limited.
    if (rebate && !absl::StartsWith(reason, "limited")) {
      youma::v1::Reward paid;
      YOUMA_ASSIGN_OR_RETURN(bool ok, PayFixed(c, l, facts.code_id, kRebateRole, facts.brand, store.owner,
                                               spec.store().rebate_fen(), req.client_scan_id(),
                                               facts.arrival_time, facts.budget_shard, facts.group, &paid));
      if (ok) rebate_fen += paid.amount_fen();
    }
  }
  if (rebate_fen > 0) {
    auto st = PrepareText(c, "UPDATE store_daily SET rebate_fen = rebate_fen + ? WHERE store_id = ? AND day = ?");
    st->setInt64(1, rebate_fen);
    st->setUInt64(2, store.store_id);
    st->setString(3, ChinaDay(facts.arrival_time));
    st->executeUpdate();
  }
  if (answer->rewards().empty()) {
    answer->set_no_reward_reason(!why_not.empty() ? why_not
                                 : matched        ? "no prize this time"
                                                  : "no campaign for this product and role");
  }
  return absl::OkStatus();
}

absl::StatusOr<RulesEngine::StoreSide> RulesEngine::StoreScan(sql::Connection& c, const ScanFacts& facts,
                                                              youma::v1::ScanAnswer* answer) {
  const youma::v1::ScanRequest& req = *facts.request;
  StoreSide side;
  // The store's counters count in the day the scan arrived, as its money
  // does: a scan sent late cannot fill a past day of the leaderboard.
  const std::string day = ChinaDay(facts.arrival_time);
  auto count = [&](const char* column, uint64_t store_id, const std::string& region) {
    auto st = PrepareText(c, absl::StrCat("INSERT INTO store_daily (store_id, day, brand, region, ", column,
                                      ") VALUES (?,?,?,?,1) ON DUPLICATE KEY UPDATE ", column, " = ",
                                      column, " + 1"));
    st->setUInt64(1, store_id);
    st->setString(2, day);
    st->setString(3, facts.brand);
    st->setString(4, region);
    st->executeUpdate();
  };
  if (req.role() == youma::v1::SCAN_ROLE_STORE_OWNER) {
    auto st = PrepareText(c, absl::StrCat("SELECT store_id, name, region FROM stores WHERE brand = ? AND owner_user_id = ?",
                                      req.store_id() != 0 ? " AND store_id = ?" : "",
                                      " ORDER BY register_time, store_id LIMIT 1"));
    st->setString(1, facts.brand);
    st->setString(2, req.user_id());
    if (req.store_id() != 0) st->setUInt64(3, req.store_id());
    std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
    if (!rs->next()) {
      side.owner_not_eligible = req.store_id() != 0
                                    ? absl::StrCat("store ", req.store_id(), " is not this owner's store")
                                    : "register the store first (RegisterStore) to open cases for rewards";
      return side;
    }
    side.store_id = rs->getUInt64(1);
    const std::string name = rs->getString(2), region = rs->getString(3);
    if (!facts.is_case) {
      side.owner_not_eligible = "store owners are rewarded for opening cases: scan the case's code";
      return side;
    }
    auto bind = PrepareText(c, "INSERT IGNORE INTO case_stores (case_code_id, brand, store_id, region, region_source, "
                           "latitude, longitude, client_scan_id, open_time, record_time) VALUES (?,?,?,?,?,?,?,?,?,?)");
    bind->setUInt64(1, facts.code_id);
    bind->setString(2, facts.brand);
    bind->setUInt64(3, side.store_id);
    bind->setString(4, req.region().empty() ? "000000" : req.region());
    bind->setInt(5, req.region_source());
    storage::SetLocation(*bind, 6, req.latitude(), req.longitude());
    bind->setString(8, req.client_scan_id());
    bind->setString(9, common::SqlTime(facts.scan_time));
    bind->setString(10, common::SqlTime(facts.arrival_time));
    youma::v1::StoreBinding* b = answer->mutable_store();
    if (bind->executeUpdate() == 1) {
      count("cases_opened", side.store_id, region);
      b->set_store_id(side.store_id);
      b->set_store_name(name);
      b->set_opened_now(true);
      return side;
    }
    auto who = PrepareText(c, "SELECT s.store_id, s.name FROM case_stores cs JOIN stores s ON s.store_id = cs.store_id "
                          "WHERE cs.case_code_id = ?");
    who->setUInt64(1, facts.code_id);
    std::unique_ptr<sql::ResultSet> wrs(who->executeQuery());
    if (wrs->next()) {
      b->set_store_id(wrs->getUInt64(1));
      b->set_store_name(wrs->getString(2));
      if (b->store_id() != side.store_id) {
        side.owner_not_eligible = absl::StrCat("this case was already opened by another store (", b->store_id(), ")");
      }
    }
    return side;
  }
  const Territory* t = facts.territory;
  if (t == nullptr || t->store_id == 0) return side;
  youma::v1::StoreBinding* b = answer->mutable_store();
  b->set_store_id(t->store_id);
  b->set_store_name(t->store_name);
  if (req.role() != youma::v1::SCAN_ROLE_CONSUMER || facts.is_case || t->case_id == facts.code_id) return side;
  auto sold = PrepareText(c, "INSERT IGNORE INTO store_bottles (bottle_code_id, store_id, brand, scan_time) VALUES (?,?,?,?)");
  sold->setUInt64(1, facts.code_id);
  sold->setUInt64(2, t->store_id);
  sold->setString(3, facts.brand);
  sold->setString(4, common::SqlTime(facts.scan_time));
  if (sold->executeUpdate() == 1) {
    count("consumer_scans", t->store_id, t->store_region);
    side.store_id = t->store_id;
    side.owner = t->store_owner;
    side.bottle_counted = true;
  }
  return side;
}

absl::StatusOr<bool> RulesEngine::PayFixed(sql::Connection& c, const Live& l, uint64_t code_id, int role,
                                           const std::string& brand, const std::string& user_id,
                                           int64_t amount, const std::string& client_scan_id, absl::Time time,
                                           int shard, GroupState* group, youma::v1::Reward* reward) {
  if (!StillLive(c, l.campaign_id, group)) return false;
  if (!SpendBudget(c, l.campaign_id, shard, amount, group)) return false;
  const int tier = role == kRebateRole ? kRebateTier : kRegistrationTier;
  reward->set_campaign_id(l.campaign_id);
  reward->set_award_id(
      RecordAward(c, l.campaign_id, code_id, role, brand, user_id, tier, amount, client_scan_id, time, shard, group));
  reward->set_amount_fen(amount);
  reward->set_tier(tier);
  reward->set_tier_name(role == kRebateRole ? "store rebate" : "registration bonus");
  return true;
}

absl::Status RulesEngine::RegistrationBonus(sql::Connection& c, const NewStore& store,
                                            google::protobuf::RepeatedPtrField<youma::v1::Reward>* rewards,
                                            std::string* why_not) {
  YOUMA_ASSIGN_OR_RETURN(auto campaigns, Campaigns(store.brand));
  std::string reason = "no live campaign pays a registration bonus here";
  for (const Live& l : *campaigns) {
    const auto& spec = l.spec;
    if (spec.store().registration_bonus_fen() <= 0) continue;
    if (store.arrival_time < common::FromProtoTime(spec.start_time()) ||
        store.arrival_time >= common::FromProtoTime(spec.end_time()) || !RegionIn(store.region, spec.regions())) {
      continue;
    }
    if (!store.withhold_reason.empty()) {
      reason = store.withhold_reason;
      break;
    }
    youma::v1::Reward paid;
    YOUMA_ASSIGN_OR_RETURN(bool ok, PayFixed(c, l, store.store_id, kRegistrationRole, store.brand,
                                             store.owner_user_id, spec.store().registration_bonus_fen(), "",
                                             store.arrival_time, static_cast<int>(store.store_id % kBudgetShards),
                                             nullptr, &paid));
    if (ok) {
      *rewards->Add() = std::move(paid);
    } else {
      reason = "the campaign's budget is used up";
    }
  }
  if (rewards->empty()) *why_not = reason;
  return absl::OkStatus();
}

absl::StatusOr<std::string> RulesEngine::CheckLimits(sql::Connection& c, const Live& l,
                                                     const ScanFacts& facts) {
  const youma::v1::FraudLimits& lim = l.spec.limits();
  const youma::v1::ScanRequest& req = *facts.request;
  // Counted by the server's clock, which a client cannot set.
  const std::string day = ChinaDay(facts.arrival_time);
  std::string limited_rule, reason;
  struct Velocity {
    int kind;
    int32_t limit;
    const std::string& key;
    const char* rule;
    const char* who;
  };
  // Bottles of one case scanned by one user (all time, not per day).
  const std::string case_key =
      facts.territory != nullptr && !facts.is_case && facts.territory->case_id != facts.code_id
          ? absl::StrCat(req.user_id(), "@", facts.territory->case_id)
          : std::string();
  storage::StatementBatch counters;
  for (const Velocity& v : {Velocity{1, lim.max_scans_per_user_per_day(), req.user_id(), "user_velocity", "this user"},
                            Velocity{4, lim.max_bottles_per_user_per_case(), case_key, "case_sweep",
                                     "this user of bottles from one case"},
                            Velocity{2, lim.max_scans_per_device_per_day(), req.device_id(), "device_velocity",
                                     "this device"},
                            Velocity{3, lim.max_scans_per_ip_per_day(), req.client_ip(), "ip_velocity",
                                     "this IP address"}}) {
    if (v.limit <= 0 || v.key.empty()) continue;
    // Counted and read back, every limit in one round trip.
    const std::string key = storage::Quote(c, v.key), counted_day = v.kind == 4 ? "1970-01-01" : day;
    counters.Add(absl::StrCat("INSERT INTO fraud_counters (campaign_id, kind, key_value, day, scans) VALUES (",
                              l.campaign_id, ",", v.kind, ",", key, ",'", counted_day,
                              "',1) ON DUPLICATE KEY UPDATE scans = scans + 1"));
    const std::string row = absl::StrCat("campaign_id = ", l.campaign_id, " AND kind = ", v.kind,
                                         " AND key_value = ", key, " AND day = '", counted_day, "'");
    counters.Add(absl::StrCat("SELECT scans FROM fraud_counters WHERE ", row), [&, v](sql::ResultSet& rs) {
      if (rs.next() && rs.getInt(1) > v.limit && limited_rule.empty()) {
        limited_rule = v.rule;
        reason = absl::StrCat("limited: more than ", v.limit, " scans by ", v.who,
                              v.kind == 4 ? " in this campaign" : " today in this campaign");
      }
    });
  }
  if (!counters.empty()) counters.Run(c);
  if (lim.max_new_accounts_per_ip_per_hour() > 0 && !req.client_ip().empty()) {
    // An account new to the campaign counts against its IP address's hour;
    // past the limit, the account is marked as part of a burst for good.
    auto seen = PrepareText(c, "INSERT IGNORE INTO campaign_users (campaign_id, user_id, first_ip, first_time, burst) "
                           "VALUES (?,?,?,?,0)");
    seen->setUInt64(1, l.campaign_id);
    seen->setString(2, req.user_id());
    seen->setString(3, req.client_ip());
    seen->setString(4, common::SqlTime(facts.arrival_time));
    bool burst = false;
    if (seen->executeUpdate() == 1) {
      const std::string hour_key =
          absl::StrCat(req.client_ip(), "@", absl::FormatTime("%H", facts.arrival_time, common::ChinaTime()));
      auto up = PrepareText(c, "INSERT INTO fraud_counters (campaign_id, kind, key_value, day, scans) VALUES (?,5,?,?,1) "
                           "ON DUPLICATE KEY UPDATE scans = scans + 1");
      up->setUInt64(1, l.campaign_id);
      up->setString(2, hour_key);
      up->setString(3, day);
      up->executeUpdate();
      auto get = PrepareText(c, "SELECT scans FROM fraud_counters WHERE campaign_id = ? AND kind = 5 AND key_value = ? AND day = ?");
      get->setUInt64(1, l.campaign_id);
      get->setString(2, hour_key);
      get->setString(3, day);
      std::unique_ptr<sql::ResultSet> rs(get->executeQuery());
      burst = rs->next() && rs->getInt(1) > lim.max_new_accounts_per_ip_per_hour();
      if (burst) {
        auto mark = PrepareText(c, "UPDATE campaign_users SET burst = 1 WHERE campaign_id = ? AND user_id = ?");
        mark->setUInt64(1, l.campaign_id);
        mark->setString(2, req.user_id());
        mark->executeUpdate();
      }
    } else {
      auto get = PrepareText(c, "SELECT burst FROM campaign_users WHERE campaign_id = ? AND user_id = ?");
      get->setUInt64(1, l.campaign_id);
      get->setString(2, req.user_id());
      std::unique_ptr<sql::ResultSet> rs(get->executeQuery());
      burst = rs->next() && rs->getInt(1) != 0;
    }
    if (burst && limited_rule.empty()) {
      limited_rule = "new_account_burst";
      reason = absl::StrCat("limited: this account is one of more than ", lim.max_new_accounts_per_ip_per_hour(),
                            " new accounts from one IP address in an hour");
    }
  }
  if (lim.max_travel_kmh() > 0 && common::Located(req.latitude(), req.longitude())) {
    // The user's last position, locked (made from this scan when the user has
    // none: a plain locking read of a missing row locks nothing, and two
    // first scans far apart would both pass), then this scan's position; one
    // round trip. A user seen first here compares with itself: 0 km.
    const std::string user = absl::StrCat("brand = ", storage::Quote(c, facts.brand),
                                          " AND user_id = ", storage::Quote(c, req.user_id()));
    const std::string position = absl::StrCat(storage::SqlDouble(req.latitude()), ",",
                                              storage::SqlDouble(req.longitude()), ",'",
                                              common::SqlTime(facts.arrival_time), "'");
    storage::StatementBatch travel;
    travel.Add(absl::StrCat("INSERT INTO user_positions (brand, user_id, latitude, longitude, scan_time) VALUES (",
                            storage::Quote(c, facts.brand), ",", storage::Quote(c, req.user_id()), ",", position,
                            ") ON DUPLICATE KEY UPDATE user_id = user_id"));
    travel.Add(absl::StrCat("SELECT latitude, longitude, scan_time FROM user_positions WHERE ", user, " FOR UPDATE"),
               [&](sql::ResultSet& rs) {
                 if (!rs.next()) return;
                 const double km =
                     common::DistanceKm(rs.getDouble(1), rs.getDouble(2), req.latitude(), req.longitude());
                 const double hours = std::max(
                     absl::ToDoubleHours(facts.arrival_time - common::ParseSqlTime(rs.getString(3))), 1.0 / 3600);
                 if (km > 50 && km / hours > lim.max_travel_kmh() && limited_rule.empty()) {
                   limited_rule = "impossible_travel";
                   reason = absl::StrFormat("limited: %.0f km from this user's last scan in %.0f minutes", km,
                                            hours * 60);
                 }
               });
    travel.Add(absl::StrCat("UPDATE user_positions SET latitude = ", storage::SqlDouble(req.latitude()),
                            ", longitude = ", storage::SqlDouble(req.longitude()), ", scan_time = '",
                            common::SqlTime(facts.arrival_time), "' WHERE ", user));
    travel.Run(c);
  }
  if (!limited_rule.empty()) {
    auto hit = PrepareText(c, "INSERT INTO limit_hits (campaign_id, rule, scans) VALUES (?,?,1) "
                          "ON DUPLICATE KEY UPDATE scans = scans + 1");
    hit->setUInt64(1, l.campaign_id);
    hit->setString(2, limited_rule);
    hit->executeUpdate();
  }
  return reason;
}

absl::Status RulesEngine::Award(sql::Connection& c, const Live& l, const ScanFacts& facts,
                                youma::v1::ScanAnswer* answer, std::string* why_not) {
  const youma::v1::ScanRequest& req = *facts.request;
  const int tier = Draw(l.seed, facts.code_id, l.spec);
  // A code wins once per campaign and role; a re-scan shows the first award.
  const auto key = std::make_tuple(l.campaign_id, facts.code_id, static_cast<int>(req.role()));
  bool awarded = false;
  GroupState& g = *facts.group;
  if (g.campaigns.count(l.campaign_id) > 0) {
    awarded = g.awarded.count(key) > 0;
  } else {
    auto st = PrepareText(c, "SELECT 1 FROM awards WHERE campaign_id = ? AND code_id = ? AND role = ?");
    st->setUInt64(1, l.campaign_id);
    st->setUInt64(2, facts.code_id);
    st->setInt(3, req.role());
    std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
    awarded = rs->next();
  }
  if (awarded) {
    *why_not = "this code's prize was already awarded at its first scan";
    return absl::OkStatus();
  }
  // Fraud limits: counted on every eligible scan, before the draw pays.
  YOUMA_ASSIGN_OR_RETURN(std::string limited, CheckLimits(c, l, facts));
  if (!limited.empty()) {
    *why_not = limited;
    return absl::OkStatus();
  }
  if (tier < 0) {
    *why_not = "no prize this time";
    return absl::OkStatus();
  }
  const youma::v1::PrizeTier& prize = l.spec.tiers(tier);
  if (!StillLive(c, l.campaign_id, &g)) {
    *why_not = "the campaign has ended";
    return absl::OkStatus();
  }
  // Days are China days of the scan's arrival, as for the fraud limits and
  // the payer's daily caps.
  const std::string day = ChinaDay(facts.arrival_time);
  // Counters are read under their locks once per group; the group's own
  // prizes are added to what was read.
  GroupState::Counter* user_day = nullptr;
  if (l.spec.per_user_daily_limit() > 0) {
    auto [it, fresh] = g.user_days.try_emplace({l.campaign_id, req.user_id(), day});
    user_day = &it->second;
    if (fresh) {
      const std::string user = storage::Quote(c, req.user_id());
      LockCounter(c,
                  absl::StrCat("INSERT INTO user_daily_awards (campaign_id, user_id, day, awards) VALUES (",
                               l.campaign_id, ",", user, ",'", day, "',0) ON DUPLICATE KEY UPDATE awards = awards"),
                  absl::StrCat("SELECT awards FROM user_daily_awards WHERE campaign_id = ", l.campaign_id,
                               " AND user_id = ", user, " AND day = '", day, "' FOR UPDATE"),
                  [user_day](sql::ResultSet& rs) { user_day->value = rs.getInt(1); });
    }
    if (user_day->value + user_day->added >= l.spec.per_user_daily_limit()) {
      *why_not = absl::StrCat("daily limit reached (", l.spec.per_user_daily_limit(),
                              " prizes per user per day)");
      return absl::OkStatus();
    }
  }
  GroupState::Counter* tier_count = nullptr;
  if (prize.max_count() > 0) {
    auto [it, fresh] = g.tiers.try_emplace({l.campaign_id, tier});
    tier_count = &it->second;
    if (fresh) {
      LockCounter(c,
                  absl::StrCat("INSERT INTO tier_counts (campaign_id, tier, awarded, max_count) VALUES (",
                               l.campaign_id, ",", tier, ",0,", prize.max_count(),
                               ") ON DUPLICATE KEY UPDATE awarded = awarded"),
                  absl::StrCat("SELECT awarded, max_count FROM tier_counts WHERE campaign_id = ", l.campaign_id,
                               " AND tier = ", tier, " FOR UPDATE"),
                  [tier_count](sql::ResultSet& rs) {
                    tier_count->value = rs.getInt64(1);
                    tier_count->limit = rs.getInt64(2);
                  });
    }
    // The cap may have been raised since the row was written (in the consumers' favour only).
    tier_count->limit = std::max<int64_t>(tier_count->limit, prize.max_count());
    if (tier_count->value + tier_count->added >= tier_count->limit) {
      *why_not = absl::StrCat("all ", prize.max_count(), " '", prize.name(), "' prizes are given out");
      return absl::OkStatus();
    }
  }
  if (!SpendBudget(c, l.campaign_id, facts.budget_shard, prize.amount_fen(), &g)) {
    *why_not = "the campaign's budget is used up";
    return absl::OkStatus();
  }
  if (tier_count != nullptr) ++tier_count->added;
  if (user_day != nullptr) ++user_day->added;
  const std::string award_id = RecordAward(c, l.campaign_id, facts.code_id, req.role(), facts.brand,
                                           req.user_id(), tier, prize.amount_fen(), req.client_scan_id(),
                                           facts.arrival_time, facts.budget_shard, &g);
  g.awarded.insert(key);
  youma::v1::Reward* reward = answer->add_rewards();
  reward->set_campaign_id(l.campaign_id);
  reward->set_award_id(award_id);
  reward->set_amount_fen(prize.amount_fen());
  reward->set_tier(tier);
  reward->set_tier_name(prize.name());
  why_not->clear();
  return absl::OkStatus();
}

void RulesEngine::PrefetchCampaigns(const std::vector<const ScanFacts*>& scans, storage::StatementBatch& batch,
                                    GroupState* out) {
  if (scans.empty()) return;
  std::map<std::string, std::vector<const ScanFacts*>> by_brand;
  for (const ScanFacts* f : scans) by_brand[f->brand].push_back(f);
  std::set<uint64_t> campaigns, prizes, all_codes;
  for (const auto& [brand, facts] : by_brand) {
    absl::StatusOr<std::shared_ptr<const std::vector<Live>>> live = Campaigns(brand);
    if (!live.ok() || (*live)->empty()) continue;
    for (const Live& l : **live) {
      campaigns.insert(l.campaign_id);
      // Draws are known before the database is asked: a campaign in which
      // one of the group's codes draws a prize is likely to pay one.
      for (const ScanFacts* f : facts) {
        if (Draw(l.seed, f->code_id, l.spec) >= 0) {
          prizes.insert(l.campaign_id);
          break;
        }
      }
    }
    for (const ScanFacts* f : facts) all_codes.insert(f->code_id);
  }
  if (campaigns.empty()) return;
  out->campaigns = campaigns;
  batch.Add(absl::StrCat("SELECT campaign_id, code_id, role FROM awards WHERE campaign_id IN (",
                         absl::StrJoin(campaigns, ","), ") AND code_id IN (", absl::StrJoin(all_codes, ","), ")"),
            [out](sql::ResultSet& rs) {
              while (rs.next()) out->awarded.emplace(rs.getUInt64(1), rs.getUInt64(2), rs.getInt(3));
            });
  if (prizes.empty()) return;
  // What a prize checks and spends, read and locked with the group's reads
  // (in the order a single prize takes them: the campaign, then its budget).
  const std::string ids = absl::StrJoin(prizes, ",");
  batch.Add(absl::StrCat("SELECT campaign_id, state FROM campaigns WHERE campaign_id IN (", ids, ") LOCK IN SHARE MODE"),
            [out](sql::ResultSet& rs) {
              while (rs.next()) out->live[rs.getUInt64(1)] = rs.getInt(2) == youma::v1::CAMPAIGN_STATE_ACTIVE;
            });
  const int shard = ShardIndex(scans.front()->budget_shard);
  batch.Add(absl::StrCat("SELECT campaign_id, remaining_fen FROM budget_shards WHERE campaign_id IN (", ids,
                         ") AND shard = ", shard, " FOR UPDATE"),
            [out, shard](sql::ResultSet& rs) {
              while (rs.next()) out->budgets[rs.getUInt64(1)] = GroupState::Budget{shard, rs.getInt64(2), 0};
            });
}

void RulesEngine::PrefetchTerritories(const std::vector<const ScanFacts*>& scans,
                                      storage::StatementBatch& batch, std::map<uint64_t, Territory>* out) {
  std::string aggregated, known_cases;
  std::vector<const ScanFacts*> located;  // scans whose shipment matters
  for (const ScanFacts* f : scans) {
    Territory& t = (*out)[f->code_id];
    t.case_id = f->code_id;
    if (!f->is_case) {
      if (auto set_case = f->batch.SetCaseOf(f->code_id)) {
        t.case_id = *set_case;
        absl::StrAppend(&known_cases, known_cases.empty() ? "" : ",", t.case_id);
      } else {
        absl::StrAppend(&aggregated, aggregated.empty() ? "" : ",", f->code_id);
      }
    } else {
      absl::StrAppend(&known_cases, known_cases.empty() ? "" : ",", t.case_id);
    }
    t.prefixes = absl::StrSplit(f->batch.planned_territory, ',', absl::SkipEmpty());
    // Territories matter only for scans with a region (diversion).
    if (!f->request->region().empty() && f->request->role() != youma::v1::SCAN_ROLE_DEALER_INSPECTION) {
      located.push_back(f);
    }
  }
  // The store that opened each code's case: bottles linked by the line find
  // their case and its store in one query; codes whose case is known (cases,
  // set bottles) in another, which runs after it.
  auto take_store = [](Territory& t, sql::ResultSet& rs, int column) {
    if (rs.isNull(column)) return;
    t.store_id = rs.getUInt64(column);
    t.store_name = rs.getString(column + 1);
    t.store_owner = rs.getString(column + 2);
    t.store_region = rs.getString(column + 3);
  };
  if (!aggregated.empty()) {
    batch.Add(absl::StrCat("SELECT a.bottle_code_id, a.case_code_id, s.store_id, s.name, s.owner_user_id, s.region "
                           "FROM aggregation_links a LEFT JOIN case_stores cs ON cs.case_code_id = a.case_code_id "
                           "LEFT JOIN stores s ON s.store_id = cs.store_id WHERE a.bottle_code_id IN (",
                           aggregated, ")"),
              [out, take_store](sql::ResultSet& rs) {
                while (rs.next()) {
                  Territory& t = (*out)[rs.getUInt64(1)];
                  t.case_id = rs.getUInt64(2);
                  take_store(t, rs, 3);
                }
              });
  }
  if (!known_cases.empty()) {
    batch.Add(absl::StrCat("SELECT cs.case_code_id, s.store_id, s.name, s.owner_user_id, s.region FROM case_stores cs "
                           "JOIN stores s ON s.store_id = cs.store_id WHERE cs.case_code_id IN (",
                           known_cases, ")"),
              [out, take_store](sql::ResultSet& rs) {
                std::map<uint64_t, Territory> stores;
                while (rs.next()) take_store(stores[rs.getUInt64(1)], rs, 2);
                for (auto& [code_id, t] : *out) {
                  if (auto it = stores.find(t.case_id); it != stores.end() && t.store_id == 0) {
                    t.store_id = it->second.store_id;
                    t.store_name = it->second.store_name;
                    t.store_owner = it->second.store_owner;
                    t.store_region = it->second.store_region;
                  }
                }
              });
  }
  if (located.empty()) return;
  // The shipment that carries each code now (shipment_territories.h): a
  // handful of block keys per code, one statement for the group.
  std::vector<uint64_t> keys;
  for (const ScanFacts* f : located) storage::AppendCodeBlockProbes(f->code_id, f->batch.code_count, &keys);
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  batch.Add(absl::StrCat("SELECT t.blk, t.first_code_id, t.last_code_id, s.shipment_id, s.brand, s.dealer_id, "
                         "s.territory FROM shipment_territories t JOIN shipments s ON s.shipment_id = t.shipment_id "
                         "WHERE t.blk IN (",
                         absl::StrJoin(keys, ","), ")"),
            [out, located = std::move(located)](sql::ResultSet& rs) {
              struct Shipment {
                std::string brand, dealer_id, territory;
              };
              std::map<uint64_t, storage::TerritoryRow> rows;
              std::map<uint64_t, Shipment> shipments;
              while (rs.next()) {
                const storage::TerritoryRow row{rs.getUInt64(1), rs.getUInt64(2), rs.getUInt64(3), rs.getUInt64(4)};
                rows[row.first] = row;
                shipments.try_emplace(row.shipment_id, Shipment{rs.getString(5), rs.getString(6), rs.getString(7)});
              }
              for (const ScanFacts* f : located) {
                const storage::TerritoryRow* row = storage::FindTerritoryRow(rows, f->code_id);
                if (row == nullptr) continue;
                const Shipment& s = shipments.at(row->shipment_id);
                if (s.brand != f->brand) continue;  // cannot happen: a shipment holds its brand's codes only
                Territory& t = (*out)[f->code_id];
                t.shipment_id = row->shipment_id;
                t.dealer_id = s.dealer_id;
                t.prefixes = absl::StrSplit(s.territory, ',', absl::SkipEmpty());
              }
            });
}

void RulesEngine::LockDiversionCases(sql::Connection& c, const std::vector<const ScanFacts*>& scans) {
  std::set<uint64_t> cases;  // in order: every group takes them in the same order
  for (const ScanFacts* f : scans) {
    if (OutOfTerritory(*f)) cases.insert(f->territory->case_id);
  }
  if (cases.empty()) return;
  // An INSERT whose ON DUPLICATE KEY UPDATE changes nothing: it makes the
  // row when missing and locks it either way (see LockCounter).
  std::unique_ptr<sql::Statement> st(c.createStatement());
  st->execute(absl::StrCat("INSERT INTO diversion_cases (case_code_id) VALUES (", absl::StrJoin(cases, "),("),
                           ") ON DUPLICATE KEY UPDATE case_code_id = case_code_id"));
}

absl::Status RulesEngine::Diversion(sql::Connection& c, const ScanFacts& facts,
                                    youma::v1::ScanAnswer* answer) {
  const youma::v1::ScanRequest& req = *facts.request;
  if (!OutOfTerritory(facts)) return absl::OkStatus();
  const uint64_t case_id = facts.territory->case_id;
  const std::vector<std::string>& territory = facts.territory->prefixes;
  const std::string& dealer_id = facts.territory->dealer_id;
  const uint64_t shipment_id = facts.territory->shipment_id;
  const std::string joined = absl::StrJoin(territory, ",");
  const bool store_owner = req.role() == youma::v1::SCAN_ROLE_STORE_OWNER;
  if (store_owner) {
    answer->set_territory_warning(absl::StrCat(
        "this ", facts.is_case ? "case" : "code", " is authorized for ", joined,
        dealer_id.empty() ? "" : absl::StrCat(" (dealer ", dealer_id, ")"), "; scanned in ",
        req.region()));
  }
  {
    auto ev = PrepareText(c,
                      "INSERT IGNORE INTO diversion_evidence (case_code_id, user_id, brand, "
                      "client_scan_id, role, region, region_source, scan_time) VALUES (?,?,?,?,?,?,?,?)");
    ev->setUInt64(1, case_id);
    ev->setString(2, req.user_id());
    ev->setString(3, facts.brand);
    ev->setString(4, req.client_scan_id());
    ev->setInt(5, req.role());
    ev->setString(6, req.region());
    ev->setInt(7, req.region_source());
    ev->setString(8, common::SqlTime(facts.scan_time));
    ev->executeUpdate();
  }
  std::string rule, params;
  if (store_owner && facts.is_case) {
    rule = "store_owner_out_of_territory";
    params = "a store owner's case scan outside the territory flags at once";
  } else if (req.role() == youma::v1::SCAN_ROLE_CONSUMER) {
    // The group holds the case's lock (LockDiversionCases): any other
    // transaction that added evidence to this case has committed, and this
    // count sees it.
    auto cnt = PrepareText(c, "SELECT COUNT(*) FROM diversion_evidence WHERE case_code_id = ? AND role = ?");
    cnt->setUInt64(1, case_id);
    cnt->setInt(2, youma::v1::SCAN_ROLE_CONSUMER);
    std::unique_ptr<sql::ResultSet> rs(cnt->executeQuery());
    const int64_t users = rs->next() ? rs->getInt64(1) : 0;
    if (users < options_.diversion_min_users) return absl::OkStatus();
    rule = "consumers_out_of_territory";
    params = absl::StrCat("min_users=", options_.diversion_min_users, "; ip regions count by province");
  } else {
    return absl::OkStatus();
  }
  auto flag = PrepareText(c,
                      "INSERT IGNORE INTO diversion_flags (brand, case_code_id, rule, parameters, "
                      "dealer_id, shipment_id, territory, flag_time) VALUES (?,?,?,?,?,?,?,?)");
  flag->setString(1, facts.brand);
  flag->setUInt64(2, case_id);
  flag->setString(3, rule);
  flag->setString(4, params);
  flag->setString(5, dealer_id);
  flag->setUInt64(6, shipment_id);
  flag->setString(7, joined);
  flag->setString(8, common::SqlTime(facts.scan_time));
  flag->executeUpdate();
  return absl::OkStatus();
}

}  // namespace youma::rules
