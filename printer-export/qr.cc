#include "printer-export/qr.h"

#include <ZXing/BitMatrixIO.h>
#include <ZXing/MultiFormatWriter.h>
#include <ZXing/ReadBarcode.h>
#include <png.h>

#include <csetjmp>
#include <stdexcept>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace youma::printer {
namespace {

// ZXing's MultiFormatWriter takes the level as 0-8 (two steps per QR level).
int ZxingEccLevel(QrEcLevel level) {
  switch (level) {
    case QrEcLevel::kL: return 2;
    case QrEcLevel::kM: return 4;
    case QrEcLevel::kQ: return 6;
    case QrEcLevel::kH: return 8;
  }
  return 4;
}

}  // namespace

char QrEcLevelName(QrEcLevel level) {
  switch (level) {
    case QrEcLevel::kL: return 'L';
    case QrEcLevel::kM: return 'M';
    case QrEcLevel::kQ: return 'Q';
    case QrEcLevel::kH: return 'H';
  }
  return '?';
}

absl::StatusOr<QrEcLevel> ParseQrEcLevel(absl::string_view name) {
  const std::string upper = absl::AsciiStrToUpper(name);
  for (QrEcLevel l : {QrEcLevel::kL, QrEcLevel::kM, QrEcLevel::kQ, QrEcLevel::kH}) {
    if (upper.size() == 1 && upper[0] == QrEcLevelName(l)) return l;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown QR error correction level '", name, "': use L, M, Q or H"));
}

absl::StatusOr<QrSymbol> EncodeQr(absl::string_view text, QrEcLevel level) {
  if (text.empty()) return absl::InvalidArgumentError("cannot encode an empty text as QR");
  try {
    ZXing::BitMatrix m = ZXing::MultiFormatWriter(ZXing::BarcodeFormat::QRCode)
                             .setMargin(0)
                             .setEccLevel(ZxingEccLevel(level))
                             .encode(std::string(text), 0, 0);
    return QrSymbol(std::move(m), level);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot encode ", text.size(), " characters as QR: ", e.what()));
  }
}

std::string RenderGray(const QrSymbol& qr, int module_px, int* side_px) {
  const int side = (qr.size() + 2 * kQuietZoneModules) * module_px;
  std::string px(static_cast<size_t>(side) * side, '\xff');
  for (int y = 0; y < qr.size(); ++y) {
    for (int x = 0; x < qr.size(); ++x) {
      if (!qr.dark(x, y)) continue;
      const int x0 = (x + kQuietZoneModules) * module_px;
      const int y0 = (y + kQuietZoneModules) * module_px;
      for (int dy = 0; dy < module_px; ++dy) {
        std::fill_n(px.begin() + static_cast<size_t>(y0 + dy) * side + x0, module_px, '\0');
      }
    }
  }
  *side_px = side;
  return px;
}

absl::StatusOr<std::string> RenderPng(const QrSymbol& qr, int module_px) {
  if (module_px < 1 || module_px > 100) {
    return absl::InvalidArgumentError(
        absl::StrCat("module size ", module_px, " px is outside 1..100"));
  }
  // 1-bit greyscale: what a label printer wants, and an eighth of the pixels to compress.
  const int side = (qr.size() + 2 * kQuietZoneModules) * module_px;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (info == nullptr) {
    png_destroy_write_struct(&png, nullptr);
    return absl::ResourceExhaustedError("libpng: out of memory");
  }
  std::string out;
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return absl::InternalError("libpng failed to write the image");
  }
  png_set_write_fn(
      png, &out,
      [](png_structp p, png_bytep data, png_size_t len) {
        static_cast<std::string*>(png_get_io_ptr(p))->append(reinterpret_cast<char*>(data), len);
      },
      nullptr);
  png_set_IHDR(png, info, static_cast<png_uint_32>(side), static_cast<png_uint_32>(side), 1,
               PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_FILTER_NONE);
  png_write_info(png, info);
  std::vector<png_byte> row((side + 7) / 8);
  for (int y = 0; y < side; ++y) {
    const int my = y / module_px - kQuietZoneModules;
    std::fill(row.begin(), row.end(), 0xFF);  // white
    if (my >= 0 && my < qr.size()) {
      for (int mx = 0; mx < qr.size(); ++mx) {
        if (!qr.dark(mx, my)) continue;
        const int x0 = (mx + kQuietZoneModules) * module_px;
        for (int x = x0; x < x0 + module_px; ++x) row[x / 8] &= static_cast<png_byte>(~(0x80 >> (x % 8)));
      }
    }
    png_write_row(png, row.data());
  }
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return out;
}

std::string RenderSvg(const QrSymbol& qr) {
  const int side = qr.size() + 2 * kQuietZoneModules;
  ZXing::BitMatrix framed(side, side);
  for (int y = 0; y < qr.size(); ++y) {
    for (int x = 0; x < qr.size(); ++x) {
      if (qr.dark(x, y)) framed.set(x + kQuietZoneModules, y + kQuietZoneModules);
    }
  }
  return ZXing::ToSVG(framed);
}

absl::StatusOr<std::string> DecodeGray(const uint8_t* pixels, int width, int height) {
  const ZXing::Result result = ZXing::ReadBarcode(
      {pixels, width, height, ZXing::ImageFormat::Lum},
      ZXing::DecodeHints().setFormats(ZXing::BarcodeFormat::QRCode));
  if (!result.isValid()) return absl::NotFoundError("no readable QR symbol in the image");
  return result.text();
}

absl::StatusOr<std::string> DecodePng(absl::string_view png) {
  png_image image = {};
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&image, png.data(), png.size())) {
    return absl::InvalidArgumentError(absl::StrCat("not a PNG image: ", image.message));
  }
  image.format = PNG_FORMAT_GRAY;
  std::string px(PNG_IMAGE_SIZE(image), '\0');
  if (!png_image_finish_read(&image, nullptr, px.data(), 0, nullptr)) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read PNG: ", image.message));
  }
  return DecodeGray(reinterpret_cast<const uint8_t*>(px.data()), static_cast<int>(image.width),
                    static_cast<int>(image.height));
}

}  // namespace youma::printer
