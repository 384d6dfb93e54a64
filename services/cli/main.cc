#include <sodium.h>

#include <cstdio>

#include "services/cli/commands.h"

int main(int argc, char** argv) {
  if (sodium_init() < 0) {
    std::fprintf(stderr, "youma: libsodium failed to initialise\n");
    return 1;
  }
  return youma::cli::Main(argc, argv);
}
