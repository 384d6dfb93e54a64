// The three code schemes and the key states of DESIGN.md ("The code").
//
//   YOUMA_ASSIGN_OR_RETURN(Scheme s, ParseScheme("compact"));
//   std::cout << SchemeName(s);        // "compact"
#pragma once

#include <cstdint>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"

namespace youma::codegen {

enum class Scheme : uint8_t {
  kCompact = 1,  // keyed BLAKE2b tag; 28 base32 characters
  kSigned = 2,   // Ed25519 signature; 120 base32 characters
  kGs1 = 3,      // GS1 Digital Link; 20-character AI 21 serial
};

inline constexpr Scheme kAllSchemes[] = {Scheme::kCompact, Scheme::kSigned,
                                         Scheme::kGs1};

enum class KeyStatus : uint8_t { kEnabled = 1, kDisabled = 2, kDestroyed = 3 };

// "compact", "signed", "gs1".
absl::string_view SchemeName(Scheme scheme);
// Accepts the names above in any case; INVALID_ARGUMENT otherwise.
absl::StatusOr<Scheme> ParseScheme(absl::string_view name);

absl::string_view KeyStatusName(KeyStatus status);

// How many low bits of a key id a printed code of this scheme carries (the key
// hint). Keysets keep hints unique per scheme, so a hint names exactly one key.
constexpr int KeyHintBits(Scheme scheme) {
  switch (scheme) {
    case Scheme::kCompact: return 24;
    case Scheme::kSigned: return 32;
    case Scheme::kGs1: return 8;
  }
  return 32;
}

constexpr uint32_t KeyHint(Scheme scheme, uint32_t key_id) {
  const int bits = KeyHintBits(scheme);
  return bits == 32 ? key_id : key_id & ((uint32_t{1} << bits) - 1);
}

}  // namespace youma::codegen
