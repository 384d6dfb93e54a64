#include "codegen/code_format.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "codegen/bits.h"
#include "codegen/gs1.h"
#include "services/common/status_macros.h"

namespace youma::codegen {
namespace {

constexpr size_t kCompactBytes = 18;  // 140 bits, padded
constexpr size_t kSignedBytes = 75;   // 600 bits
constexpr size_t kGs1Bytes = 15;      // 120 bits
constexpr size_t kMacOutput = 16;     // BLAKE2b-128, truncated to the tag
constexpr size_t kSignedMessage = 11;
constexpr size_t kGs1Message = 11 + 14;

// The authenticated message: format byte, full key id, code id, and (gs1) GTIN.
void PutMessageHeader(Scheme scheme, uint32_t key_id, uint64_t code_id, uint8_t* msg) {
  msg[0] = FormatNibble(scheme);
  for (int i = 0; i < 4; ++i) msg[1 + i] = static_cast<uint8_t>(key_id >> (24 - 8 * i));
  for (int i = 0; i < 6; ++i) msg[5 + i] = static_cast<uint8_t>(code_id >> (40 - 8 * i));
}

void Mac(const crypto_generichash_blake2b_state& keyed, const uint8_t* msg, size_t len,
         uint8_t out[kMacOutput]) {
  crypto_generichash_blake2b_state st = keyed;
  crypto_generichash_blake2b_update(&st, msg, len);
  crypto_generichash_blake2b_final(&st, out, kMacOutput);
  sodium_memzero(&st, sizeof st);
}

absl::Status Malformed(std::string message) {
  return absl::InvalidArgumentError(std::move(message));
}

absl::Status BadCharacter(absl::string_view text, long pos, absl::string_view alphabet) {
  return Malformed(absl::StrFormat("character '%c' at position %d is not %s", text[pos],
                                   pos, alphabet));
}

absl::StatusOr<ParsedCode> ParseCompact(absl::string_view token) {
  uint8_t raw[kCompactBytes];
  const long bad = bits::Decode(token, 5, bits::Base32DecodeTable(), raw);
  if (bad >= 0) return BadCharacter(token, bad, "base32 (A-Z, 2-7)");
  bits::Reader r(raw);
  ParsedCode code;
  code.scheme = Scheme::kCompact;
  const uint64_t format = r.Get(4);
  if (format != FormatNibble(Scheme::kCompact)) {
    return Malformed(absl::StrCat("a 28-character token is compact and starts with format 1; "
                                  "this one has format ", format));
  }
  code.key_hint = static_cast<uint32_t>(r.Get(24));
  code.code_id = r.Get(48);
  r.GetBytes(code.auth.data(), 8);
  return code;
}

absl::StatusOr<ParsedCode> ParseSigned(absl::string_view token) {
  uint8_t raw[kSignedBytes];
  const long bad = bits::Decode(token, 5, bits::Base32DecodeTable(), raw);
  if (bad >= 0) return BadCharacter(token, bad, "base32 (A-Z, 2-7)");
  bits::Reader r(raw);
  ParsedCode code;
  code.scheme = Scheme::kSigned;
  const uint64_t format = r.Get(4);
  if (format != FormatNibble(Scheme::kSigned)) {
    return Malformed(absl::StrCat("a 120-character token is signed and starts with format 2; "
                                  "this one has format ", format));
  }
  code.key_hint = static_cast<uint32_t>(r.Get(32));
  code.code_id = r.Get(48);
  r.GetBytes(code.auth.data(), 64);
  if (r.Get(4) != 0) {
    return Malformed("the last character of a signed token must carry zero padding bits");
  }
  return code;
}

absl::StatusOr<ParsedCode> ParseGs1(absl::string_view gtin_text, absl::string_view serial) {
  ParsedCode code;
  code.scheme = Scheme::kGs1;
  absl::StatusOr<std::string> gtin = NormalizeGtin(gtin_text);
  if (!gtin.ok()) return gtin.status();
  code.gtin = *std::move(gtin);
  if (serial.size() != kGs1SerialLength) {
    return Malformed(absl::StrCat("AI 21 serial '", serial, "' has ", serial.size(),
                                  " characters; a youma gs1 serial has 20"));
  }
  uint8_t raw[kGs1Bytes];
  const long bad = bits::Decode(serial, 6, bits::Base64UrlDecodeTable(), raw);
  if (bad >= 0) return BadCharacter(serial, bad, "in a youma serial (A-Z a-z 0-9 - _)");
  bits::Reader r(raw);
  const uint64_t format = r.Get(4);
  if (format != FormatNibble(Scheme::kGs1)) {
    return Malformed(absl::StrCat("a youma gs1 serial starts with format 3; this one has format ",
                                  format));
  }
  code.key_hint = static_cast<uint32_t>(r.Get(8));
  code.code_id = r.Get(48);
  r.GetBytes(code.auth.data(), 7);
  code.auth[7] = static_cast<uint8_t>(r.Get(4) << 4);
  return code;
}

// Finds "/01/<GTIN>[/22/x][/10/x]/21/<serial>" in a Digital Link URI path.
// Returns false when the text is not a GS1 Digital Link at all.
bool SplitDigitalLink(absl::string_view text, absl::string_view* gtin, absl::string_view* serial,
                      std::string* problem) {
  const size_t scheme_end = text.find("://");
  absl::string_view path = scheme_end == absl::string_view::npos ? text : text.substr(scheme_end + 3);
  std::vector<absl::string_view> segs = absl::StrSplit(path, '/');
  for (size_t i = 0; i + 1 < segs.size(); ++i) {
    if (segs[i] != "01") continue;
    const absl::string_view g = segs[i + 1];
    if (g.empty() || !std::all_of(g.begin(), g.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      continue;
    }
    *gtin = g;
    for (size_t j = i + 2; j + 1 < segs.size(); j += 2) {
      if (segs[j] == "21") {
        *serial = segs[j + 1];
        return true;
      }
      if (segs[j] != "22" && segs[j] != "10") break;
    }
    *problem = "GS1 Digital Link has a GTIN (/01/) but no serial (/21/<serial>)";
    return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<ParsedCode> ParseCode(absl::string_view scanned) {
  absl::string_view s = absl::StripAsciiWhitespace(scanned);
  s = s.substr(0, std::min(s.find('?'), s.find('#')));
  if (s.empty()) return Malformed("the code is empty");
  absl::string_view gtin, serial;
  std::string problem;
  if (SplitDigitalLink(s, &gtin, &serial, &problem)) {
    if (!problem.empty()) return Malformed(problem);
    return ParseGs1(gtin, serial);
  }
  const size_t slash = s.rfind('/');
  const absl::string_view token = slash == absl::string_view::npos ? s : s.substr(slash + 1);
  if (token.size() == kCompactTokenLength) return ParseCompact(token);
  if (token.size() == kSignedTokenLength) return ParseSigned(token);
  return Malformed(absl::StrCat("token '", token.substr(0, 40), token.size() > 40 ? "…" : "",
                                "' has ", token.size(),
                                " characters; a youma compact token has 28, a signed one 120, "
                                "and gs1 codes are URLs with /01/<GTIN>/21/<serial>"));
}

absl::string_view VerdictName(Verdict verdict) {
  switch (verdict) {
    case Verdict::kGenuine: return "GENUINE";
    case Verdict::kCounterfeit: return "COUNTERFEIT";
    case Verdict::kMalformed: return "MALFORMED";
    case Verdict::kUnverifiable: return "UNVERIFIABLE";
  }
  return "UNKNOWN";
}

// ---------------------------------------------------------------- CodeMinter

absl::StatusOr<CodeMinter> CodeMinter::Create(const Keyset& keyset, Scheme scheme,
                                              MintOptions options) {
  const Key* key = keyset.Primary(scheme);
  if (key == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the keyset of ", keyset.brand(), " has no ", SchemeName(scheme),
        " primary key; add one with `youma keys rotate --scheme ", SchemeName(scheme), "`"));
  }
  return ForKey(keyset, key->key_id, std::move(options));
}

absl::StatusOr<CodeMinter> CodeMinter::ForKey(const Keyset& keyset, uint32_t key_id,
                                              MintOptions options) {
  const Key* key = keyset.Find(key_id);
  if (key == nullptr || key->status != KeyStatus::kEnabled) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "key 0x%08x of the %s keyset is %s; codes under it cannot be issued", key_id,
        keyset.brand(), key == nullptr ? "missing" : KeyStatusName(key->status)));
  }
  const Scheme scheme = key->scheme;
  CodeMinter m;
  m.scheme_ = scheme;
  m.key_id_ = key->key_id;
  const SecretKeyAccess access = SecretKeyAccess::Grant();
  if (scheme == Scheme::kGs1) {
    if (options.gtin.empty()) {
      return absl::InvalidArgumentError("gs1 codes need the product's GTIN (--gtin)");
    }
    YOUMA_ASSIGN_OR_RETURN(m.gtin_, NormalizeGtin(options.gtin));
    std::string resolver = options.prefix.value_or(keyset.gs1_resolver());
    YOUMA_RETURN_IF_ERROR(ValidateGs1Resolver(resolver));
    m.prefix_ = absl::StrCat(resolver, "/01/", m.gtin_, "/21/");
  } else {
    m.prefix_ = options.prefix.value_or(keyset.url_prefix());
    YOUMA_RETURN_IF_ERROR(ValidateUrlPrefix(m.prefix_));
  }
  if (scheme == Scheme::kSigned) {
    m.signing_key_ = SecretBytes::Random(crypto_sign_SECRETKEYBYTES);
    unsigned char pk[crypto_sign_PUBLICKEYBYTES];
    crypto_sign_seed_keypair(pk, m.signing_key_.mutable_data(access), key->secret.data(access));
  } else {
    crypto_generichash_blake2b_init(&m.mac_, key->secret.data(access), key->secret.size(),
                                    kMacOutput);
  }
  return m;
}

