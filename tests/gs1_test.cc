// GS1 rules behind the gs1 scheme.
#include "codegen/bits.h"
#include "codegen/code_format.h"
#include "codegen/gs1.h"
#include "tests/test_util.h"

namespace youma::codegen {
namespace {

TEST_CASE("GTIN check digits match GS1's published examples") {
  CHECK(GtinCheckDigit("629104150021") == '3');   // GTIN-13 6291041500213
  CHECK(GtinCheckDigit("0690123456789") == '2');  // GTIN-14 06901234567892
  CHECK(GtinCheckDigit("9638507") == '4');        // GTIN-8 96385074
  CHECK(GtinCheckDigit("03600029145") == '2');    // GTIN-12 036000291452
}

TEST_CASE("GTINs are normalised to 14 digits and a wrong check digit is refused") {
  CHECK(*NormalizeGtin("6291041500213") == "06291041500213");
  CHECK(*NormalizeGtin("96385074") == "00000096385074");
  CHECK(*NormalizeGtin("036000291452") == "00036000291452");
  CHECK(*NormalizeGtin("06901234567892") == "06901234567892");
  const auto wrong = NormalizeGtin("06901234567891");
  CHECK(wrong.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(wrong.status().message()) ==
        "GTIN '06901234567891' has check digit 1, expected 2");
  CHECK_FALSE(NormalizeGtin("123").ok());
  CHECK_FALSE(NormalizeGtin("0690123456789X").ok());
}

TEST_CASE("AI 21 allows 1 to 20 characters of GS1 character set 82") {
  int in_set = 0;
  for (int c = 0; c < 256; ++c) in_set += IsGs1Cset82(static_cast<char>(c)) ? 1 : 0;
  CHECK(in_set == 82);
  CHECK(ValidateAi21Serial("ABCxyz019!%&()*+,-./").ok());
  CHECK_FALSE(ValidateAi21Serial("").ok());
  CHECK_FALSE(ValidateAi21Serial(std::string(21, 'A')).ok());
  CHECK_FALSE(ValidateAi21Serial("space here").ok());
  CHECK_FALSE(ValidateAi21Serial("tilde~").ok());
  CHECK_FALSE(ValidateAi21Serial("hash#").ok());
}

TEST_CASE("youma gs1 serials are valid AI 21 values and the URI is a Digital Link") {
  const Keyset ks = testing::VectorKeyset();
  ASSIGN_OR_FAIL(CodeMinter minter,
                 CodeMinter::Create(ks, Scheme::kGs1, {.prefix = std::nullopt, .gtin = "6901234567892"}));
  for (uint64_t id : {uint64_t{0}, uint64_t{1}, uint64_t{123456789}, kMaxCodeId}) {
    ASSIGN_OR_FAIL(std::string serial, minter.Token(id));
    CHECK(serial.size() == 20);
    REQUIRE_OK(ValidateAi21Serial(serial));
    ASSIGN_OR_FAIL(std::string url, minter.Url(id));
    CHECK(url == "https://id.example.cn/01/06901234567892/21/" + serial);
  }
  for (char c : std::string(bits::kBase64UrlAlphabet)) CHECK(IsGs1Cset82(c));
}

TEST_CASE("a gs1 code moved to another GTIN is counterfeit; a bad check digit is malformed") {
  const Keyset ks = testing::VectorKeyset();
  ASSIGN_OR_FAIL(CodeMinter minter,
                 CodeMinter::Create(ks, Scheme::kGs1, {.prefix = std::nullopt, .gtin = "06901234567892"}));
  const std::string url = *minter.Url(77);
  const CodeVerifier verifier = CodeVerifier::ForKeyset(ks);
  std::string moved = url;
  moved.replace(moved.find("06901234567892"), 14, "06901234567809");  // another valid GTIN
  CHECK(verifier.Verify(moved).verdict == Verdict::kCounterfeit);
  std::string bad_check = url;
  bad_check.replace(bad_check.find("06901234567892"), 14, "06901234567893");
  const Verification v = verifier.Verify(bad_check);
  CHECK(v.verdict == Verdict::kMalformed);
  CHECK(v.problem.find("check digit") != std::string::npos);
}

}  // namespace
}  // namespace youma::codegen
