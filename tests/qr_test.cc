// QR symbols: size budgets of the design, and images that read back exactly.
#include "codegen/code_format.h"
#include "printer-export/qr.h"
#include "tests/test_util.h"

namespace youma::printer {
namespace {

using codegen::CodeMinter;
using codegen::Scheme;

std::string Url(Scheme scheme, uint64_t id, std::string prefix) {
  const codegen::Keyset ks = testing::VectorKeyset();
  ASSIGN_OR_FAIL(CodeMinter m, CodeMinter::Create(ks, scheme,
                                                  {.prefix = prefix, .gtin = "06901234567892"}));
  ASSIGN_OR_FAIL(std::string url, m.Url(id));
  return url;
}

TEST_CASE("a compact URL with a 22-character prefix fits QR version 3 at level M") {
  const std::string prefix = "HTTPS://YM.EXAMPLE.CN/";
  REQUIRE(prefix.size() == 22);
  for (uint64_t id : {uint64_t{1}, codegen::kMaxCodeId}) {
    const std::string url = Url(Scheme::kCompact, id, prefix);
    ASSIGN_OR_FAIL(QrSymbol qr, EncodeQr(url, QrEcLevel::kM));
    CHECK(qr.version() <= 3);
    CHECK(qr.ec_level() == QrEcLevel::kM);
  }
}

TEST_CASE("a signed URL with a 22-character prefix fits QR version 7 at level M") {
  const std::string url = Url(Scheme::kSigned, codegen::kMaxCodeId, "HTTPS://YM.EXAMPLE.CN/");
  ASSIGN_OR_FAIL(QrSymbol qr, EncodeQr(url, QrEcLevel::kM));
  CHECK(qr.version() <= 7);
}

TEST_CASE("PNG images decode with ZXing's reader to exactly the encoded text") {
  for (Scheme scheme : codegen::kAllSchemes) {
    const std::string url = Url(scheme, 123456, scheme == Scheme::kGs1 ? "https://id.example.cn"
                                                                       : "HTTPS://YM.EXAMPLE.CN/");
    for (QrEcLevel level : {QrEcLevel::kL, QrEcLevel::kM, QrEcLevel::kH}) {
      ASSIGN_OR_FAIL(QrSymbol qr, EncodeQr(url, level));
      ASSIGN_OR_FAIL(std::string png, RenderPng(qr, 4));
      CHECK(png.substr(1, 3) == "PNG");
      ASSIGN_OR_FAIL(std::string text, DecodePng(png));
      CHECK(text == url);
    }
  }
}

TEST_CASE("the SVG has the quiet zone in its view box") {
  ASSIGN_OR_FAIL(QrSymbol qr, EncodeQr("HTTPS://YM.EXAMPLE.CN/ABC", QrEcLevel::kM));
  const std::string svg = RenderSvg(qr);
  const int side = qr.size() + 2 * kQuietZoneModules;
  CHECK(svg.find("<svg") != std::string::npos);
  CHECK(svg.find("viewBox=\"0 0 " + std::to_string(side) + " " + std::to_string(side) + "\"") !=
        std::string::npos);
}

TEST_CASE("bad QR requests are refused with a reason") {
  CHECK(EncodeQr("").status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(EncodeQr(std::string(5000, 'A')).status().code() == absl::StatusCode::kInvalidArgument);
  ASSIGN_OR_FAIL(QrSymbol qr, EncodeQr("X"));
  CHECK(RenderPng(qr, 0).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(ParseQrEcLevel("m").ok());
  CHECK_FALSE(ParseQrEcLevel("Z").ok());
  CHECK(DecodePng("not a png").status().code() == absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace youma::printer
