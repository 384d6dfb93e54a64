// QR symbols for printed codes: encode with ZXing-C++'s writer, render to PNG
// (libpng) or SVG, and read back with ZXing-C++'s reader (for tests, the demo
// and print-house proofs).
//
//   YOUMA_ASSIGN_OR_RETURN(QrSymbol qr, EncodeQr(url, QrEcLevel::kM));
//   qr.version();                           // 3 for a compact URL with a 22-char prefix
//   YOUMA_ASSIGN_OR_RETURN(std::string png, RenderPng(qr, /*module_px=*/8));
//   YOUMA_ASSIGN_OR_RETURN(std::string text, DecodePng(png));   // == url
//
// Thread-safe: every function works on its own data.
#pragma once

#include <ZXing/BitMatrix.h>

#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"

namespace youma::printer {

enum class QrEcLevel { kL, kM, kQ, kH };
char QrEcLevelName(QrEcLevel level);
absl::StatusOr<QrEcLevel> ParseQrEcLevel(absl::string_view name);

inline constexpr int kQuietZoneModules = 4;  // ISO/IEC 18004 minimum

class QrSymbol {
 public:
  QrSymbol(ZXing::BitMatrix modules, QrEcLevel level)
      : modules_(std::move(modules)), level_(level) {}
  // Modules per side, without the quiet zone.
  int size() const { return modules_.width(); }
  // QR version 1..40 (size = 17 + 4 * version).
  int version() const { return (size() - 17) / 4; }
  QrEcLevel ec_level() const { return level_; }
  bool dark(int x, int y) const { return modules_.get(x, y); }

 private:
  ZXing::BitMatrix modules_;
  QrEcLevel level_;
};

// The smallest QR symbol holding `text` at `level`. ZXing picks alphanumeric
// mode when every character allows it. INVALID_ARGUMENT when it does not fit.
absl::StatusOr<QrSymbol> EncodeQr(absl::string_view text, QrEcLevel level = QrEcLevel::kM);

// 8-bit grey pixels, `module_px` pixels a module, with the quiet zone.
std::string RenderGray(const QrSymbol& qr, int module_px, int* side_px);
absl::StatusOr<std::string> RenderPng(const QrSymbol& qr, int module_px = 8);
// Scalable; one module is one user unit, the quiet zone included.
std::string RenderSvg(const QrSymbol& qr);

// Reads one QR symbol from 8-bit grey pixels or a PNG file's bytes.
// NOT_FOUND when no QR symbol is readable.
absl::StatusOr<std::string> DecodeGray(const uint8_t* pixels, int width, int height);
absl::StatusOr<std::string> DecodePng(absl::string_view png);

}  // namespace youma::printer
