// Keyset files: sealed under the master key; any damage or a wrong key gives a
// clear error and never a keyset.
#include "codegen/code_format.h"
#include "codegen/keyset_file.h"
#include "tests/test_util.h"

namespace youma::codegen {
namespace {

TEST_CASE("a sealed keyset opens with its master key to the same keys") {
  const Keyset ks = testing::VectorKeyset();
  const MasterKey mk = NewMasterKey();
  const std::string sealed = SealKeyset(ks, mk);
  CHECK(sealed.substr(0, 8) == "YOUMAKS1");
  // The key material never appears in the file.
  for (int start : {0x00, 0x20, 0x40}) {
    CHECK(sealed.find(testing::CountingBytes(start).substr(0, 12)) == std::string::npos);
  }
  ASSIGN_OR_FAIL(Keyset opened, OpenKeyset(sealed, mk));
  CHECK(opened.brand() == "Test Vectors");
  ASSIGN_OR_FAIL(CodeMinter a, CodeMinter::Create(ks, Scheme::kCompact));
  ASSIGN_OR_FAIL(CodeMinter b, CodeMinter::Create(opened, Scheme::kCompact));
  CHECK(*a.Url(5) == *b.Url(5));
  // Sealing twice uses fresh nonces.
  CHECK(SealKeyset(ks, mk) != sealed);
}

TEST_CASE("a wrong master key is refused with PERMISSION_DENIED") {
  const std::string sealed = SealKeyset(testing::VectorKeyset(), NewMasterKey());
  const absl::StatusOr<Keyset> opened = OpenKeyset(sealed, NewMasterKey());
  CHECK(opened.status().code() == absl::StatusCode::kPermissionDenied);
  CHECK(std::string(opened.status().message()).find("master key is wrong") != std::string::npos);
}

TEST_CASE("every flipped byte of a keyset file is detected") {
  const MasterKey mk = NewMasterKey();
  const std::string sealed = SealKeyset(testing::VectorKeyset(), mk);
  for (size_t i = 0; i < sealed.size(); ++i) {
    std::string bad = sealed;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    const absl::StatusOr<Keyset> opened = OpenKeyset(bad, mk);
    INFO("byte ", i);
    REQUIRE_FALSE(opened.ok());
    CHECK((i < 8 ? opened.status().code() == absl::StatusCode::kInvalidArgument
                 : opened.status().code() == absl::StatusCode::kPermissionDenied));
  }
}

TEST_CASE("every truncation of a keyset file is detected") {
  const MasterKey mk = NewMasterKey();
  const std::string sealed = SealKeyset(testing::VectorKeyset(), mk);
  for (size_t len = 0; len < sealed.size(); ++len) {
    INFO("length ", len);
    REQUIRE_FALSE(OpenKeyset(sealed.substr(0, len), mk).ok());
  }
  CHECK(OpenKeyset("YOUMAKS1", mk).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(OpenKeyset("not a keyset at all, just text", mk).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("a file that decrypts but holds an invalid keyset is DATA_LOSS") {
  // Seal a keyset whose primary is destroyed: authentic bytes, broken rules.
  auto proto = testing::VectorKeysetProto();
  proto.mutable_keys(0)->set_status(youma::v1::KEY_STATUS_DESTROYED);
  proto.mutable_keys(0)->clear_secret();
  REQUIRE_FALSE(Keyset::FromProto(proto).ok());
  // Build the sealed bytes by hand, as a buggy or hostile writer would.
  const MasterKey mk = NewMasterKey();
  std::string plain;
  proto.SerializeToString(&plain);
  std::string sealed = "YOUMAKS1" + std::string(24, '\x07');
  sealed.resize(8 + 24 + 16 + plain.size());
  crypto_secretbox_easy(reinterpret_cast<unsigned char*>(sealed.data() + 32),
                        reinterpret_cast<const unsigned char*>(plain.data()), plain.size(),
                        reinterpret_cast<const unsigned char*>(sealed.data() + 8),
                        mk.bytes.data(SecretKeyAccess::Grant()));
  const absl::StatusOr<Keyset> opened = OpenKeyset(sealed, mk);
  CHECK(opened.status().code() == absl::StatusCode::kDataLoss);
}

TEST_CASE("master keys are 64 hex characters and errors never echo them") {
  const MasterKey mk = NewMasterKey();
  const std::string text = MasterKeyText(mk, SecretKeyAccess::Grant());
  CHECK(text.size() == 65);
  CHECK(text.back() == '\n');
  ASSIGN_OR_FAIL(MasterKey parsed, ParseMasterKey("  " + text));
  CHECK(parsed.bytes.view(SecretKeyAccess::Grant()) == mk.bytes.view(SecretKeyAccess::Grant()));
  const std::string secretish = std::string(63, 'a') + "z";
  const absl::StatusOr<MasterKey> bad = ParseMasterKey(secretish);
  CHECK(bad.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(bad.status().message()).find(secretish) == std::string::npos);
  CHECK(ParseMasterKey("abcd").status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("the public keyset holds only enabled Ed25519 public keys and verifies signed codes") {
  Keyset ks = testing::VectorKeyset();
  ASSIGN_OR_FAIL(CodeMinter signer, CodeMinter::Create(ks, Scheme::kSigned));
  const std::string old_code = *signer.Url(11);
  ASSIGN_OR_FAIL(uint32_t new_id, ks.Rotate(Scheme::kSigned, absl::Now()));
  const std::string json = PublicKeysetToJson(ks.ToPublicProto());
  // No secret material of any key is in the export.
  for (const Key& k : ks.keys()) {
    const std::string secret(k.secret.view(SecretKeyAccess::Grant()));
    std::string b64(sodium_base64_encoded_len(secret.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
    sodium_bin2base64(b64.data(), b64.size(), reinterpret_cast<const unsigned char*>(secret.data()),
                      secret.size(), sodium_base64_VARIANT_ORIGINAL);
    CHECK(json.find(b64.c_str()) == std::string::npos);
  }
  ASSIGN_OR_FAIL(youma::v1::PublicKeyset pub, PublicKeysetFromJson(json));
  CHECK(pub.brand() == "Test Vectors");
  CHECK(pub.keys_size() == 2);
  ASSIGN_OR_FAIL(CodeVerifier offline, CodeVerifier::ForPublicKeyset(pub));
  CHECK(offline.Verify(old_code).verdict == Verdict::kGenuine);
  ASSIGN_OR_FAIL(CodeMinter new_signer, CodeMinter::Create(ks, Scheme::kSigned));
  const Verification v = offline.Verify(*new_signer.Url(12));
  CHECK(v.verdict == Verdict::kGenuine);
  CHECK(v.key_id == new_id);
  ASSIGN_OR_FAIL(CodeMinter compact, CodeMinter::Create(ks, Scheme::kCompact));
  CHECK(offline.Verify(*compact.Url(1)).verdict == Verdict::kUnverifiable);
  // A disabled key leaves the export, and its codes with it.
  REQUIRE_OK(ks.Disable(testing::kVectorSignedKeyId));
  ASSIGN_OR_FAIL(CodeVerifier after, CodeVerifier::ForPublicKeyset(ks.ToPublicProto()));
  CHECK(after.Verify(old_code).verdict == Verdict::kCounterfeit);
  CHECK(PublicKeysetFromJson("{not json").status().code() == absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace youma::codegen
