// Jobs that one server among many does once a day: the sweeps that read
// whole tables (the fraud limits' per-day counters; the personal-data
// sweep's tables with no index by time). The first server to claim a job's
// day does it, under a lease kept in the database (`daily_jobs`, one row per
// job; times by the database's clock, so the servers' clocks do not matter);
// the others skip that day. A server that fails gives its claim back, and one
// that stops before it is done leaves the lease to run out: the next server
// to look after that takes the day over. The jobs are safe to run twice
// (deleting or clearing what is old), so a lease that runs out under a slow
// job costs a second pass, nothing more.
//
//   DailyJobs jobs(&pool);
//   ASSIGN_OR_RETURN(DayClaim ran, jobs.RunOnce("day_counters_prune", "2026-12-06",
//                                                [&] { return Prune(...); }));
//   // kMine: pruned here now; kDone: pruned before; kTaken: another server is at it.
//
// Thread-safe.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/storage/mysql.h"

namespace youma::storage {

enum class DayClaim {
  kMine,   // do the job for this day, then Done (or Release)
  kTaken,  // another server holds a live claim: look again later
  kDone,   // the day (or a later one) is done
};

class DailyJobs {
 public:
  // `lease`: how long a claim holds without Done or Release.
  explicit DailyJobs(ConnectionPool* pool, absl::Duration lease = absl::Hours(2));

  // Claims the day and runs `work` if the claim is this server's: then Done
  // when it succeeds, Release when it fails (its error is returned). Returns
  // the claim: kMine when `work` ran and the day is recorded done. A day this
  // object has seen done is answered kDone without asking the database, so
  // a caller may look every hour.
  absl::StatusOr<DayClaim> RunOnce(const std::string& job, const std::string& day,
                                   const std::function<absl::Status()>& work);

  // The steps RunOnce takes. `day` is written YYYY-MM-DD: days compare as text.
  absl::StatusOr<DayClaim> Claim(const std::string& job, const std::string& day);
  // Records the day done (and every day before it) and ends this server's claim.
  absl::Status Done(const std::string& job, const std::string& day);
  // Ends this server's claim without the day done: the next to look takes it.
  absl::Status Release(const std::string& job);

  // This server's name in `daily_jobs.claimed_by`: host, process and a
  // random part (a restarted container keeps its host name and process id).
  const std::string& owner() const { return owner_; }

 private:
  ConnectionPool* pool_;
  absl::Duration lease_;
  std::string owner_;
  std::mutex mu_;
  std::map<std::string, std::string> done_;  // job -> the last day seen done
};

}  // namespace youma::storage
