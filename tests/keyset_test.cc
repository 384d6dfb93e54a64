// Keysets in Tink's model: rotation, disable, destroy, and what a keyset must hold.
#include "codegen/code_format.h"
#include "codegen/keyset.h"
#include "tests/test_util.h"

namespace youma::codegen {
namespace {

Keyset NewKeyset() {
  ASSIGN_OR_FAIL(Keyset ks, Keyset::Create({.brand = "Rotation Test"}, absl::Now()));
  return ks;
}

std::string Mint(const Keyset& ks, Scheme scheme, uint64_t id) {
  ASSIGN_OR_FAIL(CodeMinter m,
                 CodeMinter::Create(ks, scheme, {.prefix = std::nullopt, .gtin = "06901234567892"}));
  ASSIGN_OR_FAIL(std::string url, m.Url(id));
  return url;
}

Verdict VerdictOf(const Keyset& ks, const std::string& url) {
  return CodeVerifier::ForKeyset(ks).Verify(url).verdict;
}

TEST_CASE("a new keyset has one enabled primary key per scheme with distinct random ids") {
  const Keyset ks = NewKeyset();
  const auto keys = ks.List();
  REQUIRE(keys.size() == 3);
  std::set<uint32_t> ids;
  for (Scheme s : kAllSchemes) {
    const Key* primary = ks.Primary(s);
    REQUIRE(primary != nullptr);
    CHECK(primary->scheme == s);
    CHECK(primary->status == KeyStatus::kEnabled);
    CHECK(primary->secret.size() == 32);
    ids.insert(primary->key_id);
  }
  CHECK(ids.size() == 3);
  CHECK(ks.url_prefix() == kDefaultUrlPrefix);
  CHECK(ks.gs1_resolver() == kDefaultGs1Resolver);
  CHECK(Keyset::Create({.brand = ""}, absl::Now()).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("codes made under an old primary still verify after rotation") {
  for (Scheme s : kAllSchemes) {
    Keyset ks = NewKeyset();
    const uint32_t old_id = ks.Primary(s)->key_id;
    const std::string old_code = Mint(ks, s, 100);
    ASSIGN_OR_FAIL(uint32_t new_id, ks.Rotate(s, absl::Now()));
    CHECK(new_id != old_id);
    CHECK(ks.Primary(s)->key_id == new_id);
    const std::string new_code = Mint(ks, s, 100);
    CHECK(new_code != old_code);
    const Verification old_v = CodeVerifier::ForKeyset(ks).Verify(old_code);
    CHECK(old_v.verdict == Verdict::kGenuine);
    CHECK(old_v.key_id == old_id);
    const Verification new_v = CodeVerifier::ForKeyset(ks).Verify(new_code);
    CHECK(new_v.verdict == Verdict::kGenuine);
    CHECK(new_v.key_id == new_id);
  }
}

TEST_CASE("codes under a destroyed key are counterfeit; the id stays in the keyset") {
  for (Scheme s : kAllSchemes) {
    Keyset ks = NewKeyset();
    const uint32_t old_id = ks.Primary(s)->key_id;
    const std::string old_code = Mint(ks, s, 7);
    REQUIRE_OK(ks.Rotate(s, absl::Now()));
    REQUIRE_OK(ks.Destroy(old_id));
    CHECK(VerdictOf(ks, old_code) == Verdict::kCounterfeit);
    const Key* destroyed = ks.Find(old_id);
    REQUIRE(destroyed != nullptr);
    CHECK(destroyed->status == KeyStatus::kDestroyed);
    CHECK(destroyed->secret.empty());
    CHECK(ks.Enable(old_id).code() == absl::StatusCode::kFailedPrecondition);
    CHECK(ks.Disable(old_id).code() == absl::StatusCode::kFailedPrecondition);
    // A destroyed id is never handed out again.
    for (int i = 0; i < 20; ++i) {
      ASSIGN_OR_FAIL(uint32_t id, ks.Rotate(s, absl::Now()));
      CHECK(id != old_id);
      CHECK(KeyHint(s, id) != KeyHint(s, old_id));
    }
  }
}

TEST_CASE("a disabled key stops verifying until it is enabled again") {
  Keyset ks = NewKeyset();
  const uint32_t old_id = ks.Primary(Scheme::kCompact)->key_id;
  const std::string code = Mint(ks, Scheme::kCompact, 9);
  REQUIRE_OK(ks.Rotate(Scheme::kCompact, absl::Now()));
  REQUIRE_OK(ks.Disable(old_id));
  CHECK(VerdictOf(ks, code) == Verdict::kCounterfeit);
  REQUIRE_OK(ks.Enable(old_id));
  CHECK(VerdictOf(ks, code) == Verdict::kGenuine);
}

TEST_CASE("the primary can be neither disabled nor destroyed") {
  Keyset ks = NewKeyset();
  for (Scheme s : kAllSchemes) {
    const uint32_t id = ks.Primary(s)->key_id;
    const absl::Status disable = ks.Disable(id);
    CHECK(disable.code() == absl::StatusCode::kFailedPrecondition);
    CHECK(std::string(disable.message()).find("rotate first") != std::string::npos);
    CHECK(ks.Destroy(id).code() == absl::StatusCode::kFailedPrecondition);
    CHECK(ks.Primary(s)->status == KeyStatus::kEnabled);
  }
  CHECK(ks.Disable(12345).code() == absl::StatusCode::kNotFound);
}

TEST_CASE("gs1 keys are limited to the hints a serial can tell apart") {
  Keyset ks = NewKeyset();
  int rotations = 0;
  while (ks.Rotate(Scheme::kGs1, absl::Now()).ok()) ++rotations;
  CHECK(rotations + 1 == 128);
  CHECK(ks.Rotate(Scheme::kGs1, absl::Now()).status().code() ==
        absl::StatusCode::kResourceExhausted);
  std::set<uint32_t> hints;
  for (const Key& k : ks.keys()) {
    if (k.scheme == Scheme::kGs1) hints.insert(KeyHint(Scheme::kGs1, k.key_id));
  }
  CHECK(hints.size() == 128);
}

TEST_CASE("a keyset round-trips through its proto form") {
  Keyset ks = NewKeyset();
  const uint32_t old_id = ks.Primary(Scheme::kSigned)->key_id;
  REQUIRE_OK(ks.Rotate(Scheme::kSigned, absl::Now()));
  REQUIRE_OK(ks.Destroy(old_id));
  ASSIGN_OR_FAIL(Keyset again, Keyset::FromProto(ks.ToProto(SecretKeyAccess::Grant())));
  CHECK(again.brand() == ks.brand());
  REQUIRE(again.keys().size() == ks.keys().size());
  for (size_t i = 0; i < ks.keys().size(); ++i) {
    CHECK(again.keys()[i].key_id == ks.keys()[i].key_id);
    CHECK(again.keys()[i].status == ks.keys()[i].status);
  }
  CHECK(Mint(again, Scheme::kSigned, 3) == Mint(ks, Scheme::kSigned, 3));
}

TEST_CASE("a keyset that breaks the rules is refused with DATA_LOSS") {
  auto refused = [](youma::v1::Keyset proto) {
    return Keyset::FromProto(proto).status().code() == absl::StatusCode::kDataLoss;
  };
  const auto good = testing::VectorKeysetProto();
  REQUIRE(Keyset::FromProto(good).ok());
  auto p = good;
  p.mutable_keys(0)->set_secret("short");
  CHECK(refused(p));
  p = good;
  p.mutable_keys(1)->set_key_id(p.keys(0).key_id());
  CHECK(refused(p));
  p = good;
  p.mutable_keys(1)->set_public_key(std::string(32, 'x'));  // not the seed's public key
  CHECK(refused(p));
  p = good;
  p.mutable_keys(0)->set_status(youma::v1::KEY_STATUS_DISABLED);  // primary disabled
  CHECK(refused(p));
  p = good;
  p.set_primary_compact(p.keys(1).key_id());  // primary of another scheme
  CHECK(refused(p));
  p = good;
  p.clear_brand();
  CHECK(refused(p));
}

}  // namespace
}  // namespace youma::codegen
