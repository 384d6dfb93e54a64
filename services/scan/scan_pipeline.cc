#include "services/scan/scan_pipeline.h"

#include <pthread.h>
#include <sched.h>
#include <sodium.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "services/common/status_macros.h"
#include "services/common/time_util.h"
#include "services/storage/code_blocks.h"
#include "services/storage/range_change_blocks.h"
#include "services/storage/scan_log_gate.h"

namespace youma::scan {
namespace {

using storage::Prepare;

// A batch with more range changes than this has its codes' changes read by
// block keys from then on (ScanPipeline::many_changes_).
constexpr size_t kWholeBatchChanges = 64;

// Checks a scan request; `scan_time` is when the scan happened.
absl::Status ValidateRequest(const youma::v1::ScanRequest& r, absl::Time now, absl::Time* scan_time) {
  if (r.client_scan_id().empty() || r.client_scan_id().size() > 128) {
    return absl::InvalidArgumentError(
        "client_scan_id is required (1 to 128 bytes): it makes retries safe");
  }
  // MariaDB compares keys without trailing spaces: "id " is the row of "id".
  if (r.client_scan_id().back() == ' ') {
    return absl::InvalidArgumentError("client_scan_id must not end in a space (it would match the id without it)");
  }
  if (r.role() == youma::v1::SCAN_ROLE_UNSPECIFIED || !youma::v1::ScanRole_IsValid(r.role())) {
    return absl::InvalidArgumentError("role must be CONSUMER, STORE_OWNER or DEALER_INSPECTION");
  }
  if (r.user_id().empty() || r.user_id().size() > 128) {
    return absl::InvalidArgumentError("user_id (the openid) is required, at most 128 bytes");
  }
  if (r.device_id().size() > 128 || r.client_ip().size() > 45) {
    return absl::InvalidArgumentError("device_id is at most 128 bytes and client_ip 45");
  }
  if (!r.region().empty()) {
    const bool digits = r.region().size() == 6 &&
                        std::all_of(r.region().begin(), r.region().end(),
                                    [](char c) { return c >= '0' && c <= '9'; });
    if (!digits) {
      return absl::InvalidArgumentError(absl::StrCat(
          "region '", r.region(), "' is not a 6-digit GB/T 2260 adcode (e.g. 440106)"));
    }
    if (r.region_source() == youma::v1::REGION_SOURCE_UNSPECIFIED) {
      return absl::InvalidArgumentError("a region needs its region_source: GPS or IP");
    }
  }
  if (!(r.latitude() >= -90 && r.latitude() <= 90 && r.longitude() >= -180 && r.longitude() <= 180)) {
    return absl::InvalidArgumentError(absl::StrCat("latitude ", r.latitude(), " and longitude ", r.longitude(),
                                                   " are not a position: degrees in [-90, 90] and [-180, 180]"));
  }
  if (r.code().empty()) return absl::InvalidArgumentError("code is required: the scanned URL or token");
  YOUMA_ASSIGN_OR_RETURN(*scan_time, common::ClientTime(r.has_scan_time(), r.scan_time(), "scan_time", now));
  return absl::OkStatus();
}

// The region a scan is recorded under: "000000" when the app sent none.
absl::string_view RecordedRegion(const youma::v1::ScanRequest& r) {
  return r.region().empty() ? absl::string_view("000000") : absl::string_view(r.region());
}

std::string VerdictText(youma::v1::ScanVerdict v) {
  switch (v) {
    case youma::v1::SCAN_VERDICT_GENUINE: return "Genuine";
    case youma::v1::SCAN_VERDICT_COUNTERFEIT: return "Counterfeit: this is not a code of the brand";
    case youma::v1::SCAN_VERDICT_REVOKED: return "Genuine code, but revoked by the brand (recall or spoiled label)";
    case youma::v1::SCAN_VERDICT_NOT_ACTIVE: return "Genuine code, not yet activated";
    case youma::v1::SCAN_VERDICT_FROZEN: return "Genuine code, temporarily frozen by the brand";
    default: return "";
  }
}

prometheus::Counter& RetryCounter(prometheus::Registry& registry, const std::string& reason) {
  return prometheus::BuildCounter()
      .Name("youma_scan_group_retries_total")
      .Help("Group-commit transactions run again: contention (a deadlock or lock wait timeout), "
            "retried_scan_id (client scan ids recorded before), split (in halves around a refused scan)")
      .Register(registry)
      .Add({{"reason", reason}});
}

prometheus::Counter& ChangeReadCounter(prometheus::Registry& registry, const std::string& by) {
  return prometheus::BuildCounter()
      .Name("youma_scan_range_change_reads_total")
      .Help("Reads of range changes by scan groups: batch (a batch's changes whole, for batches with few) or "
            "blocks (the changes holding the group's codes, by block keys, for batches with many)")
      .Register(registry)
      .Add({{"by", by}});
}

}  // namespace

ScanMetrics::ScanMetrics(prometheus::Registry& registry)
    : groups(prometheus::BuildCounter()
                 .Name("youma_scan_groups_total")
                 .Help("Group-commit transactions of scans")
                 .Register(registry)
                 .Add({})),
      awards(prometheus::BuildCounter()
                 .Name("youma_awards_total")
                 .Help("Rewards awarded")
                 .Register(registry)
                 .Add({})),
      contention(RetryCounter(registry, "contention")),
      retried_scan_id(RetryCounter(registry, "retried_scan_id")),
      split(RetryCounter(registry, "split")),
      change_reads_by_batch(ChangeReadCounter(registry, "batch")),
      change_reads_by_blocks(ChangeReadCounter(registry, "blocks")),
      slow_commits(prometheus::BuildCounter()
                       .Name("youma_scan_slow_commits_total")
                       .Help("Groups of scans committed longer after their record time than the scan-log "
                             "export's hold-back: the database is slow or stalled (scan-log exports wait for "
                             "such groups, nothing is passed)")
                       .Register(registry)
                       .Add({})),
      queued(prometheus::BuildGauge()
                 .Name("youma_scans_queued")
                 .Help("Scans waiting for a group-commit writer")
                 .Register(registry)
                 .Add({})),
      shed(prometheus::BuildCounter()
               .Name("youma_scans_shed_total")
               .Help("Scans refused with UNAVAILABLE because too many were waiting for the database "
                     "(the callers retry them with the same client scan id)")
               .Register(registry)
               .Add({})),
      abandoned(prometheus::BuildCounter()
                    .Name("youma_scans_abandoned_total")
                    .Help("Scans whose callers gave up (cancelled, or past their deadline) while they waited "
                          "for the database: not recorded, and no database work spent on them")
                    .Register(registry)
                    .Add({})) {
  auto& family =
      prometheus::BuildCounter().Name("youma_scans_total").Help("Scans by verdict").Register(registry);
  for (int v = youma::v1::SCAN_VERDICT_GENUINE; v <= youma::v1::SCAN_VERDICT_FROZEN; ++v) {
    const std::string name = youma::v1::ScanVerdict_Name(static_cast<youma::v1::ScanVerdict>(v));
    verdicts_[v] = &family.Add({{"verdict", name.substr(std::string("SCAN_VERDICT_").size())}});
  }
}

youma::v1::ScanVerdict LifecycleVerdict(const std::vector<RangeChangeRow>& changes, uint64_t code_id,
                                        absl::Time at) {
  youma::v1::ScanVerdict v = youma::v1::SCAN_VERDICT_NOT_ACTIVE;
  bool active = false;
  for (const RangeChangeRow& c : changes) {
    if (code_id < c.first || code_id > c.last) continue;
    switch (c.action) {
      case youma::v1::RANGE_ACTION_REVOKE: return youma::v1::SCAN_VERDICT_REVOKED;
      case youma::v1::RANGE_ACTION_ACTIVATE:
        if (c.effective <= at) active = true;
        if (v != youma::v1::SCAN_VERDICT_FROZEN) v = active ? youma::v1::SCAN_VERDICT_GENUINE : v;
        break;
      case youma::v1::RANGE_ACTION_FREEZE: v = youma::v1::SCAN_VERDICT_FROZEN; break;
      case youma::v1::RANGE_ACTION_UNFREEZE:
        v = active ? youma::v1::SCAN_VERDICT_GENUINE : youma::v1::SCAN_VERDICT_NOT_ACTIVE;
        break;
      default: break;
    }
  }
  return v;
}

ScanPipeline::ScanPipeline(storage::ConnectionPool* pool, common::KeysetRegistry* keysets,
                           issuer::BatchIndex* index, rules::RulesEngine* rules,
                           ScanOptions options, ScanMetrics* metrics)
    : pool_(pool), keysets_(keysets), index_(index), rules_(rules), options_(options),
      metrics_(metrics) {
  // Named as top -H shows them; see ScanOptions::batch_scheduling.
  auto start = [this](const char* name) {
    pthread_setname_np(pthread_self(), name);
    if (!options_.batch_scheduling) return;
    const sched_param param{};
    if (const int err = pthread_setschedparam(pthread_self(), SCHED_BATCH, &param);
        err != 0 && options_.log != nullptr) {
      options_.log->Warn("scan_thread_scheduling", {{"thread", name},
                                                    {"error", std::strerror(err)},
                                                    {"effect", "it runs under the default policy"}});
    }
  };
  for (int i = 0; i < options_.writers; ++i) {
    writers_.emplace_back([this, start] {
      start("scan-writer");
      Writer();
    });
    answerers_.emplace_back([this, start] {
      start("scan-answerer");
      Answerer();
    });
  }
  flusher_ = std::thread([this] { Flusher(); });
}

ScanPipeline::~ScanPipeline() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& w : writers_) w.join();
  {
    std::lock_guard<std::mutex> lock(answers_mu_);
    answers_stop_ = true;
  }
  answers_cv_.notify_all();
  for (auto& a : answerers_) a.join();
  {
    std::lock_guard<std::mutex> lock(counterfeit_mu_);
    flusher_stop_ = true;
  }
  counterfeit_cv_.notify_all();
  flusher_.join();
  (void)FlushCounterfeits();
}

