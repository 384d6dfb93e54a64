// A command's settings from a TOML file, under its command-line flags
// (DESIGN.md, "Operations": config from a file with flag overrides).
//
//   # youma.toml: the long flag names of `youma serve`, without the dashes
//   listen = "0.0.0.0:7443"
//   scan-writers = 4
//   trust-forwarded-for = true
//
//   youma serve --config youma.toml --listen 127.0.0.1:7443   # the flag wins
//
// Settings go at the top level (no sections). A key that names no setting of
// the command, or a value its flag would refuse, is an error that names the
// file and the key: a typo must not leave a server on a default silently.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "absl/status/status.h"

namespace youma::cli {

// Sets each of `command`'s options that the command line left unset from the
// file at `path`, running the option's checks and callbacks as a flag would.
// INVALID_ARGUMENT, naming the file and the key, for an unknown key, a
// section, a refused value, or a file that is missing or cannot be read.
absl::Status ApplyConfigFile(CLI::App& command, const std::string& path);

// The command's settings as a config file: every configurable option with its
// current value (or default) and its description as a comment.
std::string ConfigFileText(const CLI::App& command);

}  // namespace youma::cli
