#include "services/storage/local_mariadb.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "services/common/status_macros.h"
#include "services/storage/mysql.h"

namespace youma::storage {
namespace {

namespace fs = std::filesystem;

// The last `lines` lines of a log file, for error messages.
std::string Tail(const std::string& path, int lines) {
  std::ifstream in(path);
  std::vector<std::string> all;
  for (std::string line; std::getline(in, line);) all.push_back(line);
  std::string out;
  for (size_t i = all.size() > static_cast<size_t>(lines) ? all.size() - lines : 0; i < all.size();
       ++i) {
    absl::StrAppend(&out, "\n  ", all[i]);
  }
  return out;
}

// fork + exec with stdout/stderr to `log`; the child gets SIGTERM if we die, so
// a killed youma never leaves a stray mariadbd behind.
// `tmpdir` becomes the child's TMPDIR: instances started side by side must not
// share temporary table files.
absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& argv, const std::string& log,
                            const std::string& tmpdir) {
  std::error_code ec;
  std::filesystem::create_directories(tmpdir, ec);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  // The child's environment is built here: between fork and exec only
  // async-signal-safe calls are allowed.
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "TMPDIR=", 7) != 0) env_strings.emplace_back(*e);
  }
  env_strings.push_back("TMPDIR=" + tmpdir);
  std::vector<char*> env;
  for (auto& e : env_strings) env.push_back(e.data());
  env.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(127);
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::close(fd);
    }
    ::setsid();
    ::execvpe(args[0], args.data(), env.data());
    ::_exit(127);
  }
  return pid;
}

absl::Status RunToCompletion(const std::vector<std::string>& argv, const std::string& log,
                             const std::string& tmpdir, const std::string& package = "mariadb-server") {
  YOUMA_ASSIGN_OR_RETURN(pid_t pid, Spawn(argv, log, tmpdir));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::UnavailableError(absl::StrCat(argv[0], " failed (is ", package, " installed? ",
                                               "scripts/install-deps.sh installs it):",
                                               Tail(log, 15)));
  }
  return absl::OkStatus();
}

bool Exited(pid_t pid, absl::Duration wait) {
  const absl::Time deadline = absl::Now() + wait;
  do {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid || (r < 0 && errno == ECHILD)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  } while (absl::Now() < deadline);
  return false;
}

}  // namespace

std::string LocalMariaDb::SocketPath(const std::string& data_dir) {
  return fs::absolute(data_dir).lexically_normal().string() + "/mysqld.sock";
}

bool LocalMariaDb::Answering(const std::string& data_dir) {
  MySqlConfig config;
  config.socket = SocketPath(data_dir);
  config.user = "root";
  std::error_code ec;
  return fs::exists(config.socket, ec) && Connect(config, /*with_schema=*/false).ok();
}

absl::Status LocalMariaDb::BackUp(const std::string& data_dir, const std::string& target, const std::string& log) {
  const std::string dir = fs::absolute(data_dir).lexically_normal().string();
  std::error_code ec;
  if (fs::exists(target, ec)) {
    return absl::FailedPreconditionError(absl::StrCat(target, " exists: a backup goes into a new folder"));
  }
  if (!Answering(data_dir)) {
    return absl::FailedPreconditionError(absl::StrCat("no database answers on ", SocketPath(data_dir)));
  }
  // --no-defaults first: the host's my.cnf describes another server.
  YOUMA_RETURN_IF_ERROR(RunToCompletion({"mariabackup", "--no-defaults", "--backup", "--target-dir=" + target,
                                         "--datadir=" + dir + "/data", "--socket=" + SocketPath(data_dir),
                                         "--user=root"},
                                        log, dir + "/tmp", "mariadb-backup"));
  // Applies the redo log copied alongside: the copy becomes a data
  // directory as of the backup's end, ready to start as it is.
  return RunToCompletion({"mariabackup", "--no-defaults", "--prepare", "--target-dir=" + target}, log, dir + "/tmp",
                         "mariadb-backup");
}

absl::Status LocalMariaDb::RestoreInto(const std::string& backup, const std::string& data_dir,
                                       const std::string& log) {
  const std::string dir = fs::absolute(data_dir).lexically_normal().string();
  std::error_code ec;
  if (fs::exists(dir + "/data", ec)) {
    return absl::FailedPreconditionError(absl::StrCat(dir, "/data holds a database already"));
  }
  fs::create_directories(dir, ec);
  if (ec) return absl::PermissionDeniedError(absl::StrCat("cannot create ", dir, ": ", ec.message()));
  // Into a folder beside the final one, renamed when whole: an interrupted
  // restore leaves no half database where a server would start on it.
  const std::string staging = dir + "/data.restoring";
  fs::remove_all(staging, ec);
  absl::Status st = RunToCompletion({"mariabackup", "--no-defaults", "--copy-back",
                                     "--target-dir=" + fs::absolute(backup).lexically_normal().string(),
                                     "--datadir=" + staging},
                                    log, dir + "/tmp", "mariadb-backup");
  if (st.ok()) {
    fs::rename(staging, dir + "/data", ec);
    if (ec) st = absl::InternalError(absl::StrCat("cannot move ", staging, " into place: ", ec.message()));
  }
  if (!st.ok()) fs::remove_all(staging, ec);
  return st;
}

