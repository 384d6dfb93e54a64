#include "services/storage/daily_jobs.h"

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <random>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "services/common/status_macros.h"

namespace youma::storage {
namespace {

absl::Status CheckDay(const std::string& day) {
  bool ok = day.size() == 10 && day[4] == '-' && day[7] == '-';
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
    ok = ok && absl::ascii_isdigit(static_cast<unsigned char>(day[i]));
  }
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("a daily job's day is YYYY-MM-DD, not '", day, "'"));
}

}  // namespace

DailyJobs::DailyJobs(ConnectionPool* pool, absl::Duration lease) : pool_(pool), lease_(lease) {
  char host[256] = {};
  if (::gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  std::random_device random;
  owner_ = absl::StrCat(host, ":", ::getpid(), ":", absl::Hex(static_cast<uint32_t>(random()), absl::kZeroPad8));
}

absl::StatusOr<DayClaim> DailyJobs::RunOnce(const std::string& job, const std::string& day,
                                            const std::function<absl::Status()>& work) {
  YOUMA_RETURN_IF_ERROR(CheckDay(day));
  auto seen_done = [&] {
    std::lock_guard<std::mutex> lock(mu_);
    std::string& last = done_[job];
    last = std::max(last, day);
  };
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = done_.find(job); it != done_.end() && it->second >= day) return DayClaim::kDone;
  }
  absl::StatusOr<DayClaim> claim = Claim(job, day);
  if (claim.ok() && *claim == DayClaim::kDone) seen_done();
  if (!claim.ok() || *claim != DayClaim::kMine) return claim;
  if (absl::Status st = work(); !st.ok()) {
    Release(job).IgnoreError();  // else its lease runs out
    return st;
  }
  YOUMA_RETURN_IF_ERROR(Done(job, day));
  seen_done();
  return DayClaim::kMine;
}

absl::StatusOr<DayClaim> DailyJobs::Claim(const std::string& job, const std::string& day) {
  YOUMA_RETURN_IF_ERROR(CheckDay(day));
  return pool_->InTransaction([&](sql::Connection& c) -> absl::StatusOr<DayClaim> {
    auto add = Prepare(c, "INSERT IGNORE INTO daily_jobs (job) VALUES (?)");
    add->setString(1, job);
    add->executeUpdate();
    auto read = Prepare(c, "SELECT done_day, claimed_by, claimed_until > UTC_TIMESTAMP(6) FROM daily_jobs "
                           "WHERE job = ? FOR UPDATE");
    read->setString(1, job);
    std::unique_ptr<sql::ResultSet> rs(read->executeQuery());
    if (!rs->next()) return absl::InternalError(absl::StrCat("the daily job ", job, " has no row"));
    if (std::string(rs->getString(1)) >= day) return DayClaim::kDone;
    // A NULL lease (none) reads as false.
    if (rs->getBoolean(3) && rs->getString(2) != owner_) return DayClaim::kTaken;
    auto take = Prepare(c, "UPDATE daily_jobs SET claimed_by = ?, "
                           "claimed_until = UTC_TIMESTAMP(6) + INTERVAL ? MICROSECOND WHERE job = ?");
    take->setString(1, owner_);
    take->setInt64(2, absl::ToInt64Microseconds(lease_));
    take->setString(3, job);
    take->executeUpdate();
    return DayClaim::kMine;
  });
}

absl::Status DailyJobs::Done(const std::string& job, const std::string& day) {
  YOUMA_RETURN_IF_ERROR(CheckDay(day));
  return pool_->WithConnection([&](sql::Connection& c) -> absl::Status {
    // The day counts as done whoever holds the claim now (a lease that ran
    // out under this server); the claim ends only if it is this server's.
    // MariaDB assigns left to right: claimed_until is set before claimed_by.
    auto done = Prepare(c, "UPDATE daily_jobs SET done_day = GREATEST(done_day, ?), "
                           "claimed_until = IF(claimed_by = ?, NULL, claimed_until), "
                           "claimed_by = IF(claimed_by = ?, '', claimed_by) WHERE job = ?");
    done->setString(1, day);
    done->setString(2, owner_);
    done->setString(3, owner_);
    done->setString(4, job);
    done->executeUpdate();
    return absl::OkStatus();
  });
}

absl::Status DailyJobs::Release(const std::string& job) {
  return pool_->WithConnection([&](sql::Connection& c) -> absl::Status {
    auto release = Prepare(c, "UPDATE daily_jobs SET claimed_until = NULL, claimed_by = '' "
                              "WHERE job = ? AND claimed_by = ?");
    release->setString(1, job);
    release->setString(2, owner_);
    release->executeUpdate();
    return absl::OkStatus();
  });
}

}  // namespace youma::storage