void ScanPipeline::Submit(const std::string& brand, const youma::v1::ScanRequest& request, Done done,
                          std::function<bool()> abandoned) {
  struct Held {
    youma::v1::ScanRequest request;
    youma::v1::ScanAnswer answer;
    Done done;
  };
  auto* held = new Held{request, {}, std::move(done)};
  Submit(brand, held->request, &held->answer, [held](const absl::Status& st) {
    std::unique_ptr<Held> h(held);
    if (st.ok()) {
      h->done(std::move(h->answer));
    } else {
      h->done(st);
    }
  }, std::move(abandoned));
}

void ScanPipeline::Submit(const std::string& brand, const youma::v1::ScanRequest& request,
                          youma::v1::ScanAnswer* answer, Answered done, std::function<bool()> abandoned) {
  absl::Time scan_time;
  const absl::Time now = options_.now();
  if (absl::Status st = ValidateRequest(request, now, &scan_time); !st.ok()) {
    done(st);
    return;
  }
  absl::StatusOr<std::shared_ptr<const common::BrandKeys>> keys = keysets_->Get(brand);
  if (!keys.ok()) {
    done(keys.status());
    return;
  }
  const codegen::Verification v = (*keys)->verifier.Verify(request.code());
  if (v.verdict == codegen::Verdict::kMalformed || v.verdict == codegen::Verdict::kUnverifiable) {
    done(absl::InvalidArgumentError(absl::StrCat("the code is not a youma code: ", v.problem)));
    return;
  }
  absl::StatusOr<issuer::BatchInfo> batch =
      v.verdict == codegen::Verdict::kGenuine ? index_->Find(v.code_id)
                                              : absl::StatusOr<issuer::BatchInfo>(absl::NotFoundError(""));
  if (v.verdict == codegen::Verdict::kGenuine && !batch.ok() && !absl::IsNotFound(batch.status())) {
    done(batch.status());
    return;
  }
  if (v.verdict != codegen::Verdict::kGenuine || !batch.ok() || batch->brand != brand) {
    // Forged (or a genuine-looking id no batch holds): answered from memory.
    CountCounterfeit(brand, request, now);
    if (metrics_ != nullptr) metrics_->Verdict(youma::v1::SCAN_VERDICT_COUNTERFEIT)->Increment();
    answer->Clear();
    answer->set_client_scan_id(request.client_scan_id());
    answer->set_verdict(youma::v1::SCAN_VERDICT_COUNTERFEIT);
    answer->set_message(VerdictText(answer->verdict()));
    answer->set_no_reward_reason("counterfeit codes win nothing");
    done(absl::OkStatus());
    return;
  }
  Pending p;
  p.brand = brand;
  p.request = &request;
  p.answer = answer;
  p.code_id = v.code_id;
  p.batch = *batch;
  p.is_case = batch->IsCase(v.code_id);
  p.scan_time = scan_time;
  p.arrival = now;
  p.done = std::move(done);
  p.abandoned = std::move(abandoned);
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (const size_t queued = queue_.size(); queued >= options_.max_queued) {
      lock.unlock();
      CountShed(queued, now);
      p.done(absl::UnavailableError(absl::StrCat(
          "the scan service is overloaded: ", queued, " scans are waiting for the database; retry this scan "
          "with the same client_scan_id in a moment")));
      return;
    }
    queue_.push_back(std::move(p));
    if (metrics_ != nullptr) metrics_->queued.Set(static_cast<double>(queue_.size()));
  }
  cv_.notify_one();
}

