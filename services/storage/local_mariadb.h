// The embedded default database: a private MariaDB (mariadbd from Debian's
// packages) under a data directory, on a unix socket, without TCP.
//
//   YOUMA_ASSIGN_OR_RETURN(auto db, LocalMariaDb::Start({.data_dir = "./var/mariadb"}));
//   MySqlConfig config = db->config();   // socket, user root, database "youma"
//   ...
//   db.reset();                          // stops mariadbd cleanly (SIGTERM, wait)
//
// The first start initialises the directory (mariadb-install-db). `youma serve`
// uses this when no --mysql is given; the tests start their own the same way.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "services/storage/mysql_config.h"

namespace youma::storage {

struct LocalMariaDbOptions {
  std::string data_dir;
  std::string database = "youma";
  // InnoDB buffer pool; small by default so tests and demos stay light.
  std::string buffer_pool = "128M";
  // Durability: 1 flushes the redo log at every commit (production); tests may use 2.
  int flush_log_at_trx_commit = 1;
  int start_timeout_seconds = 60;
  // Also listen on 127.0.0.1 at this TCP port (0: the unix socket only), and
  // further mariadbd options (TLS files, say): for tests of remote access.
  int tcp_port = 0;
  std::vector<std::string> server_args = {};
};

class LocalMariaDb {
 public:
  // Initialises `data_dir` if needed, starts mariadbd and waits until it answers.
  // UNAVAILABLE when mariadbd is missing or does not come up (its log is quoted).
  static absl::StatusOr<std::unique_ptr<LocalMariaDb>> Start(LocalMariaDbOptions options);

  // The unix socket a server on `data_dir` answers on.
  static std::string SocketPath(const std::string& data_dir);
  // Whether a server (this process's or another's, `youma serve`'s say)
  // answers on `data_dir`'s socket.
  static bool Answering(const std::string& data_dir);
  // A hot, consistent copy of the server answering on `data_dir` into
  // `target` (a new folder), with mariabackup from Debian's mariadb-backup:
  // InnoDB tables are copied while scans go on, and the copy is prepared, so
  // it is a data directory as of the backup's end. mariabackup's output goes
  // to `log`. FAILED_PRECONDITION when `target` exists or no server answers;
  // UNAVAILABLE when mariabackup is missing or fails (its log is quoted).
  static absl::Status BackUp(const std::string& data_dir, const std::string& target, const std::string& log);
  // Copies a backup that BackUp made into `data_dir`, which must hold no
  // database yet (FAILED_PRECONDITION); a later Start runs on it. Nothing is
  // left in place when the copy fails.
  static absl::Status RestoreInto(const std::string& backup, const std::string& data_dir, const std::string& log);
  ~LocalMariaDb();

  const MySqlConfig& config() const { return config_; }
  pid_t pid() const { return pid_; }
  const std::string& socket_path() const { return socket_; }

  // Stops the server (SIGTERM, then SIGKILL after 30 s). Idempotent.
  void Stop();
  // Kills it at once (SIGKILL), as a crash would; for failure tests.
  void Kill();
  // Starts it again on the same data directory.
  absl::Status Restart();

 private:
  explicit LocalMariaDb(LocalMariaDbOptions options) : options_(std::move(options)) {}
  absl::Status Launch();

  LocalMariaDbOptions options_;
  MySqlConfig config_;
  std::string socket_;
  pid_t pid_ = -1;
};

}  // namespace youma::storage
