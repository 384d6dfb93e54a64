#include "services/rules/campaign.h"

#include <sodium.h>

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "services/common/status_macros.h"
#include "services/common/time_util.h"
#include "services/issuer/issuer.h"

namespace youma::rules {
namespace {

absl::Status Invalid(std::string message) { return absl::InvalidArgumentError(std::move(message)); }

std::string Yuan(int64_t fen) { return absl::StrCat(fen / 100, ".", fen % 100 < 10 ? "0" : "", fen % 100); }

template <typename T>
bool Superset(const google::protobuf::RepeatedPtrField<T>& after,
              const google::protobuf::RepeatedPtrField<T>& before) {
  if (after.empty()) return true;   // empty means "all"
  if (before.empty()) return false;
  std::set<T> a(after.begin(), after.end());
  return std::all_of(before.begin(), before.end(), [&](const T& x) { return a.count(x) > 0; });
}

}  // namespace

int64_t SmallestReward(const youma::v1::CampaignSpec& spec) {
  int64_t smallest = INT64_MAX;
  for (const auto& t : spec.tiers()) smallest = std::min(smallest, t.amount_fen());
  for (int64_t fixed : {spec.store().registration_bonus_fen(), spec.store().rebate_fen()}) {
    if (fixed > 0) smallest = std::min(smallest, fixed);
  }
  return smallest;
}

absl::Status ValidateCampaign(const youma::v1::CampaignSpec& spec) {
  if (spec.name().empty() || spec.name().size() > 200) {
    return Invalid("a campaign needs a name of 1 to 200 bytes");
  }
  const auto& store = spec.store();
  if (store.registration_bonus_fen() < 0 || store.rebate_fen() < 0) {
    return Invalid("store rewards must not be negative (0 means none)");
  }
  if (store.registration_bonus_fen() > kMaxPrizeFen || store.rebate_fen() > kMaxPrizeFen) {
    return Invalid("a store reward above 50000.00 yuan is above the legal cap on a prize");
  }
  if (spec.tiers().empty() && store.registration_bonus_fen() == 0 && store.rebate_fen() == 0) {
    return Invalid("a campaign needs at least one prize tier or a store reward");
  }
  if (spec.tiers_size() > 20) return Invalid("a campaign has at most 20 prize tiers");
  uint64_t total_ppm = 0;
  for (const auto& t : spec.tiers()) {
    if (t.name().empty()) return Invalid("every prize tier needs a name");
    if (t.amount_fen() <= 0) {
      return Invalid(absl::StrCat("tier '", t.name(), "' must pay a positive amount (fen)"));
    }
    if (t.amount_fen() > kMaxPrizeFen) {
      return Invalid(absl::StrCat("tier '", t.name(), "' pays ", Yuan(t.amount_fen()),
                                  " yuan; the law caps a prize at 50000.00 yuan"));
    }
    if (t.max_count() < 0) return Invalid(absl::StrCat("tier '", t.name(), "' has a negative cap"));
    total_ppm += t.probability_ppm();
  }
  const int64_t smallest = SmallestReward(spec);
  if (total_ppm > kPpm) {
    return Invalid(absl::StrCat("the tiers' probabilities add up to ", total_ppm,
                                " ppm, above 1 (1000000 ppm)"));
  }
  if (spec.budget_fen() < smallest) {
    return Invalid(absl::StrCat("the budget (", Yuan(spec.budget_fen()),
                                " yuan) is below the smallest prize (", Yuan(smallest), " yuan)"));
  }
  if (spec.per_user_daily_limit() < 0) return Invalid("per_user_daily_limit must not be negative");
  const auto& lim = spec.limits();
  if (lim.max_scans_per_user_per_day() < 0 || lim.max_scans_per_device_per_day() < 0 ||
      lim.max_scans_per_ip_per_day() < 0 || lim.max_travel_kmh() < 0 ||
      lim.max_bottles_per_user_per_case() < 0 || lim.max_new_accounts_per_ip_per_hour() < 0) {
    return Invalid("fraud limits must not be negative (0 means no limit)");
  }
  if (!spec.has_start_time() || !spec.has_end_time()) return Invalid("a campaign needs a start_time and an end_time");
  YOUMA_ASSIGN_OR_RETURN(const absl::Time start, common::RequestTime(spec.start_time(), "start_time"));
  YOUMA_ASSIGN_OR_RETURN(const absl::Time end, common::RequestTime(spec.end_time(), "end_time"));
  if (end <= start) return Invalid("a campaign needs a start_time before its end_time");
  for (const auto& r : spec.roles()) {
    if (r == youma::v1::SCAN_ROLE_UNSPECIFIED || !youma::v1::ScanRole_IsValid(r)) {
      return Invalid("unknown role in the campaign's roles");
    }
  }
  return issuer::ValidateTerritory(spec.regions());
}

absl::Status ValidateChangeAfterLaunch(const youma::v1::CampaignSpec& before,
                                       const youma::v1::CampaignSpec& after) {
  auto refuse = [](const std::string& what) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the campaign is live: ", what, "; after launch only changes in the consumers' favour "
        "are allowed (more budget, better odds, larger prizes, more winners, wider scope)"));
  };
  if (after.budget_fen() < before.budget_fen()) return refuse("the budget would shrink");
  if (after.tiers_size() < before.tiers_size()) return refuse("a prize tier would be removed");
  for (int i = 0; i < before.tiers_size(); ++i) {
    const auto& b = before.tiers(i);
    const auto& a = after.tiers(i);
    if (a.amount_fen() < b.amount_fen()) return refuse(absl::StrCat("tier '", b.name(), "' would pay less"));
    if (a.probability_ppm() < b.probability_ppm()) {
      return refuse(absl::StrCat("tier '", b.name(), "' would have worse odds"));
    }
    const bool capped_before = b.max_count() > 0;
    if (a.max_count() > 0 && (!capped_before || a.max_count() < b.max_count())) {
      return refuse(absl::StrCat("tier '", b.name(), "' would have fewer winners"));
    }
  }
  if (after.per_user_daily_limit() > 0 &&
      (before.per_user_daily_limit() == 0 ||
       after.per_user_daily_limit() < before.per_user_daily_limit())) {
    return refuse("the per-user daily limit would tighten");
  }
  // A limit may loosen (rise, or go to 0 = none) but not tighten.
  auto tighter = [](int32_t before_limit, int32_t after_limit) {
    return after_limit > 0 && (before_limit == 0 || after_limit < before_limit);
  };
  const auto& lb = before.limits();
  const auto& la = after.limits();
  if (tighter(lb.max_scans_per_user_per_day(), la.max_scans_per_user_per_day()) ||
      tighter(lb.max_scans_per_device_per_day(), la.max_scans_per_device_per_day()) ||
      tighter(lb.max_scans_per_ip_per_day(), la.max_scans_per_ip_per_day()) ||
      tighter(lb.max_travel_kmh(), la.max_travel_kmh()) ||
      tighter(lb.max_bottles_per_user_per_case(), la.max_bottles_per_user_per_case()) ||
      tighter(lb.max_new_accounts_per_ip_per_hour(), la.max_new_accounts_per_ip_per_hour())) {
    return refuse("a fraud limit would tighten");
  }
  if (after.store().registration_bonus_fen() < before.store().registration_bonus_fen() ||
      after.store().rebate_fen() < before.store().rebate_fen()) {
    return refuse("a store reward would shrink");
  }
  if (!Superset(after.gtins(), before.gtins())) return refuse("products would be removed");
  if (!Superset(after.regions(), before.regions())) return refuse("regions would be removed");
  std::vector<int> ab(after.roles().begin(), after.roles().end()),
      bb(before.roles().begin(), before.roles().end());
  for (int r : bb) {
    if (!ab.empty() && std::find(ab.begin(), ab.end(), r) == ab.end()) return refuse("a role would be removed");
  }
  if (common::FromProtoTime(after.start_time()) > common::FromProtoTime(before.start_time()) ||
      common::FromProtoTime(after.end_time()) < common::FromProtoTime(before.end_time())) {
    return refuse("the time window would shrink");
  }
  return ValidateCampaign(after);
}

