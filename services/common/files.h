// Files youma reads and writes: master keys, sealed keysets and public
// keysets on disk. Secret files are written 0600 and replaced atomically.
#pragma once

#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "codegen/keyset.h"
#include "codegen/keyset_file.h"

namespace youma::common {

inline constexpr char kMasterKeyEnv[] = "YOUMA_MASTER_KEY";

absl::StatusOr<std::string> ReadFile(const std::string& path);
// Writes through a temporary file and rename(2), so readers never see half a file.
absl::Status WriteFileAtomic(const std::string& path, absl::string_view data, int mode = 0600);

// From `master_key_file` when given, else from $YOUMA_MASTER_KEY.
absl::StatusOr<codegen::MasterKey> LoadMasterKey(const std::string& master_key_file);

absl::StatusOr<codegen::Keyset> LoadKeyset(const std::string& path,
                                           const codegen::MasterKey& master_key);
absl::Status SaveKeyset(const std::string& path, const codegen::Keyset& keyset,
                        const codegen::MasterKey& master_key);

}  // namespace youma::common
