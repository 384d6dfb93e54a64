// Printed codes: issuing them (CodeMinter) and checking them (CodeVerifier).
//
// A code is a URL that a phone opens. Its token carries a format nibble, a key
// hint, a 48-bit code id and a tag or signature, so a scan is verified by
// arithmetic alone: a forged code is rejected before it costs a query. The
// exact layouts and test vectors are in codegen/README.md.
//
//   YOUMA_ASSIGN_OR_RETURN(CodeMinter minter, CodeMinter::Create(keyset, Scheme::kCompact));
//   YOUMA_ASSIGN_OR_RETURN(std::string url, minter.Url(42));
//       // "HTTPS://YM.EXAMPLE.CN/CAB3...": 22 + 28 characters
//   CodeVerifier verifier = CodeVerifier::ForKeyset(keyset);
//   Verification v = verifier.Verify(url);   // v.verdict == Verdict::kGenuine, v.code_id == 42
//
// Both classes are immutable after construction and safe to share across threads.
#pragma once

#include <sodium.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "codegen/keyset.h"
#include "codegen/scheme.h"
#include "codegen/secret_bytes.h"
#include "youma/v1/keyset.pb.h"

namespace youma::codegen {

inline constexpr uint64_t kMaxCodeId = (uint64_t{1} << 48) - 1;
inline constexpr size_t kCompactTokenLength = 28;  // 140 bits of base32
inline constexpr size_t kSignedTokenLength = 120;  // 600 bits of base32
inline constexpr size_t kGs1SerialLength = 20;     // 120 bits of base64url
inline constexpr int kCompactTagBits = 64;
inline constexpr int kGs1TagBits = 60;

// The format nibble that opens every token (Tink: "every output starts with a
// version and the key id").
constexpr uint8_t FormatNibble(Scheme scheme) { return static_cast<uint8_t>(scheme); }

// What a code says about itself, before any key is consulted.
struct ParsedCode {
  Scheme scheme = Scheme::kCompact;
  uint32_t key_hint = 0;  // low KeyHintBits(scheme) bits of the key id
  uint64_t code_id = 0;
  std::string gtin;       // gs1: 14 digits
  // Compact: 8-byte tag; gs1: 60-bit tag in 8 bytes (low nibble zero);
  // signed: 64-byte signature.
  std::array<uint8_t, 64> auth = {};
};

// Parses a scanned code: a full URL or a bare compact/signed token, compact and
// signed in any letter case. Query strings and fragments are ignored.
// INVALID_ARGUMENT names the rule the input broke.
absl::StatusOr<ParsedCode> ParseCode(absl::string_view scanned);

enum class Verdict {
  kGenuine,
  kCounterfeit,   // bad tag or signature, unknown, disabled or destroyed key
  kMalformed,     // not a youma code at all; `problem` says which rule failed
  kUnverifiable,  // well-formed, but this verifier lacks the secret key it needs
};
absl::string_view VerdictName(Verdict verdict);

struct Verification {
  Verdict verdict = Verdict::kMalformed;
  // The fields below are filled for kGenuine only: a counterfeit tells no more.
  Scheme scheme = Scheme::kCompact;
  uint64_t code_id = 0;
  uint32_t key_id = 0;
  std::string gtin;
  std::string problem;  // kMalformed, kUnverifiable
};

struct MintOptions {
  // Defaults to the keyset's url_prefix (compact, signed) or gs1_resolver (gs1).
  std::optional<std::string> prefix;
  // Required for gs1: GTIN-8/12/13/14 with a valid check digit.
  std::string gtin;
};

class CodeMinter {
 public:
  // Uses the keyset's primary key for `scheme`. FAILED_PRECONDITION when the
  // scheme has none; INVALID_ARGUMENT for a bad prefix or GTIN.
  static absl::StatusOr<CodeMinter> Create(const Keyset& keyset, Scheme scheme,
                                           MintOptions options = {});
  // Uses a given ENABLED key: re-exports a batch exactly after rotation.
  // FAILED_PRECONDITION for a disabled, destroyed or unknown key.
  static absl::StatusOr<CodeMinter> ForKey(const Keyset& keyset, uint32_t key_id,
                                           MintOptions options = {});

  // Appends the token (compact, signed) or AI 21 serial (gs1) of `code_id`.
  // OUT_OF_RANGE above kMaxCodeId.
  absl::Status AppendToken(uint64_t code_id, std::string* out) const;
  absl::StatusOr<std::string> Token(uint64_t code_id) const;
  // The full printed URL.
  absl::Status AppendUrl(uint64_t code_id, std::string* out) const;
  absl::StatusOr<std::string> Url(uint64_t code_id) const;

  Scheme scheme() const { return scheme_; }
  uint32_t key_id() const { return key_id_; }
  const std::string& prefix() const { return prefix_; }
  const std::string& gtin() const { return gtin_; }

 private:
  CodeMinter() = default;

  Scheme scheme_ = Scheme::kCompact;
  uint32_t key_id_ = 0;
  std::string prefix_;  // gs1: resolver + "/01/" + gtin + "/21/"
  std::string gtin_;
  crypto_generichash_blake2b_state mac_ = {};  // keyed, nothing absorbed yet
  SecretBytes signing_key_;                    // Ed25519 secret key (64 bytes)
};

class CodeVerifier {
 public:
  // Verifies all three schemes with the keyset's ENABLED keys.
  static CodeVerifier ForKeyset(const Keyset& keyset);
  // Verifies signed codes with exported public keys; compact and gs1 codes come
  // back kUnverifiable. INVALID_ARGUMENT for a malformed public keyset.
  static absl::StatusOr<CodeVerifier> ForPublicKeyset(const youma::v1::PublicKeyset& keyset);

  Verification Verify(absl::string_view scanned) const;
  // Verifies an already parsed code.
  Verification Verify(const ParsedCode& code) const;

 private:
  struct VerifyKey {
    uint32_t key_id = 0;
    bool enabled = false;
    bool has_secret = false;
    crypto_generichash_blake2b_state mac = {};  // compact, gs1
    std::array<uint8_t, 32> public_key = {};    // signed
  };
  static uint64_t Slot(Scheme scheme, uint32_t hint) {
    return (uint64_t{static_cast<uint8_t>(scheme)} << 32) | hint;
  }

  absl::flat_hash_map<uint64_t, VerifyKey> keys_;
  bool public_only_ = false;
};

}  // namespace youma::codegen
