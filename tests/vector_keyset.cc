#include "tests/vector_keyset.h"

#include <sodium.h>

namespace youma::testing {

std::string CountingBytes(int start) {
  std::string s(32, '\0');
  for (int i = 0; i < 32; ++i) s[i] = static_cast<char>(start + i);
  return s;
}

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
      unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
      crypto_sign_seed_keypair(pk, sk, reinterpret_cast<const unsigned char*>(k->secret().data()));
      k->set_public_key(pk, sizeof pk);
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

}  // namespace youma::testing
