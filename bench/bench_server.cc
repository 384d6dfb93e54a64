#include "bench/bench_server.h"

#include <jemalloc/jemalloc.h>
#include <pthread.h>
#include <sched.h>
#include <sodium.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "services/common/files.h"
#include "services/common/time_util.h"
#include "youma/v1/issuer.grpc.pb.h"

namespace youma::bench {

using Clock = std::chrono::steady_clock;

void Die(const std::string& what) {
  std::fprintf(stderr, "benchmark: %s\n", what.c_str());
  std::exit(1);
}

void Check(const absl::Status& status, const char* what) {
  if (!status.ok()) Die(absl::StrCat(what, ": ", status.ToString()));
}

void Check(const grpc::Status& status, const char* what) {
  if (!status.ok()) Die(absl::StrCat(what, ": ", status.error_message()));
}

double Load(int threads, double secs, const std::function<bool(int, uint64_t)>& op, std::vector<double>* latencies,
            double rate_limit) {
  std::atomic<uint64_t> done{0};
  std::mutex mu;
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(secs);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      pthread_setname_np(pthread_self(), "bench-client");
      uint64_t i = 0;
      std::vector<double> mine;
      const double interval = rate_limit > 0 ? threads / rate_limit : 0;
      auto next = Clock::now();
      while (Clock::now() < end) {
        if (interval > 0) {
          std::this_thread::sleep_until(next);
          next += std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(interval));
        }
        const auto t0 = Clock::now();
        if (!op(t, i++)) Die("a call failed under load");
        if (latencies) mine.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        ++done;
      }
      if (latencies) {
        std::lock_guard<std::mutex> lock(mu);
        latencies->insert(latencies->end(), mine.begin(), mine.end());
      }
    });
  }
  for (auto& th : pool) th.join();
  return done / std::chrono::duration<double>(Clock::now() - start).count();
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(p * (v.size() - 1))];
}

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

namespace {

// User + system CPU seconds from a /proc stat file; `name` gets the command
// (a thread's name, for a task's file).
double StatCpuSeconds(const std::string& path, std::string* name = nullptr) {
  std::ifstream in(path);
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Fields after the command name (which may hold spaces) in parentheses:
  // state is field 3, utime 14, stime 15.
  const size_t open = stat.find('('), close = stat.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) return 0;
  if (name != nullptr) *name = stat.substr(open + 1, close - open - 1);
  std::vector<std::string> fields = absl::StrSplit(stat.substr(close + 2), ' ');
  double utime = 0, stime = 0;
  if (fields.size() < 13 || !absl::SimpleAtod(fields[11], &utime) || !absl::SimpleAtod(fields[12], &stime)) return 0;
  return (utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

}  // namespace

double CpuSeconds(pid_t pid) { return StatCpuSeconds(absl::StrCat("/proc/", pid, "/stat")); }

std::map<std::string, double> ThreadCpuSeconds() {
  std::map<std::string, double> by_name;
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task", ec)) {
    std::string name;
    const double cpu = StatCpuSeconds((task.path() / "stat").string(), &name);
    if (!name.empty()) by_name[name] += cpu;
  }
  return by_name;
}

std::vector<int> AllowedCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (::sched_getaffinity(0, sizeof(set), &set) != 0) return cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  }
  return cpus;
}

void PinProcess(pid_t pid, const std::vector<int>& cpus) {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int cpu : cpus) CPU_SET(cpu, &set);
  const std::string tasks = absl::StrCat("/proc/", pid, "/task");
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(tasks, ec)) {
    pid_t tid = 0;
    if (!absl::SimpleAtoi(entry.path().filename().string(), &tid)) continue;
    // A thread that ended since the listing is no longer there to pin.
    if (::sched_setaffinity(tid, sizeof(set), &set) != 0 && errno != ESRCH) {
      Die(absl::StrCat("cannot pin thread ", tid, " of process ", pid, ": ", std::strerror(errno)));
    }
  }
  if (ec) Die(absl::StrCat("cannot list ", tasks, ": ", ec.message()));
}

void ReturnFreedMemory() {
  const std::string purge = absl::StrCat("arena.", MALLCTL_ARENAS_ALL, ".purge");
  if (mallctl(purge.c_str(), nullptr, nullptr, nullptr, 0) != 0) Die("jemalloc refused to purge its arenas");
}

