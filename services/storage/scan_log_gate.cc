#include "services/storage/scan_log_gate.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace youma::storage {

absl::Status PassScanLogGate(ConnectionPool& pool, absl::Duration wait) {
  // MariaDB waits whole seconds (WAIT n); at least one.
  const int64_t seconds = std::max<int64_t>(1, absl::ToInt64Seconds(absl::Ceil(wait, absl::Seconds(1))));
  absl::Status st = pool.InTransaction([&](sql::Connection& c) -> absl::Status {
    std::unique_ptr<sql::Statement> s(c.createStatement());
    std::unique_ptr<sql::ResultSet> rs(
        s->executeQuery(absl::StrCat("SELECT id FROM scan_log_gate WHERE id = 1 FOR UPDATE WAIT ", seconds)));
    if (!rs->next()) {
      return absl::FailedPreconditionError("the scan_log_gate row is missing: run `youma migrate`");
    }
    return absl::OkStatus();
  });
  if (absl::IsAborted(st)) {
    return absl::UnavailableError(absl::StrCat(
        "the scan log cannot be read yet: a scan group has been committing for over ", seconds,
        " s (the database is slow or stalled; see youma_scan_slow_commits_total); retry in a moment"));
  }
  return st;
}

}  // namespace youma::storage
