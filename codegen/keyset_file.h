// The at-rest form of a keyset: sealed with libsodium's secretbox
// (XSalsa20-Poly1305) under a 32-byte master key. Keys never leave a keyset file
// unencrypted; the public form (Ed25519 public keys only) is JSON.
//
// Sealed layout: "YOUMAKS1" (8 bytes) | nonce (24) | secretbox(youma.v1.Keyset) (16 + n).
//
//   YOUMA_ASSIGN_OR_RETURN(MasterKey mk, ParseMasterKey(text_from_file_or_env));
//   std::string sealed = SealKeyset(keyset, mk);
//   YOUMA_ASSIGN_OR_RETURN(Keyset again, OpenKeyset(sealed, mk));
//
// Pure functions over bytes; reading and writing files is the caller's.
#pragma once

#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "codegen/keyset.h"
#include "codegen/secret_bytes.h"

namespace youma::codegen {

inline constexpr size_t kMasterKeySize = 32;
inline constexpr absl::string_view kKeysetMagic = "YOUMAKS1";

struct MasterKey {
  SecretBytes bytes;
};

// A fresh random master key.
MasterKey NewMasterKey();
// 64 hex characters (what `youma keys new-master-key` writes), surrounding
// whitespace ignored. INVALID_ARGUMENT says what is wrong, never echoing the key.
absl::StatusOr<MasterKey> ParseMasterKey(absl::string_view text);
// The hex text form of a master key, newline-terminated.
std::string MasterKeyText(const MasterKey& key, SecretKeyAccess);

std::string SealKeyset(const Keyset& keyset, const MasterKey& master_key);
// INVALID_ARGUMENT when the bytes are not a keyset file, PERMISSION_DENIED when
// the master key is wrong or the file was modified, DATA_LOSS when a decrypted
// keyset breaks a keyset rule. Never returns a keyset built from garbage.
absl::StatusOr<Keyset> OpenKeyset(absl::string_view sealed, const MasterKey& master_key);

std::string PublicKeysetToJson(const youma::v1::PublicKeyset& keyset);
absl::StatusOr<youma::v1::PublicKeyset> PublicKeysetFromJson(absl::string_view json);

}  // namespace youma::codegen