youma::v1::CampaignSpec RedPacketCampaign(int64_t budget_fen, absl::Time start) {
  youma::v1::CampaignSpec spec;
  spec.set_name("bench red packets");
  spec.set_budget_fen(budget_fen);
  auto* tier = spec.add_tiers();
  tier->set_name("red packet");
  tier->set_amount_fen(100);
  tier->set_probability_ppm(100'000);
  *spec.mutable_start_time() = common::ToProtoTime(start);
  *spec.mutable_end_time() = common::ToProtoTime(absl::Now() + absl::Hours(24));
  return spec;
}

double CounterTotal(prometheus::Registry& registry, const std::string& name) {
  double total = 0;
  for (const auto& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const auto& metric : family.metric) total += metric.counter.value;
  }
  return total;
}

std::vector<std::string> BenchServer::Codes(int n, uint64_t* first_code_id, youma::v1::ActivationPolicy activation) {
  auto channel = grpc::CreateChannel(app_->address(), grpc::InsecureChannelCredentials());
  auto issuer = youma::v1::IssuerService::NewStub(channel);
  auto ctx = [&] {
    auto c = std::make_unique<grpc::ClientContext>();
    c->AddMetadata("authorization", "Bearer " + admin_token_);
    return c;
  };
  youma::v1::CreateProductRequest p;
  p.set_gtin("06901234567892");
  p.set_name("bench");
  youma::v1::Product product;
  const grpc::Status made = issuer->CreateProduct(ctx().get(), p, &product);
  if (!made.ok() && made.error_code() != grpc::ALREADY_EXISTS) Check(made, "product");
  youma::v1::CreateBatchRequest breq;
  breq.set_gtin("06901234567892");
  breq.set_kind(youma::v1::BATCH_KIND_BOTTLE);
  breq.set_quantity(n);
  breq.set_activation(activation);
  breq.set_request_id(absl::StrCat("bench-", absl::ToUnixNanos(absl::Now())));
  youma::v1::Batch batch;
  Check(issuer->CreateBatch(ctx().get(), breq, &batch), "batch");
  if (first_code_id != nullptr) *first_code_id = batch.first_code_id();
  std::vector<std::string> codes;
  youma::v1::StreamCodesRequest sreq;
  sreq.set_batch_id(batch.batch_id());
  auto c = ctx();
  auto reader = issuer->StreamCodes(c.get(), sreq);
  youma::v1::CodeChunk chunk;
  while (reader->Read(&chunk)) {
    for (const auto& code : chunk.codes()) codes.push_back(code.url());
  }
  Check(reader->Finish(), "stream codes");
  return codes;
}

BenchServer::BenchServer(const std::function<void(app::AppOptions&)>& customize) {
  // As youma's main does: Debian's Abseil leaves the mutex deadlock detector on.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  if (sodium_init() < 0) Die("libsodium failed to initialise");
  char tmpl[] = "/tmp/youma-bench-XXXXXX";
  dir_ = mkdtemp(tmpl);
  auto db = storage::LocalMariaDb::Start({.data_dir = dir_ + "/db", .buffer_pool = "512M"});
  Check(db.status(), "starting MariaDB");
  db_ = *std::move(db);
  master_ = codegen::NewMasterKey();
  std::filesystem::create_directories(dir_ + "/keysets");
  auto ks = codegen::Keyset::Create({.brand = "bench"}, absl::Now());
  Check(ks.status(), "keyset");
  Check(common::SaveKeyset(dir_ + "/keysets/bench.keyset", *ks, master_), "keyset file");
  app::AppOptions options = app::LoopbackOptions(dir_, db_->config(), master_);
  if (customize) customize(options);
  auto app = app::App::Start(std::move(options));
  Check(app.status(), "starting the server");
  app_ = *std::move(app);
  auto token = app_->tokens().Create("bench", youma::v1::ROLE_ADMIN, "bench");
  Check(token.status(), "token");
  admin_token_ = token->token;
}

BenchServer::~BenchServer() {
  app_->Shutdown(absl::Seconds(5));
  app_.reset();
  db_.reset();
  std::filesystem::remove_all(dir_);
}

}  // namespace youma::bench
