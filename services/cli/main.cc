#include <sodium.h>

#include <cstdio>

#include "absl/synchronization/mutex.h"
#include "services/cli/commands.h"

int main(int argc, char** argv) {
  // Debian builds Abseil without NDEBUG, which leaves absl::Mutex's deadlock
  // detector on: it tracks every mutex gRPC makes and forgets it again, on
  // every call. It is a debugging aid, not for a server.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  if (sodium_init() < 0) {
    std::fprintf(stderr, "youma: libsodium failed to initialise\n");
    return 1;
  }
  return youma::cli::Main(argc, argv);
}
