// Plumbing shared by every gRPC service: the executor that runs handlers off
// gRPC's threads, status conversion, authentication and per-method metrics.
//
//   grpc::ServerUnaryReactor* CreateBatch(grpc::CallbackServerContext* ctx,
//                                         const CreateBatchRequest* req, Batch* resp) override {
//     return rpc_.Unary(ctx, "CreateBatch", [=](const Principal& who) {
//       YOUMA_ASSIGN_OR_RETURN(*resp, issuer_->CreateBatch(who, *req));
//       return absl::OkStatus();
//     });
//   }
#pragma once

#include <grpcpp/grpcpp.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "services/common/auth.h"
#include "services/common/event_log.h"

namespace youma::common {

// absl and gRPC share the canonical codes; this is the one place they meet.
grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

// A fixed pool of threads for blocking work (database calls).
class Executor {
 public:
  explicit Executor(int threads);
  ~Executor();  // finishes queued work, then joins
  void Post(std::function<void()> work);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

// youma_rpc_requests_total{service,method,code} and
// youma_rpc_duration_seconds{service,method}. Thread-safe.
class RpcMetrics {
 public:
  // One method's series, made once: recording a call allocates nothing and
  // takes no lock (a status code's counter is made on its first use).
  class Method {
   public:
    void Record(grpc::StatusCode code, double seconds);

   private:
    friend class RpcMetrics;
    Method(RpcMetrics* owner, std::string service, std::string method, prometheus::Histogram* duration)
        : owner_(owner), service_(std::move(service)), method_(std::move(method)), duration_(duration) {}
    RpcMetrics* owner_;
    const std::string service_, method_;
    prometheus::Histogram* duration_;
    // By status code, 0 to 16, then any other.
    std::array<std::atomic<prometheus::Counter*>, 18> requests_{};
  };

  explicit RpcMetrics(prometheus::Registry& registry);
  // The series of `service`'s `method`, which live as long as this object.
  Method* For(const std::string& service, const std::string& method);
  // For callers whose method names vary (the web front's routes).
  void Record(const std::string& service, const std::string& method, grpc::StatusCode code,
              double seconds) {
    For(service, method)->Record(code, seconds);
  }

 private:
  prometheus::Counter* RequestCounter(const Method& m, grpc::StatusCode code);

  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& duration_;
  std::mutex mu_;
  std::map<std::pair<std::string, std::string>, std::unique_ptr<Method>> methods_;
};

// Per-service helper binding the executor, the token store, metrics and the
// call log: every call but the Scan RPC's gets one `rpc` line in `log` (null:
// none) with its method, caller, status and time, an access log and audit
// trail of who issued, revoked, exported or launched what.
class RpcContext {
 public:
  RpcContext(std::string service, Executor* executor, TokenStore* tokens, RpcMetrics* metrics,
             EventLog* log = nullptr)
      : service_(std::move(service)), executor_(executor), tokens_(tokens), metrics_(metrics), log_(log) {}

  // Authenticates, runs `work` on the executor and finishes with its status.
  grpc::ServerUnaryReactor* Unary(grpc::CallbackServerContext* ctx, const char* method,
                                  std::function<absl::Status(const Principal&)> work);
  absl::StatusOr<Principal> Authenticate(grpc::CallbackServerContext* ctx);
  // Runs `then` with the caller (or why not): at once on the calling thread
  // when the token is cached, else on the executor after the database lookup.
  // For handlers whose work never blocks (the scan path), this saves a thread
  // hop per call.
  void WithCaller(grpc::CallbackServerContext* ctx,
                  std::function<void(absl::StatusOr<Principal>)> then);
  // `method`'s series, to record calls with no lookup (the Scan RPC's, whose
  // calls are too many to log). `method` is a string literal: its series are
  // found by its address.
  RpcMetrics::Method* MethodMetrics(const char* method);
  void Record(const char* method, grpc::StatusCode code, double seconds) {
    MethodMetrics(method)->Record(code, seconds);
  }
  // Records a finished call and logs it: `who` is the caller, null when the
  // call failed before it was known. Server faults (INTERNAL, UNKNOWN,
  // DATA_LOSS) are logged as errors, UNAVAILABLE as a warning. `details` are
  // further fields of the line (a stream's counts, say).
  void Finished(const char* method, const Principal* who, const grpc::Status& status, double seconds,
                nlohmann::json details = nlohmann::json::object());
  Executor* executor() { return executor_; }

 private:
  const std::string service_;
  Executor* executor_;
  TokenStore* tokens_;
  RpcMetrics* metrics_;
  EventLog* log_;
  std::mutex mu_;
  std::map<const char*, RpcMetrics::Method*> methods_;
};

}  // namespace youma::common

// Defines a unary handler of `Impl` (which has an `RpcContext* rpc_`): it
// authorizes the caller for the request's brand with `Roles` (a macro naming
// a braced list of roles, since braces do not protect commas in macro
// arguments), evaluates `Call` (an absl::StatusOr of the response, with
// `brand` and `req` in scope) and maps the status.
#define YOUMA_BRAND_UNARY(Impl, Method, Req, Resp, Roles, Call)                                 \
  grpc::ServerUnaryReactor* Impl::Method(grpc::CallbackServerContext* ctx, const Req* req,    \
                                         Resp* resp) {                                         \
    return rpc_->Unary(ctx, #Method, [this, req, resp](const ::youma::common::Principal& who) -> absl::Status { \
      YOUMA_ASSIGN_OR_RETURN(const std::string brand, ::youma::common::Authorize(who, req->brand(), Roles));   \
      YOUMA_ASSIGN_OR_RETURN(*resp, Call);                                                     \
      return absl::OkStatus();                                                                 \
    });                                                                                        \
  }

