// Campaign rules as pure functions: what a valid campaign is, which changes
// after launch are in the consumers' favour, and the deterministic draw.
//
//   YOUMA_RETURN_IF_ERROR(ValidateCampaign(spec));
//   int tier = Draw(seed, code_id, spec);   // -1: no prize
//
// The draw is outcome = PRF(seed, code id) mapped onto the tiers' disclosed
// odds: BLAKE2b keyed by the 32-byte seed over "youma-draw-v1" and the code id
// (8 bytes, big-endian); the first 8 bytes, as a big-endian integer x, give
// r = floor(x * 1,000,000 / 2^64), and tier i wins when r falls in its slice of
// the cumulative parts per million. Re-scanning cannot re-roll.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "youma/v1/rules.pb.h"

namespace youma::rules {

inline constexpr int64_t kMaxPrizeFen = 5'000'000;  // 50,000 yuan (promotion law)
inline constexpr uint32_t kPpm = 1'000'000;
inline constexpr size_t kSeedSize = 32;

// Awards that are not draws share the ledger (and its unique key) with the
// draws under their own role numbers: a store's rebate for a bottle (code id:
// the bottle) and a store's registration bonus (code id: the store id).
// Their tier in the ledger is kRebateTier or kRegistrationTier.
inline constexpr int kRebateRole = 100;
inline constexpr int kRegistrationRole = 101;
inline constexpr int kRebateTier = -1;
inline constexpr int kRegistrationTier = -2;

// The smallest amount the campaign can pay: below it the budget is used up.
int64_t SmallestReward(const youma::v1::CampaignSpec& spec);

absl::Status ValidateCampaign(const youma::v1::CampaignSpec& spec);
// For an ACTIVE campaign: only raising budget, odds, amounts or caps, adding
// tiers, widening products, roles, regions or the time window is allowed.
absl::Status ValidateChangeAfterLaunch(const youma::v1::CampaignSpec& before,
                                       const youma::v1::CampaignSpec& after);

// The draw's uniform number in [0, 1,000,000).
uint32_t DrawPpm(const std::array<uint8_t, kSeedSize>& seed, uint64_t code_id);
// The winning tier index, or -1 for no prize.
int Draw(const std::array<uint8_t, kSeedSize>& seed, uint64_t code_id,
         const youma::v1::CampaignSpec& spec);

std::string Sha256Hex(const uint8_t* data, size_t size);

}  // namespace youma::rules
