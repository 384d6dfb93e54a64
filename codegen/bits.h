// Bit packing and the base32 / base64url alphabets the tokens are written in.
// Internal to codegen; fields are packed most significant bit first.
#pragma once

#include <cstddef>
#include <cstdint>
#include "absl/strings/string_view.h"

namespace youma::codegen::bits {

// RFC 4648 base32 (upper case; decoding also takes lower case).
inline constexpr char kBase32Alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
// RFC 4648 base64url: every character is in GS1 set 82 and needs no URL escaping.
inline constexpr char kBase64UrlAlphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

class Writer {
 public:
  explicit Writer(uint8_t* out) : out_(out) {}
  // Appends the low `bits` (at most 48) bits of `value`.
  void Put(uint64_t value, int bits) {
    acc_ = (acc_ << bits) | (value & ((uint64_t{1} << bits) - 1));
    n_ += bits;
    while (n_ >= 8) {
      n_ -= 8;
      *out_++ = static_cast<uint8_t>(acc_ >> n_);
    }
  }
  void PutBytes(const uint8_t* bytes, size_t count) {
    for (size_t i = 0; i < count; ++i) Put(bytes[i], 8);
  }
  // Pads the last partial byte with zero bits.
  void Flush() {
    if (n_ > 0) Put(0, 8 - n_);
  }

 private:
  uint8_t* out_;
  uint64_t acc_ = 0;
  int n_ = 0;
};

class Reader {
 public:
  explicit Reader(const uint8_t* in) : in_(in) {}
  // Reads `bits` (at most 48) bits.
  uint64_t Get(int bits) {
    while (n_ < bits) {
      acc_ = (acc_ << 8) | *in_++;
      n_ += 8;
    }
    n_ -= bits;
    return (acc_ >> n_) & ((uint64_t{1} << bits) - 1);
  }
  void GetBytes(uint8_t* out, size_t count) {
    for (size_t i = 0; i < count; ++i) out[i] = static_cast<uint8_t>(Get(8));
  }

 private:
  const uint8_t* in_;
  uint64_t acc_ = 0;
  int n_ = 0;
};

// Writes `nchars` characters of `bits_per_char` bits each, taken from `bytes`.
void Encode(const uint8_t* bytes, size_t nchars, int bits_per_char, const char* alphabet,
            char* out);

// Decodes `text` into `out` (which holds ceil(len * bits_per_char / 8) bytes;
// the unused low bits of the last byte are zero). Returns the index of the first
// character outside the alphabet, or -1.
long Decode(absl::string_view text, int bits_per_char, const int8_t* table, uint8_t* out);

// Decoding tables: 256 entries, -1 for characters outside the alphabet.
const int8_t* Base32DecodeTable();     // case-insensitive
const int8_t* Base64UrlDecodeTable();  // case-sensitive

}  // namespace youma::codegen::bits