uint32_t DrawPpm(const std::array<uint8_t, kSeedSize>& seed, uint64_t code_id) {
  static constexpr char kDomain[] = "youma-draw-v1";
  uint8_t msg[sizeof kDomain - 1 + 8];
  std::copy(kDomain, kDomain + sizeof kDomain - 1, msg);
  for (int i = 0; i < 8; ++i) msg[sizeof kDomain - 1 + i] = static_cast<uint8_t>(code_id >> (56 - 8 * i));
  uint8_t out[16];
  crypto_generichash(out, sizeof out, msg, sizeof msg, seed.data(), seed.size());
  uint64_t x = 0;
  for (int i = 0; i < 8; ++i) x = (x << 8) | out[i];
  __extension__ typedef unsigned __int128 Wide;
  return static_cast<uint32_t>((static_cast<Wide>(x) * kPpm) >> 64);
}

int Draw(const std::array<uint8_t, kSeedSize>& seed, uint64_t code_id,
         const youma::v1::CampaignSpec& spec) {
  const uint32_t r = DrawPpm(seed, code_id);
  uint64_t cumulative = 0;
  for (int i = 0; i < spec.tiers_size(); ++i) {
    cumulative += spec.tiers(i).probability_ppm();
    if (r < cumulative) return i;
  }
  return -1;
}

std::string Sha256Hex(const uint8_t* data, size_t size) {
  unsigned char d[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(d, data, size);
  char hex[2 * sizeof d + 1];
  sodium_bin2hex(hex, sizeof hex, d, sizeof d);
  return hex;
}

}  // namespace youma::rules
