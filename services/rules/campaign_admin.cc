#include "services/rules/campaign_admin.h"

#include <sodium.h>

#include <algorithm>
#include <map>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "services/common/status_macros.h"
#include "services/common/time_util.h"

namespace youma::rules {
namespace {

using common::FromProtoTime;
using common::ParseSqlTime;
using common::SqlTime;
using common::ToProtoTime;
using storage::Prepare;

absl::StatusOr<youma::v1::Campaign> Load(sql::Connection& c, const std::string& brand,
                                         uint64_t campaign_id, bool for_update) {
  auto st = Prepare(c, absl::StrCat("SELECT * FROM campaigns WHERE campaign_id = ? AND brand = ?",
                                    for_update ? " FOR UPDATE" : ""));
  st->setUInt64(1, campaign_id);
  st->setString(2, brand);
  std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
  if (!rs->next()) {
    return absl::NotFoundError(absl::StrCat("no campaign ", campaign_id, " for brand ", brand));
  }
  youma::v1::Campaign out;
  out.set_campaign_id(campaign_id);
  out.set_brand(brand);
  out.set_state(static_cast<youma::v1::CampaignState>(rs->getInt("state")));
  if (!out.mutable_spec()->ParseFromString(rs->getString("spec"))) {
    return absl::DataLossError(absl::StrCat("campaign ", campaign_id, " does not parse"));
  }
  if (!rs->isNull("seed_sha256")) out.set_seed_sha256(rs->getString("seed_sha256"));
  if (out.state() == youma::v1::CAMPAIGN_STATE_ENDED && !rs->isNull("seed")) {
    const std::string seed = rs->getString("seed");
    char hex[2 * kSeedSize + 1];
    sodium_bin2hex(hex, sizeof hex, reinterpret_cast<const unsigned char*>(seed.data()), seed.size());
    out.set_seed_hex(hex);
  }
  *out.mutable_create_time() = ToProtoTime(ParseSqlTime(rs->getString("create_time")));
  if (!rs->isNull("launch_time")) *out.mutable_launch_time() = ToProtoTime(ParseSqlTime(rs->getString("launch_time")));
  if (!rs->isNull("end_time")) *out.mutable_end_time() = ToProtoTime(ParseSqlTime(rs->getString("end_time")));
  // Spent and left, reconciled from the award ledger and the budget shards.
  for (const auto& t : out.spec().tiers()) {
    auto* ts = out.add_tiers();
    ts->set_name(t.name());
  }
  // The totals kept with each award, and any award an older youma recorded
  // that is not counted in them yet (rules::CountOlderAwards): exact without
  // reading the ledger, which for a big campaign holds millions of awards.
  auto aw = Prepare(c, "SELECT tier, SUM(awards), SUM(amount_fen) FROM award_totals WHERE campaign_id = ? "
                       "GROUP BY tier UNION ALL SELECT tier, COUNT(*), SUM(amount_fen) FROM awards "
                       "WHERE counted = 0 AND campaign_id = ? GROUP BY tier");
  aw->setUInt64(1, campaign_id);
  aw->setUInt64(2, campaign_id);
  std::unique_ptr<sql::ResultSet> ars(aw->executeQuery());
  while (ars->next()) {
    const int tier = ars->getInt(1);
    const int64_t count = ars->getInt64(2), fen = ars->getInt64(3);
    out.set_awards(out.awards() + count);
    out.set_spent_fen(out.spent_fen() + fen);
    // A tier can come twice: counted, and recorded by an older youma.
    if (tier >= 0 && tier < out.tiers_size()) {
      auto* t = out.mutable_tiers(tier);
      t->set_awarded(t->awarded() + count);
      t->set_amount_fen(t->amount_fen() + fen);
    } else if (tier == kRebateTier) {
      out.set_rebates(out.rebates() + count);
      out.set_rebate_fen(out.rebate_fen() + fen);
    } else if (tier == kRegistrationTier) {
      out.set_registration_bonuses(out.registration_bonuses() + count);
      out.set_registration_bonus_fen(out.registration_bonus_fen() + fen);
    }
  }
  *out.mutable_limits() = out.spec().limits();
  out.set_left_fen(out.spec().budget_fen() - out.spent_fen());
  auto hits = Prepare(c, "SELECT rule, scans FROM limit_hits WHERE campaign_id = ? ORDER BY rule");
  hits->setUInt64(1, campaign_id);
  std::unique_ptr<sql::ResultSet> hrs(hits->executeQuery());
  while (hrs->next()) {
    auto* h = out.add_limits_hit();
    h->set_rule(hrs->getString(1));
    h->set_scans(hrs->getInt64(2));
  }
  out.set_budget_exhausted(out.state() != youma::v1::CAMPAIGN_STATE_DRAFT &&
                           out.left_fen() < SmallestReward(out.spec()));
  return out;
}

}  // namespace

absl::StatusOr<youma::v1::Campaign> CampaignAdmin::Create(const std::string& brand,
                                                          const youma::v1::CampaignSpec& spec) {
  YOUMA_RETURN_IF_ERROR(ValidateCampaign(spec));
  return pool_->InTransaction([&](sql::Connection& c) -> absl::StatusOr<youma::v1::Campaign> {
    auto st = Prepare(c, "INSERT INTO campaigns (brand, state, spec, create_time) VALUES (?,?,?,?)");
    st->setString(1, brand);
    st->setInt(2, youma::v1::CAMPAIGN_STATE_DRAFT);
    st->setString(3, spec.SerializeAsString());
    st->setString(4, SqlTime(absl::Now()));
    st->executeUpdate();
    std::unique_ptr<sql::Statement> id_st(c.createStatement());
    std::unique_ptr<sql::ResultSet> rs(id_st->executeQuery("SELECT LAST_INSERT_ID()"));
    rs->next();
    return Load(c, brand, rs->getUInt64(1), false);
  });
}

absl::StatusOr<youma::v1::Campaign> CampaignAdmin::Update(const std::string& brand,
                                                          uint64_t campaign_id,
                                                          const youma::v1::CampaignSpec& spec) {
  YOUMA_RETURN_IF_ERROR(ValidateCampaign(spec));
  auto out = pool_->InTransaction([&](sql::Connection& c) -> absl::StatusOr<youma::v1::Campaign> {
    YOUMA_ASSIGN_OR_RETURN(youma::v1::Campaign current, Load(c, brand, campaign_id, true));
    if (current.state() == youma::v1::CAMPAIGN_STATE_ENDED) {
      return absl::FailedPreconditionError("the campaign has ended and can no longer change");
    }
    if (current.state() == youma::v1::CAMPAIGN_STATE_ACTIVE) {
      YOUMA_RETURN_IF_ERROR(ValidateChangeAfterLaunch(current.spec(), spec));
      const int64_t added = spec.budget_fen() - current.spec().budget_fen();
      if (added > 0) {
        auto st = Prepare(c, "UPDATE budget_shards SET remaining_fen = remaining_fen + ? WHERE campaign_id = ? AND shard = 0");
        st->setInt64(1, added);
        st->setUInt64(2, campaign_id);
        st->executeUpdate();
      }
    }
    auto st = Prepare(c, "UPDATE campaigns SET spec = ? WHERE campaign_id = ?");
    st->setString(1, spec.SerializeAsString());
    st->setUInt64(2, campaign_id);
    st->executeUpdate();
    return Load(c, brand, campaign_id, false);
  });
  engine_->Invalidate(brand);
  return out;
}

absl::StatusOr<youma::v1::Campaign> CampaignAdmin::Launch(const std::string& brand,
                                                          uint64_t campaign_id) {
  auto out = pool_->InTransaction([&](sql::Connection& c) -> absl::StatusOr<youma::v1::Campaign> {
    YOUMA_ASSIGN_OR_RETURN(youma::v1::Campaign current, Load(c, brand, campaign_id, true));
    if (current.state() != youma::v1::CAMPAIGN_STATE_DRAFT) {
      return absl::FailedPreconditionError(
          absl::StrCat("campaign ", campaign_id, " was launched already"));
    }
    uint8_t seed[kSeedSize];
    randombytes_buf(seed, sizeof seed);
    auto st = Prepare(c, "UPDATE campaigns SET state = ?, seed = ?, seed_sha256 = ?, launch_time = ? WHERE campaign_id = ?");
    st->setInt(1, youma::v1::CAMPAIGN_STATE_ACTIVE);
    st->setString(2, std::string(reinterpret_cast<char*>(seed), sizeof seed));
    st->setString(3, Sha256Hex(seed, sizeof seed));
    st->setString(4, SqlTime(absl::Now()));
    st->setUInt64(5, campaign_id);
    st->executeUpdate();
    sodium_memzero(seed, sizeof seed);
    // The budget, in shards: awards spread over rows instead of queueing on one.
    const int64_t budget = current.spec().budget_fen();
    std::string sql = "INSERT INTO budget_shards (campaign_id, shard, remaining_fen) VALUES ";
    for (int i = 0; i < kBudgetShards; ++i) {
      const int64_t share = budget / kBudgetShards + (i == 0 ? budget % kBudgetShards : 0);
      absl::StrAppend(&sql, i ? "," : "", "(", campaign_id, ",", i, ",", share, ")");
    }
    storage::Execute(c, sql);
    return Load(c, brand, campaign_id, false);
  });
  engine_->Invalidate(brand);
  return out;
}

absl::StatusOr<youma::v1::Campaign> CampaignAdmin::End(const std::string& brand,
                                                       uint64_t campaign_id) {
  auto out = pool_->InTransaction([&](sql::Connection& c) -> absl::StatusOr<youma::v1::Campaign> {
    YOUMA_ASSIGN_OR_RETURN(youma::v1::Campaign current, Load(c, brand, campaign_id, true));
    if (current.state() != youma::v1::CAMPAIGN_STATE_ACTIVE) {
      return absl::FailedPreconditionError(
          absl::StrCat("campaign ", campaign_id, " is not running (launch it first)"));
    }
    auto st = Prepare(c, "UPDATE campaigns SET state = ?, end_time = ? WHERE campaign_id = ?");
    st->setInt(1, youma::v1::CAMPAIGN_STATE_ENDED);
    st->setString(2, SqlTime(absl::Now()));
    st->setUInt64(3, campaign_id);
    st->executeUpdate();
    return Load(c, brand, campaign_id, false);
  });
  engine_->Invalidate(brand);
  return out;
}

absl::StatusOr<youma::v1::Campaign> CampaignAdmin::Get(const std::string& brand, uint64_t campaign_id) {
  return pool_->WithConnection([&](sql::Connection& c) { return Load(c, brand, campaign_id, false); });
}

absl::StatusOr<youma::v1::ListCampaignsResponse> CampaignAdmin::List(const std::string& brand) {
  return pool_->WithConnection([&](sql::Connection& c) -> absl::StatusOr<youma::v1::ListCampaignsResponse> {
    auto st = Prepare(c, "SELECT campaign_id FROM campaigns WHERE brand = ? ORDER BY campaign_id");
    st->setString(1, brand);
    std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
    std::vector<uint64_t> ids;
    while (rs->next()) ids.push_back(rs->getUInt64(1));
    youma::v1::ListCampaignsResponse out;
    for (uint64_t id : ids) {
      YOUMA_ASSIGN_OR_RETURN(*out.add_campaigns(), Load(c, brand, id, false));
    }
    return out;
  });
}

absl::StatusOr<youma::v1::DrawAudit> CampaignAdmin::VerifyDraws(const std::string& brand,
                                                                uint64_t campaign_id) {
  return pool_->WithConnection([&](sql::Connection& c) -> absl::StatusOr<youma::v1::DrawAudit> {
    YOUMA_ASSIGN_OR_RETURN(youma::v1::Campaign campaign, Load(c, brand, campaign_id, false));
    if (campaign.state() != youma::v1::CAMPAIGN_STATE_ENDED) {
      return absl::FailedPreconditionError(
          "draws can be verified once the campaign has ended and its seed is revealed");
    }
    std::array<uint8_t, kSeedSize> seed;
    size_t len = 0;
    if (sodium_hex2bin(seed.data(), seed.size(), campaign.seed_hex().data(), campaign.seed_hex().size(),
                       nullptr, &len, nullptr) != 0 || len != kSeedSize) {
      return absl::DataLossError("the revealed seed is not 32 bytes");
    }
    youma::v1::DrawAudit audit;
    audit.set_campaign_id(campaign_id);
    if (Sha256Hex(seed.data(), seed.size()) != campaign.seed_sha256()) {
      audit.set_mismatches(1);
      audit.add_mismatch_details("the revealed seed does not hash to the hash published at launch");
    }
    // Every award against the draw it claims.
    // Every award against the draw it claims; fixed store rewards against
    // their amount and what backs them (a consumer's scan, a registered store).
    auto st = Prepare(c, "SELECT a.code_id, a.tier, a.amount_fen, a.award_id, s.verdict, st.store_id FROM awards a "
                         "LEFT JOIN scans s ON s.brand = a.brand AND s.client_scan_id = a.client_scan_id "
                         "LEFT JOIN stores st ON a.role = ? AND st.store_id = a.code_id AND st.brand = a.brand "
                         "WHERE a.campaign_id = ?");
    st->setInt(1, kRegistrationRole);
    st->setUInt64(2, campaign_id);
    std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
    const auto& spec = campaign.spec();
    while (rs->next()) {
      audit.set_awards_checked(audit.awards_checked() + 1);
      const uint64_t code_id = rs->getUInt64(1);
      const int tier = rs->getInt(2);
      const int64_t paid = rs->getInt64(3);
      std::string problem;
      if (tier == kRegistrationTier) {
        if (paid > spec.store().registration_bonus_fen()) {
          problem = absl::StrCat("pays ", paid, " fen, above the registration bonus");
        } else if (rs->isNull(6)) {
          problem = "no registered store backs this registration bonus";
        }
      } else if (tier == kRebateTier) {
        if (paid > spec.store().rebate_fen()) {
          problem = absl::StrCat("pays ", paid, " fen, above the rebate");
        } else if (rs->isNull(5)) {
          problem = "no consumer scan in the scan log backs this rebate";
        }
      } else if (const int expected = Draw(seed, code_id, spec); expected != tier) {
        problem = absl::StrCat("draw gives tier ", expected, ", award says ", tier);
      } else if (paid > spec.tiers(tier).amount_fen()) {
        problem = absl::StrCat("pays ", paid, " fen, above the tier's amount");
      } else if (rs->isNull(5)) {
        problem = "no scan in the scan log backs this award";
      }
      if (!problem.empty()) {
        audit.set_mismatches(audit.mismatches() + 1);
        if (audit.mismatch_details_size() < 100) {
          audit.add_mismatch_details(absl::StrCat("award ", std::string(rs->getString(4)), " (code ",
                                                  code_id, "): ", problem));
        }
      }
    }
    return audit;
  });
}

absl::StatusOr<youma::v1::ListDiversionFlagsResponse> CampaignAdmin::DiversionFlags(
    const std::string& brand, const youma::v1::ListDiversionFlagsRequest& req) {
  // Unset ends are left out of the query.
  YOUMA_ASSIGN_OR_RETURN(const absl::Time from, common::RequestTimeOr(req.has_from_time(), req.from_time(),
                                                                       "from_time", absl::InfinitePast()));
  YOUMA_ASSIGN_OR_RETURN(const absl::Time to, common::RequestTimeOr(req.has_to_time(), req.to_time(), "to_time",
                                                                     absl::InfiniteFuture()));
  constexpr int kMaxPage = 10'000;
  if (req.page_size() < 0) return absl::InvalidArgumentError("page_size must not be negative");
  const int size = req.page_size() == 0 ? kMaxPage : std::min(req.page_size(), kMaxPage);
  // A page token is the last flag's time (microseconds) and case code id.
  int64_t after_us = 0;
  uint64_t after_case = 0;
  if (!req.page_token().empty()) {
    const std::vector<std::string> parts = absl::StrSplit(req.page_token(), ':');
    if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &after_us) || !absl::SimpleAtoi(parts[1], &after_case)) {
      return absl::InvalidArgumentError("page_token is not one this server returned");
    }
  }
  return pool_->WithConnection([&](sql::Connection& c) -> absl::StatusOr<youma::v1::ListDiversionFlagsResponse> {
    // In (flag_time, case_code_id) order: diversion_dealer, or diversion_time
    // without a dealer (InnoDB appends the case code id to both).
    std::string sql = "SELECT * FROM diversion_flags WHERE brand = ?";
    if (!req.dealer_id().empty()) sql += " AND dealer_id = ?";
    if (req.has_from_time()) sql += " AND flag_time >= ?";
    if (req.has_to_time()) sql += " AND flag_time < ?";
    if (!req.page_token().empty()) sql += " AND (flag_time > ? OR (flag_time = ? AND case_code_id > ?))";
    sql += " ORDER BY flag_time, case_code_id LIMIT ?";
    auto st = Prepare(c, sql);
    int i = 1;
    st->setString(i++, brand);
    if (!req.dealer_id().empty()) st->setString(i++, req.dealer_id());
    if (req.has_from_time()) st->setString(i++, SqlTime(from));
    if (req.has_to_time()) st->setString(i++, SqlTime(to));
    if (!req.page_token().empty()) {
      const std::string after = SqlTime(absl::FromUnixMicros(after_us));
      st->setString(i++, after);
      st->setString(i++, after);
      st->setUInt64(i++, after_case);
    }
    st->setInt(i++, size + 1);
    std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
    youma::v1::ListDiversionFlagsResponse out;
    while (rs->next()) {
      if (out.flags_size() == size) {
        const youma::v1::DiversionFlag& last = out.flags(size - 1);
        out.set_next_page_token(absl::StrCat(absl::ToUnixMicros(FromProtoTime(last.flag_time())), ":",
                                             last.case_code_id()));
        break;
      }
      auto* f = out.add_flags();
      f->set_brand(brand);
      f->set_case_code_id(rs->getUInt64("case_code_id"));
      f->set_rule(rs->getString("rule"));
      f->set_parameters(rs->getString("parameters"));
      f->set_dealer_id(rs->getString("dealer_id"));
      f->set_shipment_id(rs->getUInt64("shipment_id"));
      for (absl::string_view t : absl::StrSplit(std::string(rs->getString("territory")), ',', absl::SkipEmpty())) {
        f->add_territory(std::string(t));
      }
      *f->mutable_flag_time() = ToProtoTime(ParseSqlTime(rs->getString("flag_time")));
    }
    // The evidence, 500 flags per query (not one query per flag).
    std::map<uint64_t, youma::v1::DiversionFlag*> by_case;
    for (auto& f : *out.mutable_flags()) by_case[f.case_code_id()] = &f;
    for (auto it = by_case.begin(); it != by_case.end();) {
      std::string ids;
      for (int n = 0; n < 500 && it != by_case.end(); ++n, ++it) absl::StrAppend(&ids, ids.empty() ? "" : ",", it->first);
      auto ev = Prepare(c, absl::StrCat("SELECT case_code_id, client_scan_id, user_id, role, region, region_source, "
                                        "scan_time FROM diversion_evidence WHERE brand = ? AND case_code_id IN (",
                                        ids, ") ORDER BY case_code_id, scan_time"));
      ev->setString(1, brand);
      std::unique_ptr<sql::ResultSet> ers(ev->executeQuery());
      while (ers->next()) {
        auto* e = by_case[ers->getUInt64(1)]->add_evidence();
        e->set_client_scan_id(ers->getString(2));
        e->set_user_id(ers->getString(3));
        e->set_role(static_cast<youma::v1::ScanRole>(ers->getInt(4)));
        e->set_region(ers->getString(5));
        e->set_region_source(static_cast<youma::v1::RegionSource>(ers->getInt(6)));
        *e->mutable_scan_time() = ToProtoTime(ParseSqlTime(ers->getString(7)));
      }
    }
    return out;
  });
}

}  // namespace youma::rules
