#include "codegen/set_layout.h"

#include "absl/strings/str_cat.h"

namespace youma::codegen {

absl::StatusOr<SetPosition> SetLayout::Locate(uint64_t code_id, uint64_t set_count) const {
  if (code_id < first_ || (code_id - first_) / codes_per_set() >= set_count) {
    return absl::OutOfRangeError(absl::StrCat("code id ", code_id, " is outside the ",
                                              set_count, " sets starting at ", first_));
  }
  const uint64_t offset = code_id - first_;
  SetPosition pos;
  pos.set_index = offset / codes_per_set();
  const uint64_t within = offset % codes_per_set();
  pos.is_case = within == 0;
  pos.bottle_index = pos.is_case ? 0 : static_cast<uint32_t>(within - 1);
  return pos;
}

absl::StatusOr<uint64_t> SetLayout::CaseOf(uint64_t bottle_code_id, uint64_t set_count) const {
  absl::StatusOr<SetPosition> pos = Locate(bottle_code_id, set_count);
  if (!pos.ok()) return pos.status();
  if (pos->is_case) {
    return absl::InvalidArgumentError(
        absl::StrCat("code id ", bottle_code_id, " is a case, not a bottle"));
  }
  return CaseId(pos->set_index);
}

}  // namespace youma::codegen
