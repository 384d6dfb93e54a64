// Helpers shared by youma's doctest suites.
#pragma once

#include <doctest/doctest.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "codegen/keyset.h"
#include "youma/v1/keyset.pb.h"

// Fails the test with the status message unless `expr` is OK.
#define REQUIRE_OK(expr)                                         \
  do {                                                           \
    const absl::Status youma_test_st_ = ::youma::testing::AsStatus(expr); \
    INFO(youma_test_st_.ToString());                             \
    REQUIRE(youma_test_st_.ok());                                \
  } while (false)

#define YOUMA_TEST_CONCAT_(a, b) a##b
#define YOUMA_TEST_CONCAT(a, b) YOUMA_TEST_CONCAT_(a, b)
// `lhs = *expr` after REQUIRE_OK(expr).
#define ASSIGN_OR_FAIL(lhs, expr)                                 \
  auto YOUMA_TEST_CONCAT(youma_test_or_, __LINE__) = (expr);      \
  REQUIRE_OK(YOUMA_TEST_CONCAT(youma_test_or_, __LINE__).status()); \
  lhs = std::move(*YOUMA_TEST_CONCAT(youma_test_or_, __LINE__))

namespace youma::testing {

inline absl::Status AsStatus(const absl::Status& s) { return s; }
template <typename T>
absl::Status AsStatus(const absl::StatusOr<T>& s) {
  return s.status();
}

// Key ids and material of the fixed keyset behind the test vectors
// (codegen/README.md lists the same values).
inline constexpr uint32_t kVectorCompactKeyId = 0x0A0B0C0D;
inline constexpr uint32_t kVectorSignedKeyId = 0x11223344;
inline constexpr uint32_t kVectorGs1KeyId = 0x55667788;

// Bytes start, start+1, ..., start+31.
inline std::string CountingBytes(int start) {
  std::string s(32, '\0');
  for (int i = 0; i < 32; ++i) s[i] = static_cast<char>(start + i);
  return s;
}

// The test-vector keyset: compact key 00..1f, signed seed 20..3f, gs1 key 40..5f.
youma::v1::Keyset VectorKeysetProto();
codegen::Keyset VectorKeyset();

}  // namespace youma::testing