absl::Status CodeMinter::AppendToken(uint64_t code_id, std::string* out) const {
  if (code_id > kMaxCodeId) {
    return absl::OutOfRangeError(
        absl::StrCat("code id ", code_id, " is above the 48-bit limit ", kMaxCodeId));
  }
  const size_t start = out->size();
  switch (scheme_) {
    case Scheme::kCompact: {
      uint8_t msg[kSignedMessage];
      PutMessageHeader(scheme_, key_id_, code_id, msg);
      uint8_t tag[kMacOutput];
      Mac(mac_, msg, sizeof msg, tag);
      uint8_t raw[kCompactBytes];
      bits::Writer w(raw);
      w.Put(FormatNibble(scheme_), 4);
      w.Put(KeyHint(scheme_, key_id_), 24);
      w.Put(code_id, 48);
      w.PutBytes(tag, 8);
      w.Flush();
      out->resize(start + kCompactTokenLength);
      bits::Encode(raw, kCompactTokenLength, 5, bits::kBase32Alphabet, out->data() + start);
      break;
    }
    case Scheme::kSigned: {
      uint8_t msg[kSignedMessage];
      PutMessageHeader(scheme_, key_id_, code_id, msg);
      uint8_t sig[crypto_sign_BYTES];
      crypto_sign_detached(sig, nullptr, msg, sizeof msg,
                           signing_key_.data(SecretKeyAccess::Grant()));
      uint8_t raw[kSignedBytes];
      bits::Writer w(raw);
      w.Put(FormatNibble(scheme_), 4);
      w.Put(key_id_, 32);
      w.Put(code_id, 48);
      w.PutBytes(sig, sizeof sig);
      w.Flush();
      out->resize(start + kSignedTokenLength);
      bits::Encode(raw, kSignedTokenLength, 5, bits::kBase32Alphabet, out->data() + start);
      break;
    }
    case Scheme::kGs1: {
      uint8_t msg[kGs1Message];
      PutMessageHeader(scheme_, key_id_, code_id, msg);
      std::copy(gtin_.begin(), gtin_.end(), msg + kSignedMessage);
      uint8_t tag[kMacOutput];
      Mac(mac_, msg, sizeof msg, tag);
      uint8_t raw[kGs1Bytes];
      bits::Writer w(raw);
      w.Put(FormatNibble(scheme_), 4);
      w.Put(KeyHint(scheme_, key_id_), 8);
      w.Put(code_id, 48);
      w.PutBytes(tag, 7);
      w.Put(tag[7] >> 4, 4);
      out->resize(start + kGs1SerialLength);
      bits::Encode(raw, kGs1SerialLength, 6, bits::kBase64UrlAlphabet, out->data() + start);
      break;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> CodeMinter::Token(uint64_t code_id) const {
  std::string out;
  YOUMA_RETURN_IF_ERROR(AppendToken(code_id, &out));
  return out;
}

absl::Status CodeMinter::AppendUrl(uint64_t code_id, std::string* out) const {
  const size_t start = out->size();
  out->append(prefix_);
  absl::Status st = AppendToken(code_id, out);
  if (!st.ok()) out->resize(start);
  return st;
}

absl::StatusOr<std::string> CodeMinter::Url(uint64_t code_id) const {
  std::string out;
  YOUMA_RETURN_IF_ERROR(AppendUrl(code_id, &out));
  return out;
}

// -------------------------------------------------------------- CodeVerifier

CodeVerifier CodeVerifier::ForKeyset(const Keyset& keyset) {
  CodeVerifier v;
  const SecretKeyAccess access = SecretKeyAccess::Grant();
  for (const Key& key : keyset.keys()) {
    VerifyKey vk;
    vk.key_id = key.key_id;
    vk.enabled = key.status == KeyStatus::kEnabled;
    vk.has_secret = !key.secret.empty();
    if (key.scheme == Scheme::kSigned) {
      vk.public_key = key.public_key;
    } else if (vk.has_secret) {
      crypto_generichash_blake2b_init(&vk.mac, key.secret.data(access), key.secret.size(),
                                      kMacOutput);
    }
    v.keys_[Slot(key.scheme, KeyHint(key.scheme, key.key_id))] = vk;
  }
  return v;
}

absl::StatusOr<CodeVerifier> CodeVerifier::ForPublicKeyset(
    const youma::v1::PublicKeyset& keyset) {
  CodeVerifier v;
  v.public_only_ = true;
  for (const auto& key : keyset.keys()) {
    if (key.ed25519_public_key().size() != crypto_sign_PUBLICKEYBYTES) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "public key 0x%08x has %d bytes; an Ed25519 public key has 32", key.key_id(),
          key.ed25519_public_key().size()));
    }
    VerifyKey vk;
    vk.key_id = key.key_id();
    vk.enabled = key.status() == youma::v1::KEY_STATUS_ENABLED;
    std::copy(key.ed25519_public_key().begin(), key.ed25519_public_key().end(),
              vk.public_key.begin());
    v.keys_[Slot(Scheme::kSigned, key.key_id())] = vk;
  }
  return v;
}