absl::StatusOr<std::unique_ptr<LocalMariaDb>> LocalMariaDb::Start(LocalMariaDbOptions options) {
  if (options.data_dir.empty()) return absl::InvalidArgumentError("no data directory");
  std::error_code ec;
  fs::create_directories(options.data_dir, ec);
  if (ec) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create ", options.data_dir, ": ", ec.message()));
  }
  options.data_dir = fs::absolute(options.data_dir).lexically_normal().string();
  std::unique_ptr<LocalMariaDb> db(new LocalMariaDb(std::move(options)));
  db->socket_ = SocketPath(db->options_.data_dir);
  if (db->socket_.size() >= 100) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the data directory path is too long for a unix socket (", db->socket_, "); use a shorter "
        "--data-dir"));
  }
  db->config_.socket = db->socket_;
  db->config_.user = "root";
  db->config_.database = db->options_.database;
  const std::string datadir = db->options_.data_dir + "/data";
  if (!fs::exists(datadir + "/mysql")) {
    std::vector<std::string> argv = {"mariadb-install-db", "--no-defaults",
                                     "--datadir=" + datadir,
                                     "--auth-root-authentication-method=normal", "--skip-test-db"};
    if (::geteuid() == 0) argv.push_back("--user=root");
    YOUMA_RETURN_IF_ERROR(RunToCompletion(argv, db->options_.data_dir + "/install.log",
                                          db->options_.data_dir + "/tmp"));
  }
  YOUMA_RETURN_IF_ERROR(db->Launch());
  return db;
}

absl::Status LocalMariaDb::Launch() {
  const std::string log = options_.data_dir + "/mariadb.err";
  std::vector<std::string> argv = {
      "mariadbd",
      "--no-defaults",
      "--datadir=" + options_.data_dir + "/data",
      "--socket=" + socket_,
      "--pid-file=" + options_.data_dir + "/mariadbd.pid",
      "--skip-networking",
      "--log-error=" + log,
      "--innodb-buffer-pool-size=" + options_.buffer_pool,
      "--innodb-flush-log-at-trx-commit=" + std::to_string(options_.flush_log_at_trx_commit),
      "--character-set-server=utf8mb4",
      "--collation-server=utf8mb4_bin",
      "--max-connections=500",
      "--skip-name-resolve",
      "--tmpdir=" + options_.data_dir + "/tmp",
  };
  if (::geteuid() == 0) argv.push_back("--user=root");
  if (options_.tcp_port != 0) {
    std::erase(argv, "--skip-networking");
    argv.push_back("--port=" + std::to_string(options_.tcp_port));
    argv.push_back("--bind-address=127.0.0.1");
  }
  argv.insert(argv.end(), options_.server_args.begin(), options_.server_args.end());
  YOUMA_ASSIGN_OR_RETURN(pid_, Spawn(argv, log, options_.data_dir + "/tmp"));
  const absl::Time deadline = absl::Now() + absl::Seconds(options_.start_timeout_seconds);
  absl::Status last;
  while (absl::Now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return absl::UnavailableError(absl::StrCat("mariadbd exited at start:", Tail(log, 20)));
    }
    absl::StatusOr<std::unique_ptr<sql::Connection>> c = Connect(config_, /*with_schema=*/false);
    if (c.ok()) {
      try {
        Execute(**c, "CREATE DATABASE IF NOT EXISTS `" + options_.database +
                         "` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin");
      } catch (const sql::SQLException& e) {
        return StatusFromSqlException(e);
      }
      return absl::OkStatus();
    }
    last = c.status();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  Kill();
  return absl::UnavailableError(absl::StrCat("mariadbd did not answer within ",
                                             options_.start_timeout_seconds, " s (", last.message(),
                                             "):", Tail(log, 20)));
}

void LocalMariaDb::Stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  if (!Exited(pid_, absl::Seconds(30))) {
    ::kill(pid_, SIGKILL);
    Exited(pid_, absl::Seconds(5));
  }
  pid_ = -1;
}

void LocalMariaDb::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  Exited(pid_, absl::Seconds(10));
  pid_ = -1;
}

absl::Status LocalMariaDb::Restart() {
  Stop();
  return Launch();
}

LocalMariaDb::~LocalMariaDb() { Stop(); }

}  // namespace youma::storage
