// The fixed keyset behind youma's test vectors (codegen/README.md lists the
// same values): compact key 00..1f, signed seed 20..3f, gs1 key 40..5f.
// Used by the doctest suites and the fuzz targets.
#pragma once

#include <cstdint>
#include <string>

#include "youma/v1/keyset.pb.h"

namespace youma::testing {

inline constexpr uint32_t kVectorCompactKeyId = 0x0A0B0C0D;
inline constexpr uint32_t kVectorSignedKeyId = 0x11223344;
inline constexpr uint32_t kVectorGs1KeyId = 0x55667788;

// Bytes start, start+1, ..., start+31.
std::string CountingBytes(int start);

youma::v1::Keyset VectorKeysetProto();

}  // namespace youma::testing
