// Character sets the code formats are built from.
#pragma once

#include "absl/strings/string_view.h"

namespace youma::codegen {

// QR alphanumeric mode: 0-9, A-Z, space and $%*+-./: (ISO/IEC 18004, 7.4.4).
// Text made only of these packs 5.5 bits a character instead of 8.
constexpr bool IsQrAlphanumeric(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
         absl::string_view(" $%*+-./:").find(c) != absl::string_view::npos;
}

inline bool IsQrAlphanumeric(absl::string_view text) {
  for (char c : text) {
    if (!IsQrAlphanumeric(c)) return false;
  }
  return true;
}

}  // namespace youma::codegen
