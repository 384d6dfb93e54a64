// libFuzzer target for the code parser and verifier: any input must come back
// as a verdict without crashing, and GENUINE only for a code the minter itself
// would print.
#include <sodium.h>

#include <cstdlib>

#include "absl/strings/ascii.h"
#include "codegen/code_format.h"
#include "tests/vector_keyset.h"

namespace {

using youma::codegen::CodeMinter;
using youma::codegen::CodeVerifier;
using youma::codegen::Keyset;
using youma::codegen::Scheme;
using youma::codegen::Verdict;

struct Fixture {
  Keyset keyset;
  CodeVerifier verifier;
};

const Fixture& GetFixture() {
  static const Fixture* fixture = [] {
    if (sodium_init() < 0) std::abort();
    absl::StatusOr<Keyset> ks = Keyset::FromProto(youma::testing::VectorKeysetProto());
    if (!ks.ok()) std::abort();
    return new Fixture{*ks, CodeVerifier::ForKeyset(*ks)};
  }();
  return *fixture;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Fixture& f = GetFixture();
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  const absl::StatusOr<youma::codegen::ParsedCode> parsed = youma::codegen::ParseCode(text);
  const youma::codegen::Verification v = f.verifier.Verify(text);
  // Parse and verify agree on what is malformed, and a malformed input says why.
  if (parsed.ok() == (v.verdict == Verdict::kMalformed)) std::abort();
  if (v.verdict == Verdict::kMalformed && v.problem.empty()) std::abort();
  if (v.verdict != Verdict::kGenuine) {
    if (v.code_id != 0 || v.key_id != 0) std::abort();  // a counterfeit tells nothing
    return 0;
  }
  // GENUINE: the minter must print this very token for this code id.
  absl::StatusOr<CodeMinter> minter =
      CodeMinter::Create(f.keyset, v.scheme, {.prefix = std::nullopt, .gtin = v.gtin});
  if (!minter.ok()) std::abort();
  absl::StatusOr<std::string> token = minter->Token(v.code_id);
  if (!token.ok()) std::abort();
  const std::string haystack =
      v.scheme == Scheme::kGs1 ? std::string(text) : absl::AsciiStrToUpper(text);
  if (haystack.find(*token) == std::string::npos) std::abort();
  return 0;
}
