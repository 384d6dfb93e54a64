// The scan pipeline (DESIGN.md, "Scan pipeline"):
//
//   1. parse and verify in memory: malformed -> INVALID_ARGUMENT; forged ->
//      COUNTERFEIT, answered at once and only counted (per brand, region, hour);
//   2. find the batch by code id (in-memory index);
//   3. record the scan and the code's history durably, and
//   4. apply the rules (rewards, diversion) in the same transaction;
//   5. answer, after the scan is durable.
//
// Concurrent scans are grouped into few transactions (group commit) by a
// small pool of writer threads: while one group commits, the next gathers.
// A client scan id is recorded with its answer: a retry gets the first answer
// and is never counted twice.
//
//   ScanPipeline pipeline(deps, {});
//   pipeline.Submit("moutai", request, [](absl::StatusOr<ScanAnswer> a) { ... });
//   pipeline.Submit("moutai", *request, answer, [](absl::Status st) { ... });  // in place
//
// Thread-safe; callbacks run on writer threads (or the caller's, for forged codes).
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "services/common/event_log.h"
#include "services/common/keyset_registry.h"
#include "services/issuer/batch_index.h"
#include "services/rules/rules_engine.h"
#include "services/storage/mysql.h"
#include "youma/v1/scan.pb.h"

namespace youma::scan {

struct ScanOptions {
  // Two writers keep the database busy (one commits while the other gathers)
  // and make groups large; more writers make smaller groups, which cost the
  // database more per scan (measured in bench/scan_bench). Raise it when the
  // database is across a network and each group waits longer on round trips.
  int writers = 2;
  size_t max_group = 256;
  // The writers and answerers run under SCHED_BATCH. Woken by MariaDB's reply
  // or by a committed group, such a thread waits for the thread on the core
  // to finish its turn instead of preempting it: gRPC's threads are switched
  // out less often, a writer woken late finds more of the reply (and more
  // scans for its next group) waiting, and with youma's core busy, groups
  // were about twice as large and a scan's youma CPU about 10% less
  // (bench/scan_bench, database apart). When the core is idle they run at
  // once, as before.
  bool batch_scheduling = true;
  // Scans waiting for a writer beyond this many are refused at once with
  // UNAVAILABLE (the caller retries with the same client scan id): when the
  // database stalls, memory and every caller's wait stay bounded, and the
  // backlog a recovering database must clear stays small.
  size_t max_queued = 20'000;
  absl::Duration counterfeit_flush = absl::Seconds(5);
  // The scan-log export's hold-back (audit::AuditOptions): a group committed
  // longer than this after its record time is counted (slow_commits) and
  // logged, a sign of a slow database (exports wait for it at the gate).
  absl::Duration record_settle = absl::Seconds(5);
  // Failed groups, refused scans, slow commits and unwritten counterfeit
  // counts are logged here (null: not logged).
  common::EventLog* log = nullptr;
  // The server's clock: a scan's own time is checked against it, and it says
  // when a scan arrived, which the rules count money by. Tests set it.
  std::function<absl::Time()> now = [] { return absl::Now(); };
};

// youma_scans_total{verdict}, youma_scan_groups_total, youma_awards_total,
// youma_scan_group_retries_total{reason}, youma_scan_range_change_reads_total{by},
// youma_scan_slow_commits_total,
// youma_scans_queued (waiting for a writer), youma_scans_shed_total,
// youma_scans_abandoned_total.
class ScanMetrics {
 public:
  explicit ScanMetrics(prometheus::Registry& registry);
  prometheus::Counter* Verdict(youma::v1::ScanVerdict verdict) { return verdicts_[verdict]; }
  prometheus::Counter& groups;
  prometheus::Counter& awards;
  // A group's transaction run again: after a deadlock or a lock wait timeout
  // (contention), to look up client scan ids recorded before
  // (retried_scan_id), or in halves around a scan the database refused (split).
  prometheus::Counter& contention;
  prometheus::Counter& retried_scan_id;
  prometheus::Counter& split;
  // Statements reading range changes: a batch's whole (few changes) or by
  // the group's codes' block keys (a batch seen with more than 64).
  prometheus::Counter& change_reads_by_batch;
  prometheus::Counter& change_reads_by_blocks;
  prometheus::Counter& slow_commits;
  prometheus::Gauge& queued;
  prometheus::Counter& shed;
  // Scans whose callers gave up while they waited for a writer (not recorded).
  prometheus::Counter& abandoned;

 private:
  std::map<int, prometheus::Counter*> verdicts_;
};

class ScanPipeline {
 public:
  using Done = std::function<void(absl::StatusOr<youma::v1::ScanAnswer>)>;
  using Answered = std::function<void(const absl::Status&)>;

  ScanPipeline(storage::ConnectionPool* pool, common::KeysetRegistry* keysets,
               issuer::BatchIndex* index, rules::RulesEngine* rules, ScanOptions options,
               ScanMetrics* metrics = nullptr);
  // Commits what was submitted, flushes the counterfeit counts, then stops.
  ~ScanPipeline();

