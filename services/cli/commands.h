// The `youma` command line: subcommands like git or vault.
//
//   youma keys new-master-key --out master.key
//   youma keys create --keyset brand.keyset --brand "Demo Baijiu" --master-key-file master.key
//   youma codes sample --keyset brand.keyset --scheme compact --count 10 ...
//   youma verify --keyset brand.keyset CODE...
//   youma qr --format png --out code.png CODE
//   youma demo
//
// Exit status: 0 success; 1 a failed operation (or, for verify, a counterfeit);
// 2 a usage error (or, for verify, malformed input).
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "absl/status/statusor.h"
#include "codegen/keyset_file.h"
#include "youma/v1/issuer.pb.h"

namespace youma::cli {

int Main(int argc, char** argv);

struct DemoOptions {
  std::string dir = "youma-demo";
  // The server to use; when nothing answers there, the demo starts one on the
  // embedded default under `data_dir` and stops it at the end.
  std::string server = "127.0.0.1:7443";
  std::string data_dir = "var";
  // The HTTP front (scan pages, console) of the server the demo starts.
  std::string http = "127.0.0.1:8080";
  bool offline_only = false;  // keys, codes, QR and verification only
};
// Walks a newcomer through keys -> codes -> QR images -> verification.
int RunDemo(const DemoOptions& options);

// serve, migrate, tokens, products, dealers, batch, export, printer-keys.
void AddServerCommands(CLI::App& root);
// scan, campaigns, audit.
void AddScanCommands(CLI::App& root);
// `youma stores …`: the store-owner program (StoreService).
void AddStoreCommands(CLI::App& root);
// backup, restore (of a data directory on the embedded default).
void AddBackupCommands(CLI::App& root);

// The master key of a server: --master-key-file, else $YOUMA_MASTER_KEY, else
// (embedded default only) <data_dir>/master.key, made on first use.
absl::StatusOr<codegen::MasterKey> ServerMasterKey(const std::string& master_key_file,
                                                   const std::string& data_dir, bool embedded);

class Client;
struct ExportRequest {
  uint64_t batch_id = 0;
  std::string format;
  std::string out;
  uint64_t first_code_id = 0;
  uint64_t last_code_id = 0;
  std::string recipient_public_key_hex;
  bool progress = true;
};
struct ExportResult {
  youma::v1::ExportRecord record;
  uint64_t codes = 0;
  std::string sha256;
  uint64_t bytes = 0;
};
// BeginExport, StreamCodes into the printer files, FinishExport with their digest.
absl::StatusOr<ExportResult> ExportBatch(Client& client, const ExportRequest& request);

}  // namespace youma::cli