void ScanPipeline::CountShed(size_t queued, absl::Time now) {
  if (metrics_ != nullptr) metrics_->shed.Increment();
  if (options_.log == nullptr) return;
  std::lock_guard<std::mutex> lock(shed_mu_);
  ++shed_unlogged_;
  if (now - shed_logged_ < absl::Seconds(10)) return;
  options_.log->Warn("scans_shed", {{"scans", shed_unlogged_},
                                    {"queued", queued},
                                    {"max_queued", options_.max_queued},
                                    {"advice", "the database is not keeping up with the scans: see "
                                               "youma_scan_group_retries_total and the database's own health"}});
  shed_logged_ = now;
  shed_unlogged_ = 0;
}

void ScanPipeline::Writer() {
  for (;;) {
    std::vector<Pending> group;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;
      while (!queue_.empty() && group.size() < options_.max_group) {
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      if (metrics_ != nullptr) metrics_->queued.Set(static_cast<double>(queue_.size()));
    }
    // A scan whose caller gave up while it waited (a backlog outlasted its
    // deadline) is not recorded: nobody saw its answer, a retry with the same
    // client scan id records it, and a recovering database is spared the work.
    std::erase_if(group, [&](Pending& p) {
      if (!p.abandoned || !p.abandoned()) return false;
      if (metrics_ != nullptr) metrics_->abandoned.Increment();
      p.done(absl::CancelledError("the caller gave up before the scan was recorded; it was not recorded"));
      return true;
    });
    if (!group.empty()) CommitAndAnswer(group);
  }
}

