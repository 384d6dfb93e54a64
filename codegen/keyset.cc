#include "codegen/keyset.h"

#include <sodium.h>

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "codegen/qr_charset.h"
#include "services/common/status_macros.h"

namespace youma::codegen {
namespace {

youma::v1::CodeScheme ToProtoScheme(Scheme s) {
  return static_cast<youma::v1::CodeScheme>(static_cast<int>(s));
}

youma::v1::KeyStatus ToProtoStatus(KeyStatus s) {
  return static_cast<youma::v1::KeyStatus>(static_cast<int>(s));
}

absl::StatusOr<Scheme> FromProtoScheme(youma::v1::CodeScheme s) {
  switch (s) {
    case youma::v1::CODE_SCHEME_COMPACT: return Scheme::kCompact;
    case youma::v1::CODE_SCHEME_SIGNED: return Scheme::kSigned;
    case youma::v1::CODE_SCHEME_GS1: return Scheme::kGs1;
    default:
      return absl::DataLossError(absl::StrCat("keyset holds a key of unknown scheme ",
                                              static_cast<int>(s)));
  }
}

absl::StatusOr<KeyStatus> FromProtoStatus(youma::v1::KeyStatus s) {
  switch (s) {
    case youma::v1::KEY_STATUS_ENABLED: return KeyStatus::kEnabled;
    case youma::v1::KEY_STATUS_DISABLED: return KeyStatus::kDisabled;
    case youma::v1::KEY_STATUS_DESTROYED: return KeyStatus::kDestroyed;
    default:
      return absl::DataLossError(absl::StrCat("keyset holds a key of unknown status ",
                                              static_cast<int>(s)));
  }
}

std::string KeyIdText(uint32_t id) { return absl::StrFormat("0x%08x", id); }

// Fills the public key of a signed key from its seed.
void DerivePublicKey(Key& key) {
  if (key.scheme != Scheme::kSigned || key.secret.empty()) return;
  unsigned char sk[crypto_sign_SECRETKEYBYTES];
  crypto_sign_seed_keypair(key.public_key.data(), sk,
                           key.secret.data(SecretKeyAccess::Grant()));
  sodium_memzero(sk, sizeof sk);
}

}  // namespace

absl::Status ValidateUrlPrefix(absl::string_view prefix) {
  if (prefix.empty() || prefix.back() != '/') {
    return absl::InvalidArgumentError(absl::StrCat(
        "URL prefix '", prefix, "' must end in '/', e.g. ", kDefaultUrlPrefix));
  }
  if (!(absl::StartsWith(prefix, "HTTPS://") || absl::StartsWith(prefix, "HTTP://"))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "URL prefix '", prefix, "' must start with HTTPS:// (upper case keeps the QR ",
        "in alphanumeric mode), e.g. ", kDefaultUrlPrefix));
  }
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (!IsQrAlphanumeric(prefix[i])) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "URL prefix '%s' has '%c' at position %d: use only upper case, digits and "
          ":/.$%%*+- (the QR alphanumeric set) so the QR stays small; URL scheme and "
          "host are case-insensitive, so write them in upper case",
          prefix, prefix[i], i));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateGs1Resolver(absl::string_view resolver) {
  if (!(absl::StartsWith(resolver, "https://") || absl::StartsWith(resolver, "http://") ||
        absl::StartsWith(resolver, "HTTPS://") || absl::StartsWith(resolver, "HTTP://"))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "GS1 resolver '", resolver, "' must start with https://, e.g. ",
        kDefaultGs1Resolver));
  }
  if (resolver.back() == '/') {
    return absl::InvalidArgumentError(absl::StrCat(
        "GS1 resolver '", resolver, "' must not end in '/': codes append /01/<GTIN>/21/<serial>"));
  }
  for (char c : resolver) {
    if (c <= ' ' || c > '~' || c == '?' || c == '#') {
      return absl::InvalidArgumentError(absl::StrCat(
          "GS1 resolver '", resolver, "' may hold only printable ASCII without spaces, ? or #"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Keyset> Keyset::Create(KeysetOptions options, absl::Time now) {
  if (options.brand.empty()) {
    return absl::InvalidArgumentError("a keyset needs a brand name (--brand NAME)");
  }
  YOUMA_RETURN_IF_ERROR(ValidateUrlPrefix(options.url_prefix));
  YOUMA_RETURN_IF_ERROR(ValidateGs1Resolver(options.gs1_resolver));
  Keyset ks;
  ks.brand_ = std::move(options.brand);
  ks.url_prefix_ = std::move(options.url_prefix);
  ks.gs1_resolver_ = std::move(options.gs1_resolver);
  for (Scheme s : kAllSchemes) {
    YOUMA_RETURN_IF_ERROR(ks.Rotate(s, now).status());
  }
  return ks;
}

absl::StatusOr<Keyset> Keyset::FromProto(const youma::v1::Keyset& proto) {
  Keyset ks;
  if (proto.brand().empty()) return absl::DataLossError("keyset has no brand");
  ks.brand_ = proto.brand();
  ks.url_prefix_ = proto.url_prefix();
  ks.gs1_resolver_ = proto.gs1_resolver();
  YOUMA_RETURN_IF_ERROR(ValidateUrlPrefix(ks.url_prefix_));
  YOUMA_RETURN_IF_ERROR(ValidateGs1Resolver(ks.gs1_resolver_));
  absl::flat_hash_set<uint32_t> ids;
  absl::flat_hash_set<uint64_t> hints;
  for (const auto& kp : proto.keys()) {
    Key key;
    key.key_id = kp.key_id();
    YOUMA_ASSIGN_OR_RETURN(key.scheme, FromProtoScheme(kp.scheme()));
    YOUMA_ASSIGN_OR_RETURN(key.status, FromProtoStatus(kp.status()));
    key.created_unix_seconds = kp.created_unix_seconds();
    const std::string id_text = KeyIdText(key.key_id);
    if (key.key_id == 0 || !ids.insert(key.key_id).second) {
      return absl::DataLossError(absl::StrCat("keyset has a zero or repeated key id ", id_text));
    }
    const uint64_t hint = (uint64_t{static_cast<uint8_t>(key.scheme)} << 32) |
                          KeyHint(key.scheme, key.key_id);
    if (!hints.insert(hint).second) {
      return absl::DataLossError(absl::StrCat("key ", id_text, " shares its hint with another ",
                                              SchemeName(key.scheme), " key"));
    }
    if (key.status == KeyStatus::kDestroyed) {
      if (!kp.secret().empty()) {
        return absl::DataLossError(absl::StrCat("destroyed key ", id_text, " still holds material"));
      }
    } else {
      if (kp.secret().size() != kKeyMaterialSize) {
        return absl::DataLossError(absl::StrCat("key ", id_text, " has ", kp.secret().size(),
                                                " bytes of material, expected 32"));
      }
      key.secret = SecretBytes(kp.secret(), SecretKeyAccess::Grant());
      DerivePublicKey(key);
      if (key.scheme == Scheme::kSigned &&
          (kp.public_key().size() != 32 ||
           sodium_memcmp(kp.public_key().data(), key.public_key.data(), 32) != 0)) {
        return absl::DataLossError(absl::StrCat("signed key ", id_text,
                                                " has a public key that does not match its seed"));
      }
    }
    if (key.scheme == Scheme::kSigned && key.status == KeyStatus::kDestroyed) {
      if (kp.public_key().size() == 32) {
        std::copy(kp.public_key().begin(), kp.public_key().end(), key.public_key.begin());
      }
    }
    ks.keys_.push_back(std::move(key));
  }
  ks.primary_compact_ = proto.primary_compact();
  ks.primary_signed_ = proto.primary_signed();
  ks.primary_gs1_ = proto.primary_gs1();
  for (Scheme s : kAllSchemes) {
    const uint32_t id = ks.PrimaryId(s);
    if (id == 0) continue;
    const Key* k = ks.Find(id);
    if (k == nullptr || k->scheme != s || k->status != KeyStatus::kEnabled) {
      return absl::DataLossError(absl::StrCat("the ", SchemeName(s), " primary ", KeyIdText(id),
                                              " is missing, of another scheme, or not ENABLED"));
    }
  }
  return ks;
}

youma::v1::Keyset Keyset::ToProto(SecretKeyAccess access) const {
  youma::v1::Keyset proto;
  proto.set_brand(brand_);
  proto.set_url_prefix(url_prefix_);
  proto.set_gs1_resolver(gs1_resolver_);
  proto.set_primary_compact(primary_compact_);
  proto.set_primary_signed(primary_signed_);
  proto.set_primary_gs1(primary_gs1_);
  for (const Key& key : keys_) {
    auto* kp = proto.add_keys();
    kp->set_key_id(key.key_id);
    kp->set_scheme(ToProtoScheme(key.scheme));
    kp->set_status(ToProtoStatus(key.status));
    kp->set_created_unix_seconds(key.created_unix_seconds);
    if (!key.secret.empty()) kp->set_secret(std::string(key.secret.view(access)));
    if (key.scheme == Scheme::kSigned) {
      kp->set_public_key(key.public_key.data(), key.public_key.size());
    }
  }
  return proto;
}

youma::v1::PublicKeyset Keyset::ToPublicProto() const {
  youma::v1::PublicKeyset proto;
  proto.set_brand(brand_);
  proto.set_url_prefix(url_prefix_);
  for (const Key& key : keys_) {
    if (key.scheme != Scheme::kSigned || key.status != KeyStatus::kEnabled) continue;
    auto* kp = proto.add_keys();
    kp->set_key_id(key.key_id);
    kp->set_status(ToProtoStatus(key.status));
    kp->set_ed25519_public_key(key.public_key.data(), key.public_key.size());
    kp->set_created_unix_seconds(key.created_unix_seconds);
  }
  return proto;
}

uint32_t Keyset::NewKeyId(Scheme scheme) const {
  for (;;) {
    const uint32_t id = randombytes_random();
    if (id == 0) continue;
    bool clash = false;
    for (const Key& k : keys_) {
      if (k.key_id == id || (k.scheme == scheme && KeyHint(scheme, k.key_id) == KeyHint(scheme, id))) {
        clash = true;
        break;
      }
    }
    if (!clash) return id;
  }
}

absl::StatusOr<uint32_t> Keyset::Rotate(Scheme scheme, absl::Time now) {
  const int hint_bits = KeyHintBits(scheme);
  if (hint_bits < 32) {
    const size_t used = std::count_if(keys_.begin(), keys_.end(),
                                      [&](const Key& k) { return k.scheme == scheme; });
    // Leave most hints free so a random pick finds one quickly.
    if (used >= (size_t{1} << hint_bits) / 2) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "this keyset already has ", used, " ", SchemeName(scheme),
          " keys, as many as its codes can tell apart; start a new keyset for the brand"));
    }
  }
  Key key;
  key.key_id = NewKeyId(scheme);
  key.scheme = scheme;
  key.status = KeyStatus::kEnabled;
  key.created_unix_seconds = absl::ToUnixSeconds(now);
  key.secret = SecretBytes::Random(kKeyMaterialSize);
  DerivePublicKey(key);
  const uint32_t id = key.key_id;
  keys_.push_back(std::move(key));
  PrimarySlot(scheme) = id;
  return id;
}

absl::StatusOr<Key*> Keyset::MutableFind(uint32_t key_id) {
  for (Key& k : keys_) {
    if (k.key_id == key_id) return &k;
  }
  return absl::NotFoundError(absl::StrCat("no key ", KeyIdText(key_id), " in the keyset of ",
                                          brand_, "; `youma keys list` shows the ids"));
}

absl::Status Keyset::Disable(uint32_t key_id) {
  YOUMA_ASSIGN_OR_RETURN(Key * key, MutableFind(key_id));
  if (PrimaryId(key->scheme) == key_id) {
    return absl::FailedPreconditionError(absl::StrCat(
        "key ", KeyIdText(key_id), " is the ", SchemeName(key->scheme),
        " primary and cannot be disabled; rotate first (`youma keys rotate --scheme ",
        SchemeName(key->scheme), "`)"));
  }
  if (key->status == KeyStatus::kDestroyed) {
    return absl::FailedPreconditionError(absl::StrCat("key ", KeyIdText(key_id),
                                                      " is destroyed"));
  }
  key->status = KeyStatus::kDisabled;
  return absl::OkStatus();
}

absl::Status Keyset::Enable(uint32_t key_id) {
  YOUMA_ASSIGN_OR_RETURN(Key * key, MutableFind(key_id));
  if (key->status == KeyStatus::kDestroyed) {
    return absl::FailedPreconditionError(absl::StrCat(
        "key ", KeyIdText(key_id), " is destroyed; its material is gone for good"));
  }
  key->status = KeyStatus::kEnabled;
  return absl::OkStatus();
}

absl::Status Keyset::Destroy(uint32_t key_id) {
  YOUMA_ASSIGN_OR_RETURN(Key * key, MutableFind(key_id));
  if (PrimaryId(key->scheme) == key_id) {
    return absl::FailedPreconditionError(absl::StrCat(
        "key ", KeyIdText(key_id), " is the ", SchemeName(key->scheme),
        " primary and cannot be destroyed; rotate first (`youma keys rotate --scheme ",
        SchemeName(key->scheme), "`)"));
  }
  key->status = KeyStatus::kDestroyed;
  key->secret.Wipe();
  return absl::OkStatus();
}

std::vector<KeyInfo> Keyset::List() const {
  std::vector<KeyInfo> out;
  for (const Key& k : keys_) {
    out.push_back({k.key_id, k.scheme, k.status, PrimaryId(k.scheme) == k.key_id,
                   absl::FromUnixSeconds(k.created_unix_seconds)});
  }
  return out;
}

const Key* Keyset::Find(uint32_t key_id) const {
  for (const Key& k : keys_) {
    if (k.key_id == key_id) return &k;
  }
  return nullptr;
}

const Key* Keyset::Primary(Scheme scheme) const {
  const uint32_t id = PrimaryId(scheme);
  return id == 0 ? nullptr : Find(id);
}

uint32_t& Keyset::PrimarySlot(Scheme scheme) {
  switch (scheme) {
    case Scheme::kCompact: return primary_compact_;
    case Scheme::kSigned: return primary_signed_;
    case Scheme::kGs1: return primary_gs1_;
  }
  return primary_compact_;
}

uint32_t Keyset::PrimaryId(Scheme scheme) const {
  return const_cast<Keyset*>(this)->PrimarySlot(scheme);
}

}  // namespace youma::codegen
