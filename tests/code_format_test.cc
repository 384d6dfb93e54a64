// The printed code formats: round trips, pinned test vectors, and that every
// small corruption of a genuine code is rejected.
#include <sodium.h>

#include <set>

#include "codegen/bits.h"
#include "codegen/code_format.h"
#include "codegen/qr_charset.h"
#include "tests/test_util.h"

namespace youma::codegen {
namespace {

using testing::VectorKeyset;

constexpr uint64_t kIds[] = {0, 1, 42, 1001, 0x123456789ABCull, kMaxCodeId};

std::string Mint(const Keyset& ks, Scheme scheme, uint64_t id, std::string gtin = "") {
  ASSIGN_OR_FAIL(CodeMinter minter,
                 CodeMinter::Create(ks, scheme, {.prefix = std::nullopt, .gtin = gtin}));
  ASSIGN_OR_FAIL(std::string url, minter.Url(id));
  return url;
}

constexpr char kGtin[] = "06901234567892";

TEST_CASE("every scheme round-trips: minted codes verify as genuine with their id") {
  const Keyset ks = VectorKeyset();
  const CodeVerifier verifier = CodeVerifier::ForKeyset(ks);
  for (Scheme scheme : kAllSchemes) {
    for (uint64_t id : kIds) {
      const std::string url = Mint(ks, scheme, id, kGtin);
      const Verification v = verifier.Verify(url);
      INFO(url);
      CHECK(v.verdict == Verdict::kGenuine);
      CHECK(v.scheme == scheme);
      CHECK(v.code_id == id);
      CHECK(v.key_id == ks.Primary(scheme)->key_id);
      CHECK(v.gtin == (scheme == Scheme::kGs1 ? kGtin : ""));
    }
  }
}

TEST_CASE("token sizes follow the design: compact 28, signed 120, gs1 serial 20") {
  const Keyset ks = VectorKeyset();
  for (uint64_t id : kIds) {
    const std::string compact = Mint(ks, Scheme::kCompact, id);
    const std::string signed_ = Mint(ks, Scheme::kSigned, id);
    const std::string gs1 = Mint(ks, Scheme::kGs1, id, kGtin);
    CHECK(compact.size() == 22 + kCompactTokenLength);
    CHECK(signed_.size() == 22 + kSignedTokenLength);
    CHECK(gs1.size() == std::string("https://id.example.cn/01/06901234567892/21/").size() + 20);
    CHECK(IsQrAlphanumeric(compact));
    CHECK(IsQrAlphanumeric(signed_));
  }
}

TEST_CASE("a token is a pure function of key, code id, scheme and GTIN") {
  const Keyset ks = VectorKeyset();
  CHECK(Mint(ks, Scheme::kCompact, 7) == Mint(ks, Scheme::kCompact, 7));
  CHECK(Mint(ks, Scheme::kSigned, 7) == Mint(ks, Scheme::kSigned, 7));
  CHECK(Mint(ks, Scheme::kCompact, 7) != Mint(ks, Scheme::kCompact, 8));
  CHECK(Mint(ks, Scheme::kGs1, 7, kGtin) != Mint(ks, Scheme::kGs1, 7, "06901234567809"));
}

// Pinned vectors: if one of these changes, printed codes stop verifying.
TEST_CASE("known-answer vectors pin the byte layout of every scheme") {
  const Keyset ks = VectorKeyset();
  CHECK(Mint(ks, Scheme::kCompact, 1) == "HTTPS://YM.EXAMPLE.CN/CCYMBUAAAAAAAAAWZYU7UKV3W43C");
  CHECK(Mint(ks, Scheme::kCompact, 0x123456789ABC) == "HTTPS://YM.EXAMPLE.CN/CCYMBUJDIVTYTK6POTEGXPBGC37L");
  CHECK(Mint(ks, Scheme::kSigned, 1) == "HTTPS://YM.EXAMPLE.CN/"
        "EEJCGNCAAAAAAAAACIV47CSYEI3QPM4VRZ4PT2N7RJN5KIZ47O7EOS4P2OQPX4OC2BAP64EVMZNXMKACV6FRNPCC7"
        "DFQSNR4OMWL3C4YU6CTEQNU5OKDXIAA");
  CHECK(Mint(ks, Scheme::kGs1, 1, kGtin) ==
        "https://id.example.cn/01/06901234567892/21/OIAAAAAAABfBhnrUOJHV");
}

TEST_CASE("the compact tag is BLAKE2b-128 keyed over format, key id and code id, cut to 64 bits") {
  const Keyset ks = VectorKeyset();
  const uint64_t id = 0x123456789ABC;
  const std::string key = testing::CountingBytes(0);
  const unsigned char msg[11] = {0x01, 0x0A, 0x0B, 0x0C, 0x0D, 0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC};
  unsigned char tag[16];
  crypto_generichash(tag, 16, msg, sizeof msg, reinterpret_cast<const unsigned char*>(key.data()),
                     key.size());
  // 4-bit format 1, 24-bit key hint 0x0B0C0D, 48-bit id, 64-bit tag: 140 bits.
  uint8_t raw[18] = {};
  bits::Writer w(raw);
  w.Put(1, 4);
  w.Put(0x0B0C0D, 24);
  w.Put(id, 48);
  w.PutBytes(tag, 8);
  w.Flush();
  char token[28];
  bits::Encode(raw, 28, 5, bits::kBase32Alphabet, token);
  CHECK(Mint(ks, Scheme::kCompact, id) == "HTTPS://YM.EXAMPLE.CN/" + std::string(token, 28));
}

TEST_CASE("the signed token carries an Ed25519 signature that libsodium verifies directly") {
  const Keyset ks = VectorKeyset();
  ASSIGN_OR_FAIL(ParsedCode code, ParseCode(Mint(ks, Scheme::kSigned, 99)));
  CHECK(code.key_hint == testing::kVectorSignedKeyId);
  CHECK(code.code_id == 99);
  const unsigned char msg[11] = {0x02, 0x11, 0x22, 0x33, 0x44, 0, 0, 0, 0, 0, 99};
  CHECK(crypto_sign_verify_detached(code.auth.data(), msg, sizeof msg,
                                    ks.Primary(Scheme::kSigned)->public_key.data()) == 0);
}

TEST_CASE("codes are read case-insensitively, with or without the URL, ignoring queries") {
  const Keyset ks = VectorKeyset();
  const CodeVerifier verifier = CodeVerifier::ForKeyset(ks);
  for (Scheme scheme : {Scheme::kCompact, Scheme::kSigned}) {
    const std::string url = Mint(ks, scheme, 31337);
    std::string lower = url;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const std::string token = url.substr(22);
    for (const std::string& text :
         {lower, token, "  " + url + "\n", url + "?from=wechat&scene=1", url + "#top",
          "https://other.example.com/path/" + token}) {
      INFO(text);
      const Verification v = verifier.Verify(text);
      CHECK(v.verdict == Verdict::kGenuine);
      CHECK(v.code_id == 31337);
    }
  }
  const std::string gs1 = Mint(ks, Scheme::kGs1, 5, kGtin);
  CHECK(verifier.Verify(gs1 + "?linkType=gs1:pip").verdict == Verdict::kGenuine);
  // Digital Link qualifiers (/22/, /10/) may sit between the GTIN and the serial.
  std::string with_lot = gs1;
  with_lot.insert(with_lot.find("/21/"), "/10/LOT42");
  CHECK(verifier.Verify(with_lot).verdict == Verdict::kGenuine);
  // GTIN-13 in the URI is padded to GTIN-14.
  std::string gtin13 = gs1;
  gtin13.erase(gtin13.find("/01/") + 4, 1);
  CHECK(verifier.Verify(gtin13).verdict == Verdict::kGenuine);
}

// Every character of `alphabet` other than `token[i]` (and its other case when
// the scheme folds case) replaces position i.
void CheckSubstitutions(const CodeVerifier& verifier, const std::string& url, size_t token_start,
                        const std::string& alphabet, bool folds_case) {
  int tried = 0;
  for (size_t i = token_start; i < url.size(); ++i) {
    for (char c : alphabet + "018!/ ") {
      const char orig = url[i];
      if (c == orig) continue;
      if (folds_case && std::toupper(static_cast<unsigned char>(c)) ==
                            std::toupper(static_cast<unsigned char>(orig))) {
        continue;
      }
      std::string bad = url;
      bad[i] = c;
      const Verification v = verifier.Verify(bad);
      INFO(bad);
      REQUIRE(v.verdict != Verdict::kGenuine);
      // A counterfeit tells nothing about the code.
      if (v.verdict == Verdict::kCounterfeit) REQUIRE(v.code_id == 0);
      ++tried;
    }
  }
  CHECK(tried > 0);
}

TEST_CASE("every single-character substitution of a valid token is rejected") {
  const Keyset ks = VectorKeyset();
  const CodeVerifier verifier = CodeVerifier::ForKeyset(ks);
  const std::string b32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567abcdefghijklmnopqrstuvwxyz";
  CheckSubstitutions(verifier, Mint(ks, Scheme::kCompact, 4242), 22, b32, true);
  CheckSubstitutions(verifier, Mint(ks, Scheme::kSigned, 4242), 22, b32, true);
  const std::string gs1 = Mint(ks, Scheme::kGs1, 4242, kGtin);
  CheckSubstitutions(verifier, gs1, gs1.find("/01/") + 4, bits::kBase64UrlAlphabet, false);
}

TEST_CASE("every deletion and truncation of a valid code is rejected as malformed") {
  const Keyset ks = VectorKeyset();
  const CodeVerifier verifier = CodeVerifier::ForKeyset(ks);
  for (const std::string& url : {Mint(ks, Scheme::kCompact, 77), Mint(ks, Scheme::kSigned, 77),
                                 Mint(ks, Scheme::kGs1, 77, kGtin)}) {
    // In gs1 codes, deleting the GTIN's leading zero gives the same GTIN-13, so
    // deletions start after it.
    const size_t start = url.find("/01/") != std::string::npos ? url.find("/01/") + 5 : 22;
    for (size_t i = start; i < url.size(); ++i) {
      std::string deleted = url;
      deleted.erase(i, 1);
      INFO(deleted);
      CHECK(verifier.Verify(deleted).verdict != Verdict::kGenuine);
      const std::string truncated = url.substr(0, i);
      INFO(truncated);
      CHECK(verifier.Verify(truncated).verdict == Verdict::kMalformed);
    }
  }
}

TEST_CASE("malformed input says which rule it broke") {
  const Keyset ks = VectorKeyset();
  const CodeVerifier verifier = CodeVerifier::ForKeyset(ks);
  auto problem = [&](const std::string& text) {
    const Verification v = verifier.Verify(text);
    CHECK(v.verdict == Verdict::kMalformed);
    return v.problem;
  };
  CHECK(problem("") == "the code is empty");
  CHECK(problem("HTTPS://YM.EXAMPLE.CN/ABC").find("has 3 characters") != std::string::npos);
  std::string compact = Mint(ks, Scheme::kCompact, 1);
  compact[30] = '0';
  CHECK(problem(compact) == "character '0' at position 8 is not base32 (A-Z, 2-7)");
  // A 28-character token whose format nibble is not 1.
  CHECK(problem("HTTPS://YM.EXAMPLE.CN/" + std::string(28, 'A')).find("format 0") !=
        std::string::npos);
  std::string gs1 = Mint(ks, Scheme::kGs1, 1, kGtin);
  gs1.replace(gs1.find("/01/") + 4 + 13, 1, "3");  // wrong GTIN check digit
  CHECK(problem(gs1) == "GTIN '06901234567893' has check digit 3, expected 2");
  CHECK(problem("https://id.example.cn/01/06901234567892").find("no serial") != std::string::npos);
  CHECK(problem("https://id.example.cn/01/06901234567892/21/short").find("has 5 characters") !=
        std::string::npos);
}

TEST_CASE("a signed token with non-zero padding bits is malformed, not a second spelling") {
  const Keyset ks = VectorKeyset();
  std::string url = Mint(ks, Scheme::kSigned, 5);
  // The last base32 character holds 1 signature bit and 4 padding bits.
  const char last = url.back();
  const int value = last >= 'A' ? last - 'A' : last - '2' + 26;
  url.back() = bits::kBase32Alphabet[value | 1];
  if (url.back() == last) url.back() = bits::kBase32Alphabet[value & ~1];
  const Verification v = CodeVerifier::ForKeyset(ks).Verify(url);
  CHECK(v.verdict == Verdict::kMalformed);
  CHECK(v.problem.find("padding") != std::string::npos);
}

TEST_CASE("codes of another brand's keyset, or an unknown key, are counterfeit") {
  const Keyset ours = VectorKeyset();
  ASSIGN_OR_FAIL(Keyset theirs, Keyset::Create({.brand = "Other"}, absl::Now()));
  const CodeVerifier verifier = CodeVerifier::ForKeyset(ours);
  for (Scheme scheme : kAllSchemes) {
    const Verification v = verifier.Verify(Mint(theirs, scheme, 1, kGtin));
    CHECK(v.verdict == Verdict::kCounterfeit);
    CHECK(v.code_id == 0);
    CHECK(v.key_id == 0);
  }
}

TEST_CASE("code ids above 48 bits are refused when minting") {
  const Keyset ks = VectorKeyset();
  ASSIGN_OR_FAIL(CodeMinter minter, CodeMinter::Create(ks, Scheme::kCompact));
  const absl::StatusOr<std::string> token = minter.Token(kMaxCodeId + 1);
  CHECK(token.status().code() == absl::StatusCode::kOutOfRange);
  std::string out = "kept";
  CHECK_FALSE(minter.AppendUrl(kMaxCodeId + 1, &out).ok());
  CHECK(out == "kept");
}

TEST_CASE("minting checks the prefix and GTIN it is given") {
  const Keyset ks = VectorKeyset();
  auto status = [&](Scheme s, std::optional<std::string> prefix, std::string gtin) {
    return CodeMinter::Create(ks, s, {.prefix = prefix, .gtin = gtin}).status();
  };
  CHECK(status(Scheme::kCompact, "https://ym.example.cn/", "").code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(status(Scheme::kCompact, "HTTPS://YM.EXAMPLE.CN", "").code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(status(Scheme::kCompact, "HTTPS://YM.BRAND.CN/Q/", "").ok());
  CHECK(status(Scheme::kGs1, std::nullopt, "").code() == absl::StatusCode::kInvalidArgument);
  CHECK(status(Scheme::kGs1, std::nullopt, "06901234567893").code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(status(Scheme::kGs1, "https://id.brand.cn/", kGtin).code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(status(Scheme::kGs1, "https://id.brand.cn", "6901234567892").ok());
}

TEST_CASE("forged random tokens are counterfeit or malformed, never genuine") {
  const Keyset ks = VectorKeyset();
  const CodeVerifier verifier = CodeVerifier::ForKeyset(ks);
  // Random tokens with a valid format nibble and the real key hint: only the tag
  // stands between them and GENUINE.
  for (int i = 0; i < 20000; ++i) {
    uint8_t raw[18];
    randombytes_buf(raw, sizeof raw);
    // Format 1 and key hint 0x0B0C0D fill the first 28 bits.
    raw[0] = 0x10;
    raw[1] = 0xB0;
    raw[2] = 0xC0;
    raw[3] = static_cast<uint8_t>(0xD0 | (raw[3] & 0x0F));
    char token[28];
    bits::Encode(raw, 28, 5, bits::kBase32Alphabet, token);
    REQUIRE(verifier.Verify(std::string(token, 28)).verdict == Verdict::kCounterfeit);
  }
}

}  // namespace
}  // namespace youma::codegen