void ScanPipeline::CommitAndAnswer(std::vector<Pending>& group) {
  absl::Time record_time = absl::InfinitePast();
  absl::Status st = CommitWithRetries(group, &record_time);
  // A group that wrote no scan (retries of recorded ones only) has no record time.
  if (const absl::Duration took = options_.now() - record_time;
      st.ok() && record_time != absl::InfinitePast() && took > options_.record_settle) {
    if (metrics_ != nullptr) metrics_->slow_commits.Increment();
    if (options_.log != nullptr) {
      options_.log->Warn("scan_commit_slow",
                         {{"scans", group.size()},
                          {"record_time", absl::FormatTime(absl::RFC3339_full, record_time, absl::UTCTimeZone())},
                          {"seconds", absl::ToDoubleSeconds(took)},
                          {"hold_back_seconds", absl::ToDoubleSeconds(options_.record_settle)},
                          {"advice", "the database is slow or stalled; scan-log exports waited for this "
                                     "group (or answered UNAVAILABLE meanwhile), nothing was passed"}});
    }
  }
  // One scan the database refuses fails its whole transaction: unless the
  // database is out of reach, each half is committed on its own, until the
  // scan that fails is alone and the others are recorded.
  if (!st.ok() && group.size() > 1 && !absl::IsUnavailable(st)) {
    if (metrics_ != nullptr) metrics_->split.Increment();
    std::vector<Pending> second(std::make_move_iterator(group.begin() + group.size() / 2),
                                std::make_move_iterator(group.end()));
    group.erase(group.begin() + group.size() / 2, group.end());
    CommitAndAnswer(group);
    CommitAndAnswer(second);
    return;
  }
  if (metrics_ != nullptr && st.ok()) metrics_->groups.Increment();
  if (!st.ok() && options_.log != nullptr) {
    nlohmann::json fields = {{"scans", group.size()},
                             {"code", absl::StatusCodeToString(st.code())},
                             {"message", std::string(st.message())}};
    // Alone after halving (the database is in reach): it refused this scan.
    const bool refused = group.size() == 1 && !absl::IsUnavailable(st);
    if (group.size() == 1) fields["client_scan_id"] = group[0].request->client_scan_id();
    options_.log->Warn(refused ? "scan_refused" : "scan_group_failed", std::move(fields));
  }
  {
    std::lock_guard<std::mutex> lock(answers_mu_);
    answers_.push_back({std::move(group), std::move(st)});
  }
  answers_cv_.notify_one();
}

