// Backups of a youma data directory on the embedded default database, and
// their restore into a new data directory.
//
//   YOUMA_ASSIGN_OR_RETURN(BackupSummary b, BackUp({.data_dir = "var", .out = "backups/2026-12-07",
//                                                   .master_key = key}));
//   YOUMA_ASSIGN_OR_RETURN(RestoreSummary r, Restore({.from = "backups/2026-12-07", .data_dir = "var2",
//                                                     .master_key = key}));
//
// A backup folder holds:
//   mariadb/        the database, a hot and consistent copy (mariabackup,
//                   prepared: a MariaDB data directory as of the copy's end)
//   keysets/        the brands' keysets, sealed under the master key as they are
//   manifest.json   what is in it: schema version, keyset files and their
//                   BLAKE2b digests, a check value of the master key, counts
//   master.key, admin.token   only when asked for (with_secrets)
// The master key is left out by default: a backup holding it opens every
// brand's keys, so keep it apart from the backups (a password manager, a
// Kubernetes secret), and give it to Restore.
//
// `youma serve` may run meanwhile (the copy is hot: scans go on); when it does
// not, BackUp starts the data directory's MariaDB for the copy and stops it.
// With an external database (--mysql), use that database's own backups and
// copy the keyset folder.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "codegen/keyset_file.h"

namespace youma::app {

// What a database holds, for the people checking a backup or a restore.
struct DataCounts {
  int64_t batches = 0, codes = 0, scans = 0, awards = 0;
  bool operator==(const DataCounts&) const = default;
};

struct BackupOptions {
  std::string data_dir;    // youma serve's --data-dir
  std::string keyset_dir;  // default <data_dir>/keysets
  std::string out;         // a folder that does not exist yet
  codegen::MasterKey master_key;  // the keysets' (checked: a backup whose keys cannot be opened is no backup)
  bool with_secrets = false;      // also <data_dir>/master.key and admin.token
  std::function<void(const std::string&)> progress = nullptr;  // a line per step
};

struct BackupSummary {
  int schema_version = 0;
  std::vector<std::string> brands;  // whose keysets are in it
  DataCounts counts;                // as the copy started
  bool hot = false;                 // a running server was copied
  int64_t bytes = 0;
};

// Writes the backup into options.out, through a folder beside it renamed when
// whole. FAILED_PRECONDITION for an existing `out` or a data directory with no
// database; PERMISSION_DENIED when a keyset does not open with the master
// key; UNAVAILABLE when mariabackup is missing or fails.
absl::StatusOr<BackupSummary> BackUp(const BackupOptions& options);

struct RestoreOptions {
  std::string from;        // a folder BackUp wrote
  std::string data_dir;    // a new data directory (or one with no database and no keysets)
  std::string keyset_dir;  // default <data_dir>/keysets
  // The master key the backup's keysets are sealed with; unset: the backup's
  // own master.key (with_secrets).
  std::optional<codegen::MasterKey> master_key;
  std::function<void(const std::string&)> progress = nullptr;
};

struct RestoreSummary {
  int schema_version = 0;
  std::vector<std::string> brands;
  DataCounts counts;  // read from the restored database, started for the check
  bool secrets = false;
};

// Checks the backup first (manifest, keyset digests, the master key opens
// every keyset, a schema this youma knows), then copies the database and the
// keysets in. Nothing is written when a check fails. INVALID_ARGUMENT for a
// folder that is not a whole backup or a wrong master key (what to give is
// said); FAILED_PRECONDITION when the data directory already holds a database
// or keysets, or the backup comes from a newer youma.
absl::StatusOr<RestoreSummary> Restore(const RestoreOptions& options);

}  // namespace youma::app
