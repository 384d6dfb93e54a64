// Pre-associated sets (套标): which bottles belong to which case is computed from
// code ids, never stored.
//
// A SET batch of S sets with N bottles per case is one contiguous range of
// S * (N + 1) code ids starting at `first_code_id`. Set s holds the case
// first + s*(N+1) followed by its bottles first + s*(N+1) + 1 ... + N.
//
//   SetLayout layout(/*first_code_id=*/1000, /*bottles_per_case=*/6);
//   layout.CaseId(2);                     // 1014
//   layout.BottleId(2, 0);                // 1015
//   layout.CaseOf(1017);                  // 1014
#pragma once

#include <cstdint>

#include "absl/status/statusor.h"

namespace youma::codegen {

struct SetPosition {
  uint64_t set_index = 0;
  bool is_case = false;
  uint32_t bottle_index = 0;  // meaningful when !is_case
};

class SetLayout {
 public:
  SetLayout(uint64_t first_code_id, uint32_t bottles_per_case)
      : first_(first_code_id), bottles_(bottles_per_case) {}

  uint64_t codes_per_set() const { return uint64_t{bottles_} + 1; }
  uint32_t bottles_per_case() const { return bottles_; }
  uint64_t first_code_id() const { return first_; }

  uint64_t CaseId(uint64_t set_index) const { return first_ + set_index * codes_per_set(); }
  uint64_t BottleId(uint64_t set_index, uint32_t bottle_index) const {
    return CaseId(set_index) + 1 + bottle_index;
  }
  // Where `code_id` sits in the layout; OUT_OF_RANGE below the first id or at or
  // past `set_count` sets.
  absl::StatusOr<SetPosition> Locate(uint64_t code_id, uint64_t set_count) const;
  // The case id of a bottle; INVALID_ARGUMENT when `code_id` is itself a case.
  absl::StatusOr<uint64_t> CaseOf(uint64_t bottle_code_id, uint64_t set_count) const;

 private:
  uint64_t first_;
  uint32_t bottles_;
};

}  // namespace youma::codegen