void ScanPipeline::Answerer() {
  for (;;) {
    Answers next;
    {
      std::unique_lock<std::mutex> lock(answers_mu_);
      answers_cv_.wait(lock, [&] { return answers_stop_ || !answers_.empty(); });
      if (answers_.empty()) return;  // stopping, and every answer is out
      next = std::move(answers_.front());
      answers_.pop_front();
    }
    Answer(next.group, next.status);
  }
}

void ScanPipeline::Answer(std::vector<Pending>& group, const absl::Status& status) {
  for (Pending& p : group) {
    if (!status.ok()) {
      p.done(status);
      continue;
    }
    if (metrics_ != nullptr && !p.duplicate) {
      if (auto* c = metrics_->Verdict(p.answer->verdict())) c->Increment();
      metrics_->awards.Increment(static_cast<double>(p.answer->rewards_size()));
    }
    p.done(absl::OkStatus());
  }
}

absl::Status ScanPipeline::CommitWithRetries(std::vector<Pending>& group, absl::Time* record_time) {
  absl::Status st;
  // Retried scans (a client scan id already recorded) are rare: the first
  // attempt does not look for them, and a duplicate scan id fails its INSERT
  // and sends the group round again, looking this time.
  bool find_retries = false;
  for (int attempt = 0; attempt < 30; ++attempt) {
    for (Pending& p : group) {
      p.answer->Clear();
      p.duplicate = false;
    }
    *record_time = absl::InfinitePast();
    st = CommitGroup(group, find_retries, record_time);
    if (absl::IsAlreadyExists(st) && metrics_ != nullptr) metrics_->retried_scan_id.Increment();
    if (absl::IsAlreadyExists(st) && !find_retries) {
      find_retries = true;
      continue;
    }
    // A deadlock, or a retry of the same scan committed by another group
    // meanwhile: run the group again (it will find the first answer).
    if (!absl::IsAborted(st) && !absl::IsAlreadyExists(st)) break;
    if (absl::IsAborted(st) && metrics_ != nullptr) metrics_->contention.Increment();
    // Back off with jitter so the same groups do not collide again.
    std::this_thread::sleep_for(std::chrono::microseconds(
        (500 << std::min(attempt, 6)) + static_cast<int>(randombytes_uniform(1000))));
  }
  return st;
}

