// A brand's keys, in Tink's keyset model.
//
// Every key has a random 32-bit id, a scheme, a status (ENABLED, DISABLED,
// DESTROYED) and 32 bytes of secret material. Each scheme has one primary key,
// which issues new codes; every ENABLED key of the scheme verifies. Rotation adds
// a key and makes it primary without invalidating codes already printed. The
// primary can be neither disabled nor destroyed. Destroying a key erases its
// material but keeps its id, so codes under it verify as counterfeit.
//
//   YOUMA_ASSIGN_OR_RETURN(Keyset ks, Keyset::Create({.brand = "Moutai"}, absl::Now()));
//   YOUMA_ASSIGN_OR_RETURN(uint32_t id, ks.Rotate(Scheme::kCompact, absl::Now()));
//   YOUMA_RETURN_IF_ERROR(ks.Disable(old_id));
//
// Keysets are stored encrypted only (keyset_file.h). Not thread-safe for writes;
// const methods may be called from many threads.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "codegen/scheme.h"
#include "codegen/secret_bytes.h"
#include "youma/v1/keyset.pb.h"

namespace youma::codegen {

inline constexpr size_t kKeyMaterialSize = 32;
inline constexpr char kDefaultUrlPrefix[] = "HTTPS://YM.EXAMPLE.CN/";
inline constexpr char kDefaultGs1Resolver[] = "https://id.example.cn";

struct KeysetOptions {
  std::string brand;
  // Printed before compact and signed tokens. Upper case, digits and :/.$%*+-
  // only (the QR alphanumeric set), ending in '/'.
  std::string url_prefix = kDefaultUrlPrefix;
  // GS1 Digital Link resolver base: http(s)://host[/path], no trailing '/'.
  std::string gs1_resolver = kDefaultGs1Resolver;
};

struct Key {
  uint32_t key_id = 0;
  Scheme scheme = Scheme::kCompact;
  KeyStatus status = KeyStatus::kEnabled;
  int64_t created_unix_seconds = 0;
  SecretBytes secret;                        // empty once destroyed
  std::array<uint8_t, 32> public_key = {};   // signed scheme only
};

struct KeyInfo {
  uint32_t key_id;
  Scheme scheme;
  KeyStatus status;
  bool primary;
  absl::Time created;
};

class Keyset {
 public:
  // A new keyset with one fresh ENABLED primary key per scheme.
  static absl::StatusOr<Keyset> Create(KeysetOptions options, absl::Time now);
  // Checks everything a tampered or hand-edited keyset could get wrong.
  static absl::StatusOr<Keyset> FromProto(const youma::v1::Keyset& proto);

  youma::v1::Keyset ToProto(SecretKeyAccess) const;
  // The Ed25519 public keys of ENABLED signed keys, for offline scanners.
  youma::v1::PublicKeyset ToPublicProto() const;

  // Adds a fresh key for `scheme` and makes it the primary. Returns its id.
  absl::StatusOr<uint32_t> Rotate(Scheme scheme, absl::Time now);
  // FAILED_PRECONDITION for the primary or a destroyed key; NOT_FOUND for an
  // unknown id.
  absl::Status Disable(uint32_t key_id);
  absl::Status Enable(uint32_t key_id);
  absl::Status Destroy(uint32_t key_id);

  std::vector<KeyInfo> List() const;
  const Key* Find(uint32_t key_id) const;
  // nullptr when the scheme has no primary key.
  const Key* Primary(Scheme scheme) const;
  const std::vector<Key>& keys() const { return keys_; }

  const std::string& brand() const { return brand_; }
  const std::string& url_prefix() const { return url_prefix_; }
  const std::string& gs1_resolver() const { return gs1_resolver_; }

 private:
  Keyset() = default;
  absl::StatusOr<Key*> MutableFind(uint32_t key_id);
  uint32_t NewKeyId(Scheme scheme) const;
  uint32_t& PrimarySlot(Scheme scheme);
  uint32_t PrimaryId(Scheme scheme) const;

  std::string brand_;
  std::string url_prefix_;
  std::string gs1_resolver_;
  std::vector<Key> keys_;
  uint32_t primary_compact_ = 0;
  uint32_t primary_signed_ = 0;
  uint32_t primary_gs1_ = 0;
};

// Checks a compact/signed URL prefix; the message says what to change.
absl::Status ValidateUrlPrefix(absl::string_view prefix);
// Checks a GS1 resolver base; the message says what to change.
absl::Status ValidateGs1Resolver(absl::string_view resolver);

}  // namespace youma::codegen
