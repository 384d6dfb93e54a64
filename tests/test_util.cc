#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "tests/test_util.h"

#include <sodium.h>

namespace youma::testing {
namespace {

// libsodium must be initialised before any test runs.
const bool kSodiumReady = sodium_init() >= 0;

}  // namespace

youma::v1::Keyset VectorKeysetProto() {
  youma::v1::Keyset proto;
  proto.set_brand("Test Vectors");
  proto.set_url_prefix("HTTPS://YM.EXAMPLE.CN/");
  proto.set_gs1_resolver("https://id.example.cn");
  auto add = [&](uint32_t id, youma::v1::CodeScheme scheme, int start) {
    auto* k = proto.add_keys();
    k->set_key_id(id);
    k->set_scheme(scheme);
    k->set_status(youma::v1::KEY_STATUS_ENABLED);
    k->set_secret(CountingBytes(start));
    k->set_created_unix_seconds(1'700'000'000);
    if (scheme == youma::v1::CODE_SCHEME_SIGNED) {
      unsigned char pk[32], sk[64];
      crypto_sign_seed_keypair(pk, sk, reinterpret_cast<const unsigned char*>(k->secret().data()));
      k->set_public_key(pk, 32);
    }
  };
  add(kVectorCompactKeyId, youma::v1::CODE_SCHEME_COMPACT, 0x00);
  add(kVectorSignedKeyId, youma::v1::CODE_SCHEME_SIGNED, 0x20);
  add(kVectorGs1KeyId, youma::v1::CODE_SCHEME_GS1, 0x40);
  proto.set_primary_compact(kVectorCompactKeyId);
  proto.set_primary_signed(kVectorSignedKeyId);
  proto.set_primary_gs1(kVectorGs1KeyId);
  return proto;
}

codegen::Keyset VectorKeyset() {
  REQUIRE(kSodiumReady);
  absl::StatusOr<codegen::Keyset> ks = codegen::Keyset::FromProto(VectorKeysetProto());
  REQUIRE_OK(ks.status());
  return *std::move(ks);
}

}  // namespace youma::testing
