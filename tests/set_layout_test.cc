// Pre-associated sets: case and bottle ids computed both ways without storage.
#include "codegen/set_layout.h"
#include "tests/test_util.h"

namespace youma::codegen {
namespace {

TEST_CASE("case and bottle ids follow from the set index, and back") {
  const SetLayout layout(1000, 6);
  CHECK(layout.codes_per_set() == 7);
  CHECK(layout.CaseId(0) == 1000);
  CHECK(layout.BottleId(0, 0) == 1001);
  CHECK(layout.BottleId(0, 5) == 1006);
  CHECK(layout.CaseId(2) == 1014);
  const uint64_t sets = 1000;
  for (uint64_t s = 0; s < sets; ++s) {
    ASSIGN_OR_FAIL(SetPosition c, layout.Locate(layout.CaseId(s), sets));
    CHECK(c.is_case);
    CHECK(c.set_index == s);
    for (uint32_t b = 0; b < 6; ++b) {
      const uint64_t bottle = layout.BottleId(s, b);
      ASSIGN_OR_FAIL(SetPosition p, layout.Locate(bottle, sets));
      CHECK_FALSE(p.is_case);
      CHECK(p.set_index == s);
      CHECK(p.bottle_index == b);
      CHECK(*layout.CaseOf(bottle, sets) == layout.CaseId(s));
    }
  }
}

TEST_CASE("ids outside the sets, and cases asked for their case, are refused") {
  const SetLayout layout(1000, 6);
  CHECK(layout.Locate(999, 10).status().code() == absl::StatusCode::kOutOfRange);
  CHECK(layout.Locate(1000 + 70, 10).status().code() == absl::StatusCode::kOutOfRange);
  CHECK(layout.Locate(1000 + 69, 10).ok());
  CHECK(layout.CaseOf(1007, 10).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("a set of one bottle per case alternates case and bottle") {
  const SetLayout layout(1, 1);
  CHECK(layout.CaseId(3) == 7);
  CHECK(layout.BottleId(3, 0) == 8);
  CHECK(*layout.CaseOf(8, 4) == 7);
}

}  // namespace
}  // namespace youma::codegen
