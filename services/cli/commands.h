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

namespace youma::cli {

int Main(int argc, char** argv);

struct DemoOptions {
  std::string dir = "youma-demo";
};
// Walks a newcomer through keys -> codes -> QR images -> verification.
int RunDemo(const DemoOptions& options);

}  // namespace youma::cli
