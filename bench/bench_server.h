// What the benchmarks stand on: a real MariaDB (the embedded launcher) under a
// temporary folder, a keyset for brand "bench", a youma server on loopback and
// an admin token for it. Benchmarks exit with a message when a step fails.
//
//   BenchServer server([](youma::app::AppOptions& o) { o.executor_threads = 64; });
//   auto channel = grpc::CreateChannel(server.app().address(), ...);
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <prometheus/registry.h>

#include "absl/status/status.h"
#include "codegen/keyset_file.h"
#include "services/app/app.h"
#include "services/storage/local_mariadb.h"
#include "youma/v1/rules.pb.h"

namespace youma::bench {

[[noreturn]] void Die(const std::string& what);
void Check(const absl::Status& status, const char* what);
void Check(const grpc::Status& status, const char* what);

// Runs `op(thread, i)` on `threads` threads for `secs` (each thread at most
// `rate_limit`/threads calls a second when set); returns calls/s and, when
// asked, every call's latency in ms. A call returning false ends the run.
double Load(int threads, double secs, const std::function<bool(int, uint64_t)>& op,
            std::vector<double>* latencies = nullptr, double rate_limit = 0);
double Percentile(std::vector<double> v, double p);
// Seconds since `start` on the steady clock.
double SecondsSince(std::chrono::steady_clock::time_point start);
// CPU seconds (user + system) a process has used so far; 0 when unknown.
double CpuSeconds(pid_t pid);
// CPU seconds this process's threads have used so far, summed by thread name
// (as `top -H` shows them: scan-writer, scan-answerer, gRPC's own threads).
// A thread that has ended no longer counts.
std::map<std::string, double> ThreadCpuSeconds();
// The CPUs this process may run on (a container may allow fewer than the
// machine has).
std::vector<int> AllowedCpus();
// Restricts every thread of process `pid` to the listed CPUs; threads made
// later inherit it from their makers. Dies when the kernel refuses.
void PinProcess(pid_t pid, const std::vector<int>& cpus);
// The sum of a Prometheus counter family's series (0 when it is not there).
double CounterTotal(prometheus::Registry& registry, const std::string& name);
// Hands the memory freed so far back to the system (jemalloc keeps freed
// pages for a while), so that a memory figure measured next is not one that
// reuses it.
void ReturnFreedMemory();
// A consumer campaign of 1-yuan red packets won by one scan in ten, with
// `budget_fen`, running from `start` until a day from now.
youma::v1::CampaignSpec RedPacketCampaign(int64_t budget_fen, absl::Time start);

class BenchServer {
 public:
  explicit BenchServer(const std::function<void(app::AppOptions&)>& customize = {});
  ~BenchServer();  // stops the server and MariaDB, removes the folder

  app::App& app() { return *app_; }
  const std::string& dir() const { return dir_; }
  const codegen::MasterKey& master_key() const { return master_; }
  const std::string& admin_token() const { return admin_token_; }
  pid_t database_pid() const { return db_->pid(); }
  // The URLs of a new batch of `n` bottle codes of product 06901234567892,
  // active at once unless `activation` says otherwise; `first_code_id`
  // (optional) gets the batch's first code id (the codes' ids follow in order).
  std::vector<std::string> Codes(int n, uint64_t* first_code_id = nullptr,
                                 youma::v1::ActivationPolicy activation = youma::v1::ACTIVATION_POLICY_IMMEDIATE);

 private:
  std::string dir_;
  codegen::MasterKey master_;
  std::unique_ptr<storage::LocalMariaDb> db_;
  std::unique_ptr<app::App> app_;
  std::string admin_token_;
};

}  // namespace youma::bench