absl::Status ScanPipeline::CommitGroup(std::vector<Pending>& group, bool find_retries, absl::Time* record_time) {
  return pool_->InTransactionWithTail([&](sql::Connection& c, storage::StatementBatch& tail) -> absl::Status {
    // 1. Retries: a client scan id seen before gets its first answer. The
    //    group's first scan of each id, by views of the group's own strings.
    using ScanKey = std::pair<absl::string_view, absl::string_view>;  // brand, client scan id
    absl::flat_hash_map<ScanKey, Pending*> firsts;
    std::map<std::string, std::vector<Pending*>> by_brand;
    // Looked up only when an insert said a scan id exists (see CommitWithRetries).
    if (find_retries) {
      for (Pending& p : group) by_brand[p.brand].push_back(&p);
    }
    std::map<std::pair<std::string, std::string>, std::string> stored;
    for (auto& [brand, items] : by_brand) {
      std::string sql = absl::StrCat("SELECT client_scan_id, answer FROM scans WHERE brand = ",
                                     storage::Quote(c, brand), " AND client_scan_id IN (");
      for (size_t i = 0; i < items.size(); ++i) {
        absl::StrAppend(&sql, i ? "," : "", storage::Quote(c, items[i]->request->client_scan_id()));
      }
      sql += ")";
      std::unique_ptr<sql::Statement> st(c.createStatement());
      std::unique_ptr<sql::ResultSet> rs(st->executeQuery(sql));
      while (rs->next()) stored[{brand, rs->getString(1)}] = rs->getString(2);
    }
    std::vector<Pending*> fresh;
    for (Pending& p : group) {
      if (!stored.empty()) {
        if (auto it = stored.find({p.brand, p.request->client_scan_id()}); it != stored.end()) {
          p.duplicate = true;
          if (!p.answer->ParseFromString(it->second)) return absl::DataLossError("a stored answer does not parse");
          continue;
        }
      }
      if (!firsts.try_emplace(ScanKey(p.brand, p.request->client_scan_id()), &p).second) {
        p.duplicate = true;  // answered below, once its first is known
        continue;
      }
      fresh.push_back(&p);
    }
    if (fresh.empty()) return absl::OkStatus();

    // 2. One round trip reads what the group needs: the codes' history (each
    //    code's row counts this group's scans of it, made when missing, and is
    //    read back, locked by that write; rows are written in code-id order
    //    so that concurrent groups take their locks in the same order), the
    //    batches' lifecycle, and the codes' territories.
    struct CodeState {
      absl::Time first_time;
      std::string first_region;
      uint32_t count = 0;  // before this group; counted up scan by scan below
      uint32_t in_group = 0;
    };
    std::map<uint64_t, CodeState> states;
    std::map<uint64_t, std::vector<RangeChangeRow>> changes;
    storage::StatementBatch reads;
    // The scan-log gate first, shared, before any other lock and before the
    // record time is stamped: an export waits for this group to commit.
    reads.Add(storage::kTakeScanLogGate);
    {
      std::map<uint64_t, std::pair<const Pending*, const Pending*>> codes;  // first and last scan
      // Range changes: of batches with few, all; of the others, those that
      // can hold the group's codes (their block keys).
      std::set<uint64_t> whole_batches;
      std::vector<uint64_t> change_keys;
      {
        std::lock_guard<std::mutex> lock(many_changes_mu_);
        for (Pending* p : fresh) {
          auto [it, made] = codes.emplace(p->code_id, std::make_pair(p, p));
          it->second.second = p;
          ++states[p->code_id].in_group;
          if (!many_changes_.count(p->batch.batch_id)) {
            whole_batches.insert(p->batch.batch_id);
          } else if (made) {
            storage::AppendCodeBlockProbes(p->code_id, p->batch.code_count, &change_keys);
          }
        }
      }
      // Sized up front: growing a long statement step by step costs more
      // in the allocator than building it.
      std::string sql;
      sql.reserve(256 + codes.size() * 128);
      sql += "INSERT INTO code_scans (code_id, brand, first_scan_time, first_region, scan_count, "
             "last_scan_time) VALUES ";
      std::string ids;
      for (const auto& [id, scans] : codes) {
        const Pending& first = *scans.first;
        absl::StrAppend(&sql, ids.empty() ? "(" : ",(", id, ",", storage::Quote(c, first.brand), ",'",
                        common::SqlTimeText(first.scan_time).view(), "',",
                        storage::Quote(c, RecordedRegion(*first.request)),
                        ",", states[id].in_group, ",'", common::SqlTimeText(scans.second->scan_time).view(), "')");
        absl::StrAppend(&ids, ids.empty() ? "" : ",", id);
      }
      sql += " ON DUPLICATE KEY UPDATE scan_count = scan_count + VALUES(scan_count), "
             "last_scan_time = VALUES(last_scan_time)";
      reads.Add(std::move(sql));
      reads.Add(absl::StrCat("SELECT code_id, first_scan_time, first_region, scan_count FROM code_scans "
                             "WHERE code_id IN (", ids, ")"),
                [&states](sql::ResultSet& rs) {
                  while (rs.next()) {
                    CodeState& s = states[rs.getUInt64(1)];
                    s.first_time = common::ParseSqlTime(rs.getString(2));
                    s.first_region = rs.getString(3);
                    s.count = rs.getUInt(4) - s.in_group;
                  }
                });
      // Both statements give change_id, batch_id, action, first, last,
      // effective time, in change order.
      auto take_change = [&changes](sql::ResultSet& rs) {
        changes[rs.getUInt64(2)].push_back({static_cast<youma::v1::RangeAction>(rs.getInt(3)), rs.getUInt64(4),
                                            rs.getUInt64(5), common::ParseSqlTime(rs.getString(6))});
      };
      if (!whole_batches.empty()) {
        if (metrics_ != nullptr) metrics_->change_reads_by_batch.Increment();
        reads.Add(absl::StrCat("SELECT change_id, batch_id, action, first_code_id, last_code_id, effective_time "
                               "FROM range_changes WHERE batch_id IN (",
                               absl::StrJoin(whole_batches, ","), ") ORDER BY change_id"),
                  [this, take_change](sql::ResultSet& rs) {
                    std::map<uint64_t, size_t> per_batch;
                    while (rs.next()) {
                      take_change(rs);
                      ++per_batch[rs.getUInt64(2)];
                    }
                    std::lock_guard<std::mutex> lock(many_changes_mu_);
                    for (const auto& [batch, n] : per_batch) {
                      if (n > kWholeBatchChanges) many_changes_.insert(batch);
                    }
                  });
      }
      if (!change_keys.empty()) {
        if (metrics_ != nullptr) metrics_->change_reads_by_blocks.Increment();
        reads.Add(storage::RangeChangesHoldingSql(std::move(change_keys)), [take_change](sql::ResultSet& rs) {
          uint64_t last_id = 0;
          while (rs.next()) {
            const uint64_t id = rs.getUInt64(1);
            if (id == last_id) continue;  // a change with two pieces among the keys
            last_id = id;
            take_change(rs);
          }
        });
      }
    }
    // 4. Each scan in order: verdict, history, rules.
    std::vector<rules::ScanFacts> facts(fresh.size());
    std::vector<const rules::ScanFacts*> fact_ptrs;
    const int shard = static_cast<int>(group_seq_.fetch_add(1) % rules::kBudgetShards);
    for (size_t i = 0; i < fresh.size(); ++i) {
      Pending* p = fresh[i];
      facts[i].brand = p->brand;
      facts[i].code_id = p->code_id;
      facts[i].is_case = p->is_case;
      facts[i].batch = p->batch;
      facts[i].request = p->request;
      facts[i].scan_time = p->scan_time;
      facts[i].arrival_time = p->arrival;
      facts[i].budget_shard = shard;
      fact_ptrs.push_back(&facts[i]);
    }
    std::map<uint64_t, rules::Territory> territories;
    rules_->PrefetchTerritories(fact_ptrs, reads, &territories);
    rules::GroupState rules_state;
    rules_->PrefetchCampaigns(fact_ptrs, reads, &rules_state);
    for (rules::ScanFacts& f : facts) f.group = &rules_state;
    reads.Run(c);
    for (size_t i = 0; i < fresh.size(); ++i) {
      if (auto it = territories.find(facts[i].code_id); it != territories.end()) {
        facts[i].territory = &it->second;
      }
    }
    rules_->LockDiversionCases(c, fact_ptrs);
    for (size_t fi = 0; fi < fresh.size(); ++fi) {
      Pending* p = fresh[fi];
      youma::v1::ScanAnswer& a = *p->answer;
      const youma::v1::ScanRequest& r = *p->request;
      a.set_client_scan_id(r.client_scan_id());
      a.set_verdict(LifecycleVerdict(changes[p->batch.batch_id], p->code_id, p->scan_time));
      a.set_gtin(p->batch.gtin);
      a.set_batch_id(p->batch.batch_id);
      a.set_code_id(p->code_id);
      a.set_is_case(p->is_case);
      {
        std::lock_guard<std::mutex> lock(products_mu_);
        auto it = product_names_.find({p->brand, p->batch.gtin});
        if (it != product_names_.end()) a.set_product_name(it->second);
      }
      if (a.product_name().empty()) {
        auto st = Prepare(c, "SELECT name FROM products WHERE brand = ? AND gtin = ?");
        st->setString(1, p->brand);
        st->setString(2, p->batch.gtin);
        std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
        if (rs->next()) {
          a.set_product_name(rs->getString(1));
          std::lock_guard<std::mutex> lock(products_mu_);
          product_names_[{p->brand, p->batch.gtin}] = a.product_name();
        }
      }
      CodeState& s = states[p->code_id];
      ++s.count;
      auto* h = a.mutable_history();
      *h->mutable_first_scan_time() = common::ToProtoTime(s.first_time);
      h->set_first_region(s.first_region);
      h->set_scan_count(s.count);
      h->set_first_scan(s.count == 1);
      std::string message = VerdictText(a.verdict());
      if (a.verdict() == youma::v1::SCAN_VERDICT_GENUINE) {
        YOUMA_RETURN_IF_ERROR(rules_->Apply(c, facts[fi], &a));
      } else {
        a.set_no_reward_reason("only active genuine codes take part in campaigns");
      }
      if (s.count == 1) {
        absl::StrAppend(&message, ". First scan.");
      } else {
        absl::StrAppend(&message, absl::StrFormat(". Scanned %d times, first on %s in %s.", s.count,
                                                  absl::FormatTime("%Y-%m-%d %H:%M", s.first_time,
                                                                   common::ChinaTime()),
                                                  s.first_region));
      }
      for (const auto& reward : a.rewards()) {
        absl::StrAppend(&message, absl::StrFormat(" You won %d.%02d yuan (%s).", reward.amount_fen() / 100,
                                                  reward.amount_fen() % 100, reward.tier_name()));
      }
      a.set_message(message);
    }
    // 5. The rules' writes for the group (budget, prize counters, ledger,
    //    payout outbox) and the scan log, a statement each, sent with the COMMIT.
    rules::RulesEngine::AddGroupWrites(c, rules_state, tail);
    {
      std::vector<std::string> answers;
      answers.reserve(fresh.size());
      size_t size = 256;
      for (const Pending* p : fresh) {
        answers.push_back(p->answer->SerializeAsString());
        const auto& r = *p->request;
        size += 256 + 2 * (answers.back().size() + r.client_scan_id().size() + r.user_id().size() +
                           r.device_id().size() + r.client_ip().size() + p->brand.size());
      }
      std::string sql;
      sql.reserve(size);
      sql += "INSERT INTO scans (brand, client_scan_id, code_id, role, user_id, device_id, client_ip, "
             "region, region_source, latitude, longitude, scan_time, record_time, verdict, answer) VALUES ";
      *record_time = options_.now();
      const std::string now = common::SqlTime(*record_time);
      for (size_t i = 0; i < fresh.size(); ++i) {
        const Pending& p = *fresh[i];
        const auto& r = *p.request;
        absl::StrAppend(&sql, i ? ",(" : "(", storage::Quote(c, p.brand), ",",
                        storage::Quote(c, r.client_scan_id()), ",", p.code_id, ",", static_cast<int>(r.role()),
                        ",", storage::Quote(c, r.user_id()), ",", storage::Quote(c, r.device_id()), ",",
                        storage::Quote(c, r.client_ip()), ",", storage::Quote(c, RecordedRegion(r)), ",",
                        static_cast<int>(r.region_source()), ",", storage::SqlLocation(r.latitude(), r.longitude()),
                        ",'", common::SqlTimeText(p.scan_time).view(), "','", now, "',", static_cast<int>(p.answer->verdict()),
                        ",", storage::QuoteBytes(answers[i]), ")");
      }
      tail.Add(std::move(sql));
    }
    // Repeats within the group take their first's answer.
    for (Pending& p : group) {
      if (!p.duplicate || p.answer->verdict() != youma::v1::SCAN_VERDICT_UNSPECIFIED) continue;
      *p.answer = *firsts.at(ScanKey(p.brand, p.request->client_scan_id()))->answer;
    }
    return absl::OkStatus();
  });
}