Verification CodeVerifier::Verify(absl::string_view scanned) const {
  absl::StatusOr<ParsedCode> code = ParseCode(scanned);
  if (!code.ok()) {
    Verification out;
    out.verdict = Verdict::kMalformed;
    out.problem = std::string(code.status().message());
    return out;
  }
  return Verify(*code);
}

Verification CodeVerifier::Verify(const ParsedCode& code) const {
  Verification out;
  if (public_only_ && code.scheme != Scheme::kSigned) {
    out.verdict = Verdict::kUnverifiable;
    out.problem = absl::StrCat(SchemeName(code.scheme),
                               " codes are checked with the brand's secret keyset; a public "
                               "keyset verifies signed codes only");
    return out;
  }
  out.verdict = Verdict::kCounterfeit;
  const auto it = keys_.find(Slot(code.scheme, code.key_hint));
  if (it == keys_.end() || !it->second.enabled) return out;
  const VerifyKey& key = it->second;
  bool ok = false;
  switch (code.scheme) {
    case Scheme::kCompact: {
      if (!key.has_secret) return out;
      uint8_t msg[kSignedMessage];
      PutMessageHeader(code.scheme, key.key_id, code.code_id, msg);
      uint8_t tag[kMacOutput];
      Mac(key.mac, msg, sizeof msg, tag);
      ok = sodium_memcmp(tag, code.auth.data(), 8) == 0;
      break;
    }
    case Scheme::kGs1: {
      if (!key.has_secret) return out;
      uint8_t msg[kGs1Message];
      PutMessageHeader(code.scheme, key.key_id, code.code_id, msg);
      std::copy(code.gtin.begin(), code.gtin.end(), msg + kSignedMessage);
      uint8_t tag[kMacOutput];
      Mac(key.mac, msg, sizeof msg, tag);
      tag[7] &= 0xF0;  // 60 bits
      ok = sodium_memcmp(tag, code.auth.data(), 8) == 0;
      break;
    }
    case Scheme::kSigned: {
      uint8_t msg[kSignedMessage];
      PutMessageHeader(code.scheme, key.key_id, code.code_id, msg);
      ok = crypto_sign_verify_detached(code.auth.data(), msg, sizeof msg,
                                       key.public_key.data()) == 0;
      break;
    }
  }
  if (!ok) return out;
  out.verdict = Verdict::kGenuine;
  out.scheme = code.scheme;
  out.code_id = code.code_id;
  out.key_id = key.key_id;
  out.gtin = code.gtin;
  return out;
}

}  // namespace youma::codegen
