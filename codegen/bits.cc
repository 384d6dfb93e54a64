#include "codegen/bits.h"

#include <array>

namespace youma::codegen::bits {
namespace {

std::array<int8_t, 256> MakeTable(const char* alphabet, bool fold_case) {
  std::array<int8_t, 256> t;
  t.fill(-1);
  for (int i = 0; alphabet[i] != '\0'; ++i) {
    const unsigned char c = static_cast<unsigned char>(alphabet[i]);
    t[c] = static_cast<int8_t>(i);
    if (fold_case && c >= 'A' && c <= 'Z') t[c - 'A' + 'a'] = static_cast<int8_t>(i);
  }
  return t;
}

}  // namespace

void Encode(const uint8_t* bytes, size_t nchars, int bits_per_char, const char* alphabet,
            char* out) {
  uint64_t acc = 0;
  int n = 0;
  const uint64_t mask = (uint64_t{1} << bits_per_char) - 1;
  for (size_t i = 0; i < nchars; ++i) {
    if (n < bits_per_char) {
      acc = (acc << 8) | *bytes++;
      n += 8;
    }
    n -= bits_per_char;
    out[i] = alphabet[(acc >> n) & mask];
  }
}

long Decode(absl::string_view text, int bits_per_char, const int8_t* table, uint8_t* out) {
  Writer w(out);
  for (size_t i = 0; i < text.size(); ++i) {
    const int8_t v = table[static_cast<unsigned char>(text[i])];
    if (v < 0) return static_cast<long>(i);
    w.Put(static_cast<uint64_t>(v), bits_per_char);
  }
  w.Flush();
  return -1;
}

const int8_t* Base32DecodeTable() {
  static const std::array<int8_t, 256> table = MakeTable(kBase32Alphabet, true);
  return table.data();
}

const int8_t* Base64UrlDecodeTable() {
  static const std::array<int8_t, 256> table = MakeTable(kBase64UrlAlphabet, false);
  return table.data();
}

}  // namespace youma::codegen::bits