void ScanPipeline::CountCounterfeit(const std::string& brand, const youma::v1::ScanRequest& r, absl::Time now) {
  const int64_t hour = absl::ToUnixSeconds(now) / 3600;
  std::lock_guard<std::mutex> lock(counterfeit_mu_);
  ++counterfeits_[{brand, std::string(RecordedRegion(r)), hour}];
}

absl::Status ScanPipeline::FlushCounterfeits() {
  std::map<std::tuple<std::string, std::string, int64_t>, uint64_t> counts;
  {
    std::lock_guard<std::mutex> lock(counterfeit_mu_);
    counts.swap(counterfeits_);
  }
  if (counts.empty()) return absl::OkStatus();
  absl::Status st = pool_->InTransaction([&](sql::Connection& c) -> absl::Status {
    auto up = Prepare(c, "INSERT INTO counterfeit_counts (brand, region, hour, scans) VALUES (?,?,?,?) "
                         "ON DUPLICATE KEY UPDATE scans = scans + VALUES(scans)");
    for (const auto& [key, n] : counts) {
      up->setString(1, std::get<0>(key));
      up->setString(2, std::get<1>(key));
      up->setString(3, common::SqlTime(absl::FromUnixSeconds(std::get<2>(key) * 3600)));
      up->setUInt64(4, n);
      up->executeUpdate();
    }
    return absl::OkStatus();
  });
  if (!st.ok()) {
    // Keep the counts for the next flush rather than lose them.
    uint64_t kept = 0;
    {
      std::lock_guard<std::mutex> lock(counterfeit_mu_);
      for (const auto& [key, n] : counts) {
        counterfeits_[key] += n;
        kept += n;
      }
    }
    if (options_.log != nullptr) {
      options_.log->Warn("counterfeit_counts_not_written",
                         {{"scans", kept}, {"code", absl::StatusCodeToString(st.code())},
                          {"message", std::string(st.message())}, {"kept_for_next_flush", true}});
    }
  }
  return st;
}

void ScanPipeline::Flusher() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(counterfeit_mu_);
      if (counterfeit_cv_.wait_for(lock, absl::ToChronoNanoseconds(options_.counterfeit_flush),
                                   [&] { return flusher_stop_; })) {
        return;
      }
    }
    (void)FlushCounterfeits();
  }
}

}  // namespace youma::scan
