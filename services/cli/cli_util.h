// How every `youma` command reports failure: the status message on stderr and
// exit status 2 for bad input (INVALID_ARGUMENT), 1 for anything else.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <iostream>

#include "absl/status/status.h"

namespace youma::cli {

inline int Fail(const absl::Status& status) {
  std::cerr << "youma: " << status.message() << "\n";
  return absl::IsInvalidArgument(status) ? 2 : 1;
}

// Runs a command's body; a failed status ends the command with its exit status.
inline void Run(const std::function<absl::Status()>& body) {
  if (absl::Status st = body(); !st.ok()) throw CLI::RuntimeError(Fail(st));
}

}  // namespace youma::cli
