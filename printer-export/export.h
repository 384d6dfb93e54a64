// Printer-ready files from a stream of codes (IssuerService.StreamCodes):
//
//   csv    header + one row per code; SET batches one row per set (case, bottles)
//   txt    one URL per line; SET batches the case and its bottles on one line
//   jsonl  one JSON object per code
//   png    one QR image per code in a folder, rendered on all cores
//   svg    the same as vector images
//   pack   the csv, encrypted to the print house's X25519 public key
//
// Memory is O(chunk): codes are written as they arrive.
//
//   YOUMA_ASSIGN_OR_RETURN(auto w, OpenExport({.format = "csv", .path = "b.csv", .set_size = 6}));
//   while (reader->Read(&chunk)) YOUMA_RETURN_IF_ERROR(w->Write(chunk));
//   YOUMA_ASSIGN_OR_RETURN(ExportSummary s, w->Finish());   // s.sha256 for FinishExport
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "youma/v1/issuer.pb.h"

namespace youma::printer {

struct ExportOptions {
  std::string format;  // csv, txt, jsonl, png, svg, pack
  std::string path;    // a file, or a folder for png and svg
  uint32_t set_size = 0;  // SET batches: bottles per case (groups rows)
  std::string recipient_public_key_hex;  // pack: the print house's X25519 key
  int module_px = 8;   // png
  int threads = 0;     // png, svg: 0 = all cores
};

struct ExportSummary {
  uint64_t codes = 0;
  std::string sha256;  // hex, of the file (or of the images, in code order)
  uint64_t bytes = 0;
};

class ExportWriter {
 public:
  virtual ~ExportWriter() = default;
  virtual absl::Status Write(const youma::v1::CodeChunk& chunk) = 0;
  virtual absl::StatusOr<ExportSummary> Finish() = 0;
};

absl::StatusOr<std::unique_ptr<ExportWriter>> OpenExport(const ExportOptions& options);

// The print house's key pair for code packs: hex text, the secret file 0600.
struct PrinterKeys {
  std::string public_hex;
  std::string secret_hex;
};
PrinterKeys NewPrinterKeys();

// Decrypts a code pack with the print house's secret key (hex). PERMISSION_DENIED
// for the wrong key or a modified pack.
absl::Status OpenPack(const std::string& pack_path, const std::string& secret_key_hex,
                      const std::string& out_path);

}  // namespace youma::printer