  // Verifies the code and queues the scan; `done` runs once it is durable
  // (or at once, for bad requests and forged codes). Returns without waiting
  // on the database, so gRPC's own threads call it, except the first time a
  // code of a batch this server has not seen yet arrives: the batch index
  // then reads the new batches.
  // The caller's request is copied. `abandoned`: as below.
  void Submit(const std::string& brand, const youma::v1::ScanRequest& request, Done done,
              std::function<bool()> abandoned = nullptr);
  // The same without copies, for a caller that holds the request and the
  // answer (a gRPC call's own): `*answer` is written in place and
  // `done` runs with OK once it is complete, or with the error (the answer
  // then says nothing). Both must stay valid until `done` runs.
  // `abandoned` (optional) says whether the caller has given up (a cancelled
  // call, or one past its deadline): such a scan still waiting for a writer
  // is not recorded, and `done` gets CANCELLED.
  void Submit(const std::string& brand, const youma::v1::ScanRequest& request, youma::v1::ScanAnswer* answer,
              Answered done, std::function<bool()> abandoned = nullptr);
  // Writes the counterfeit counts gathered so far.
  absl::Status FlushCounterfeits();

 private:
  struct Pending {
    std::string brand;
    const youma::v1::ScanRequest* request = nullptr;
    uint64_t code_id = 0;
    bool is_case = false;
    issuer::BatchInfo batch;
    absl::Time scan_time;
    absl::Time arrival;  // by the server's clock
    youma::v1::ScanAnswer* answer = nullptr;
    Answered done;
    std::function<bool()> abandoned;
    bool duplicate = false;
  };
  void Writer();
  // Commits the group (splitting it when one scan fails it) and hands it to
  // the answerer.
  void CommitAndAnswer(std::vector<Pending>& group);
  // Sends committed groups' answers (one answerer per writer), so that a
  // writer goes on to its next group at once: sending a group's answers
  // (a gRPC write and a sendmsg each) took about twice the writer's own CPU
  // for committing it.
  void Answerer();
  void Answer(std::vector<Pending>& group, const absl::Status& status);
  // CommitGroup, again after deadlocks and with retries looked up.
  // `record_time`: the record time of the scans it wrote (InfinitePast: none).
  absl::Status CommitWithRetries(std::vector<Pending>& group, absl::Time* record_time);
  // One transaction for the group. `find_retries`: look up which client scan
  // ids were recorded before (else a recorded one fails with ALREADY_EXISTS).
  absl::Status CommitGroup(std::vector<Pending>& group, bool find_retries, absl::Time* record_time);
  void CountCounterfeit(const std::string& brand, const youma::v1::ScanRequest& request, absl::Time now);
  // Counts a scan refused because `queued` scans were waiting, and logs the
  // refusals at most every 10 s.
  void CountShed(size_t queued, absl::Time now);
  void Flusher();

  storage::ConnectionPool* pool_;
  common::KeysetRegistry* keysets_;
  issuer::BatchIndex* index_;
  rules::RulesEngine* rules_;
  ScanOptions options_;
  ScanMetrics* metrics_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;
  bool stopping_ = false;
  std::vector<std::thread> writers_;
  std::atomic<uint64_t> group_seq_{0};

  struct Answers {
    std::vector<Pending> group;
    absl::Status status;
  };
  std::mutex answers_mu_;
  std::condition_variable answers_cv_;
  std::deque<Answers> answers_;
  bool answers_stop_ = false;
  std::vector<std::thread> answerers_;

  std::mutex counterfeit_mu_;
  std::condition_variable counterfeit_cv_;
  // (brand, region, hour since the epoch) -> forged scans not yet written.
  std::map<std::tuple<std::string, std::string, int64_t>, uint64_t> counterfeits_;
  bool flusher_stop_ = false;
  std::thread flusher_;

  std::mutex shed_mu_;
  absl::Time shed_logged_ = absl::InfinitePast();
  uint64_t shed_unlogged_ = 0;  // refused since the last log line

  std::mutex products_mu_;
  std::map<std::pair<std::string, std::string>, std::string> product_names_;

  // Batches seen with many range changes (a batch activated on shipment, run
  // by run): groups read their codes' changes by block keys. Other batches'
  // changes (one activation, a few freezes) are read whole, which costs the
  // database less. A batch never leaves: changes are only ever added.
  std::mutex many_changes_mu_;
  std::set<uint64_t> many_changes_;
};

// The lifecycle verdict of a code from its batch's range changes, in order.
struct RangeChangeRow {
  youma::v1::RangeAction action;
  uint64_t first, last;
  absl::Time effective;
};
youma::v1::ScanVerdict LifecycleVerdict(const std::vector<RangeChangeRow>& changes,
                                        uint64_t code_id, absl::Time at);

}  // namespace youma::scan
