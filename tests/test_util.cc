#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "tests/test_util.h"

#include <sodium.h>

namespace youma::testing {
namespace {

// libsodium must be initialised before any test runs.
const bool kSodiumReady = sodium_init() >= 0;

}  // namespace

codegen::Keyset VectorKeyset() {
  REQUIRE(kSodiumReady);
  absl::StatusOr<codegen::Keyset> ks = codegen::Keyset::FromProto(VectorKeysetProto());
  REQUIRE_OK(ks.status());
  return *std::move(ks);
}

}  // namespace youma::testing
