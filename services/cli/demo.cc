// `youma demo`: a guided tour of what a brand does with youma, step by step,
// using the same library calls as the real commands.
#include <filesystem>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "codegen/code_format.h"
#include "codegen/gs1.h"
#include "codegen/keyset.h"
#include "codegen/keyset_file.h"
#include "codegen/set_layout.h"
#include "printer-export/qr.h"
#include "services/cli/commands.h"
#include "services/common/files.h"
#include "services/common/status_macros.h"

namespace youma::cli {
namespace {

using common::LoadKeyset;
using common::LoadMasterKey;
using common::ReadFile;
using common::SaveKeyset;
using common::WriteFileAtomic;

using codegen::CodeMinter;
using codegen::CodeVerifier;
using codegen::Keyset;
using codegen::Scheme;

void Step(int n, absl::string_view title) {
  std::cout << "\n== " << n << ". " << title << " ==\n";
}

std::string Show(const codegen::Verification& v) {
  if (v.verdict == codegen::Verdict::kGenuine) {
    return absl::StrFormat("GENUINE (%s, code id %d, key 0x%08x)", codegen::SchemeName(v.scheme),
                           v.code_id, v.key_id);
  }
  if (v.verdict == codegen::Verdict::kCounterfeit) return "COUNTERFEIT";
  return absl::StrCat(codegen::VerdictName(v.verdict), ": ", v.problem);
}

absl::Status Demo(const DemoOptions& options) {
  namespace fs = std::filesystem;
  fs::create_directories(options.dir);
  const std::string master_path = (fs::path(options.dir) / "master.key").string();
  const std::string keyset_path = (fs::path(options.dir) / "demo-baijiu.keyset").string();
  const std::string public_path = (fs::path(options.dir) / "demo-baijiu.pub.json").string();
  fs::remove(master_path);
  fs::remove(keyset_path);

  std::cout << "youma demo: a brand gets keys, issues codes, prints them as QR and verifies\n"
               "scans. Files go to "
            << options.dir << "/.\n";

  Step(1, "A master key encrypts every keyset at rest");
  const codegen::MasterKey master = codegen::NewMasterKey();
  YOUMA_RETURN_IF_ERROR(WriteFileAtomic(
      master_path, codegen::MasterKeyText(master, codegen::SecretKeyAccess::Grant())));
  std::cout << "wrote " << master_path << " (32 random bytes, hex, mode 0600).\n"
            << "In production it lives in a Kubernetes Secret, passed as --master-key-file or "
               "YOUMA_MASTER_KEY.\n";

  Step(2, "The brand's keyset: one primary key per code scheme");
  YOUMA_ASSIGN_OR_RETURN(Keyset ks, Keyset::Create({.brand = "Demo Baijiu 示例白酒"}, absl::Now()));
  YOUMA_RETURN_IF_ERROR(SaveKeyset(keyset_path, ks, master));
  std::cout << "wrote " << keyset_path << ", sealed with libsodium secretbox:\n";
  for (const auto& k : ks.List()) {
    std::cout << absl::StrFormat("  key 0x%08x  %-7s  %s%s\n", k.key_id,
                                 codegen::SchemeName(k.scheme), codegen::KeyStatusName(k.status),
                                 k.primary ? "  primary" : "");
  }

  Step(3, "Codes: each is a URL whose token carries a code id and a tag or signature");
  YOUMA_ASSIGN_OR_RETURN(CodeMinter compact, CodeMinter::Create(ks, Scheme::kCompact));
  YOUMA_ASSIGN_OR_RETURN(CodeMinter signed_, CodeMinter::Create(ks, Scheme::kSigned));
  std::string gtin = "0690123456789";
  gtin.push_back(codegen::GtinCheckDigit(gtin));
  YOUMA_ASSIGN_OR_RETURN(CodeMinter gs1, CodeMinter::Create(ks, Scheme::kGs1, {.prefix = std::nullopt, .gtin = gtin}));
  // One pre-associated set (套标): a case and its 6 bottles, ids computed, never stored.
  const codegen::SetLayout set(/*first_code_id=*/1001, /*bottles_per_case=*/6);
  YOUMA_ASSIGN_OR_RETURN(std::string case_url, signed_.Url(set.CaseId(0)));
  std::vector<std::string> bottle_urls;
  for (uint32_t b = 0; b < set.bottles_per_case(); ++b) {
    YOUMA_ASSIGN_OR_RETURN(std::string url, compact.Url(set.BottleId(0, b)));
    bottle_urls.push_back(url);
  }
  YOUMA_ASSIGN_OR_RETURN(std::string gs1_url, gs1.Url(2001));
  std::cout << "compact bottle code (keyed BLAKE2b, 64-bit tag, 28 base32 characters):\n  "
            << bottle_urls[0] << "\n"
            << "signed case code (Ed25519, verifiable offline with public keys):\n  " << case_url
            << "\n"
            << "gs1 code (GS1 Digital Link for POS scanners; GTIN " << gtin << "):\n  " << gs1_url
            << "\n"
            << "a set of 1 case + 6 bottles: case id " << set.CaseId(0) << ", bottles "
            << set.BottleId(0, 0) << ".." << set.BottleId(0, 5) << "; bottle "
            << set.BottleId(0, 3) << " belongs to case ";
  YOUMA_ASSIGN_OR_RETURN(uint64_t case_of, set.CaseOf(set.BottleId(0, 3), 1));
  std::cout << case_of << " (computed, not stored).\n";

  Step(4, "QR images: small, alphanumeric-mode symbols; read back with ZXing");
  struct Image {
    std::string name;
    std::string text;
  };
  for (const Image& img : {Image{"bottle.png", bottle_urls[0]}, Image{"case.png", case_url},
                           Image{"gs1.png", gs1_url}}) {
    YOUMA_ASSIGN_OR_RETURN(printer::QrSymbol qr, printer::EncodeQr(img.text));
    YOUMA_ASSIGN_OR_RETURN(std::string png, printer::RenderPng(qr, 8));
    const std::string path = (fs::path(options.dir) / img.name).string();
    YOUMA_RETURN_IF_ERROR(WriteFileAtomic(path, png, 0644));
    YOUMA_ASSIGN_OR_RETURN(std::string read_back, printer::DecodePng(png));
    std::cout << absl::StrFormat("  %-28s QR version %d-M (%dx%d modules), read back %s\n", path,
                                 qr.version(), qr.size(), qr.size(),
                                 read_back == img.text ? "exactly" : "WRONG");
  }
  YOUMA_ASSIGN_OR_RETURN(printer::QrSymbol svg_qr, printer::EncodeQr(bottle_urls[0]));
  const std::string svg_path = (fs::path(options.dir) / "bottle.svg").string();
  YOUMA_RETURN_IF_ERROR(WriteFileAtomic(svg_path, printer::RenderSvg(svg_qr), 0644));
  std::cout << "  " << svg_path << " (vector, for the print house)\n";

  Step(5, "Verification: arithmetic only, no database");
  const CodeVerifier verifier = CodeVerifier::ForKeyset(ks);
  std::string tampered = bottle_urls[0];
  char& c = tampered[tampered.size() - 5];
  c = c == 'A' ? 'B' : 'A';
  std::string lower = bottle_urls[0];
  for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  std::cout << "  the bottle code         -> " << Show(verifier.Verify(bottle_urls[0])) << "\n"
            << "  typed in lower case     -> " << Show(verifier.Verify(lower)) << "\n"
            << "  the case code           -> " << Show(verifier.Verify(case_url)) << "\n"
            << "  the gs1 code            -> " << Show(verifier.Verify(gs1_url)) << "\n"
            << "  one character changed   -> " << Show(verifier.Verify(tampered)) << "\n"
            << "  cut short               -> "
            << Show(verifier.Verify(absl::string_view(bottle_urls[0]).substr(0, 40))) << "\n";

  Step(6, "Offline dealers verify case codes with public keys only");
  YOUMA_RETURN_IF_ERROR(
      WriteFileAtomic(public_path, codegen::PublicKeysetToJson(ks.ToPublicProto()), 0644));
  YOUMA_ASSIGN_OR_RETURN(CodeVerifier offline, CodeVerifier::ForPublicKeyset(ks.ToPublicProto()));
  std::cout << "wrote " << public_path << "\n"
            << "  the case code           -> " << Show(offline.Verify(case_url)) << "\n"
            << "  a bottle code           -> " << Show(offline.Verify(bottle_urls[0])) << "\n";

  Step(7, "Key rotation: old codes stay valid until their key is destroyed");
  const uint32_t old_key = compact.key_id();
  YOUMA_ASSIGN_OR_RETURN(uint32_t new_key, ks.Rotate(Scheme::kCompact, absl::Now()));
  YOUMA_ASSIGN_OR_RETURN(CodeMinter rotated, CodeMinter::Create(ks, Scheme::kCompact));
  YOUMA_ASSIGN_OR_RETURN(std::string new_url, rotated.Url(5001));
  std::cout << absl::StrFormat("rotated: new compact primary 0x%08x (old 0x%08x)\n", new_key,
                               old_key)
            << "  new code " << new_url << " -> "
            << Show(CodeVerifier::ForKeyset(ks).Verify(new_url)) << "\n"
            << "  old bottle code         -> "
            << Show(CodeVerifier::ForKeyset(ks).Verify(bottle_urls[0])) << "\n";
  YOUMA_RETURN_IF_ERROR(ks.Destroy(old_key));
  YOUMA_RETURN_IF_ERROR(SaveKeyset(keyset_path, ks, master));
  std::cout << absl::StrFormat("destroyed 0x%08x (say, its print house leaked it):\n", old_key)
            << "  old bottle code         -> "
            << Show(CodeVerifier::ForKeyset(ks).Verify(bottle_urls[0])) << "\n";

  Step(8, "A wrong master key opens nothing");
  const absl::StatusOr<Keyset> wrong = LoadKeyset(keyset_path, codegen::NewMasterKey());
  std::cout << "  " << (wrong.ok() ? "UNEXPECTEDLY OPENED" : wrong.status().message()) << "\n";

  std::cout << "\nTry it yourself:\n"
            << "  youma keys list --keyset " << keyset_path << " --master-key-file " << master_path
            << "\n"
            << "  youma verify --keyset " << keyset_path << " --master-key-file " << master_path
            << " '" << case_url << "'\n";
  return absl::OkStatus();
}

}  // namespace

int RunDemo(const DemoOptions& options) {
  if (absl::Status st = Demo(options); !st.ok()) {
    std::cerr << "youma demo: " << st.message() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace youma::cli
