// Key material in memory: SecretBytes wipes itself (sodium_memzero) when it goes
// away, and reading it needs a SecretKeyAccess, so every place that touches raw
// key bytes is found by grepping for "SecretKeyAccess::Grant()".
//
//   SecretBytes key = SecretBytes::Random(32);
//   crypto_generichash(out, 16, in, n, key.data(SecretKeyAccess::Grant()), key.size());
#pragma once

#include <cstddef>
#include <cstdint>
#include "absl/strings/string_view.h"
#include <vector>

namespace youma::codegen {

// Proof that the caller means to read secret key bytes (Tink's SecretKeyAccess).
class SecretKeyAccess {
 public:
  static SecretKeyAccess Grant() { return SecretKeyAccess(); }

 private:
  SecretKeyAccess() = default;
};

class SecretBytes {
 public:
  SecretBytes() = default;
  SecretBytes(const uint8_t* data, size_t size) : bytes_(data, data + size) {}
  SecretBytes(absl::string_view bytes, SecretKeyAccess)
      : bytes_(bytes.begin(), bytes.end()) {}
  static SecretBytes Random(size_t size);
  SecretBytes(const SecretBytes&) = default;
  SecretBytes& operator=(const SecretBytes& other);
  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  ~SecretBytes() { Wipe(); }

  size_t size() const { return bytes_.size(); }
  bool empty() const { return bytes_.empty(); }
  const uint8_t* data(SecretKeyAccess) const { return bytes_.data(); }
  uint8_t* mutable_data(SecretKeyAccess) { return bytes_.data(); }
  absl::string_view view(SecretKeyAccess) const {
    return {reinterpret_cast<const char*>(bytes_.data()), bytes_.size()};
  }
  // Erases the bytes and empties the container.
  void Wipe();

 private:
  std::vector<uint8_t> bytes_;
};

}  // namespace youma::codegen
