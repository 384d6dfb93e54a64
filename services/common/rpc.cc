#include "services/common/rpc.h"

#include <pthread.h>

#include <chrono>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace youma::common {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

Executor::Executor(int threads) {
  for (int i = 0; i < threads; ++i) {
    threads_.emplace_back([this] {
      pthread_setname_np(pthread_self(), "rpc-executor");
      for (;;) {
        std::function<void()> work;
        {
          std::unique_lock<std::mutex> lock(mu_);
          cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
          if (queue_.empty()) return;
          work = std::move(queue_.front());
          queue_.pop_front();
        }
        work();
      }
    });
  }
}

Executor::~Executor() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void Executor::Post(std::function<void()> work) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(work));
  }
  cv_.notify_one();
}

namespace {

const char* CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::OK: return "OK";
    case grpc::CANCELLED: return "CANCELLED";
    case grpc::UNKNOWN: return "UNKNOWN";
    case grpc::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::NOT_FOUND: return "NOT_FOUND";
    case grpc::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::ABORTED: return "ABORTED";
    case grpc::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::INTERNAL: return "INTERNAL";
    case grpc::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::DATA_LOSS: return "DATA_LOSS";
    case grpc::UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: return "OTHER";
  }
}

}  // namespace

RpcMetrics::RpcMetrics(prometheus::Registry& registry)
    : requests_(prometheus::BuildCounter()
                    .Name("youma_rpc_requests_total")
                    .Help("gRPC calls by service, method and status code")
                    .Register(registry)),
      duration_(prometheus::BuildHistogram()
                    .Name("youma_rpc_duration_seconds")
                    .Help("gRPC call latency by service and method")
                    .Register(registry)) {}

RpcMetrics::Method* RpcMetrics::For(const std::string& service, const std::string& method) {
  std::lock_guard<std::mutex> lock(mu_);
  std::unique_ptr<Method>& m = methods_[{service, method}];
  if (m == nullptr) {
    prometheus::Histogram* duration =
        &duration_.Add({{"service", service}, {"method", method}},
                       prometheus::Histogram::BucketBoundaries{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                               0.1, 0.25, 0.5, 1, 2.5, 5, 10});
    m.reset(new Method(this, service, method, duration));
  }
  return m.get();
}

prometheus::Counter* RpcMetrics::RequestCounter(const Method& m, grpc::StatusCode code) {
  std::lock_guard<std::mutex> lock(mu_);
  // The family hands back the same child for the same labels, so two threads
  // making a code's counter at once make one.
  return &requests_.Add({{"service", m.service_}, {"method", m.method_}, {"code", CodeName(code)}});
}

void RpcMetrics::Method::Record(grpc::StatusCode code, double seconds) {
  const size_t i = code >= 0 && code < 17 ? static_cast<size_t>(code) : 17;
  prometheus::Counter* counter = requests_[i].load(std::memory_order_acquire);
  if (counter == nullptr) {
    counter = owner_->RequestCounter(*this, code);
    requests_[i].store(counter, std::memory_order_release);
  }
  counter->Increment();
  duration_->Observe(seconds);
}

RpcMetrics::Method* RpcContext::MethodMetrics(const char* method) {
  std::lock_guard<std::mutex> lock(mu_);
  RpcMetrics::Method*& m = methods_[method];
  if (m == nullptr) m = metrics_->For(service_, method);
  return m;
}

absl::StatusOr<Principal> RpcContext::Authenticate(grpc::CallbackServerContext* ctx) {
  const auto& md = ctx->client_metadata();
  auto it = md.find("authorization");
  const std::string header = it == md.end() ? "" : std::string(it->second.data(), it->second.size());
  return tokens_->Authenticate(header);
}

void RpcContext::WithCaller(grpc::CallbackServerContext* ctx,
                            std::function<void(absl::StatusOr<Principal>)> then) {
  const auto& md = ctx->client_metadata();
  auto it = md.find("authorization");
  const absl::string_view header =
      it == md.end() ? absl::string_view() : absl::string_view(it->second.data(), it->second.size());
  if (std::optional<absl::StatusOr<Principal>> cached = tokens_->AuthenticateCached(header)) {
    then(*std::move(cached));
    return;
  }
  executor_->Post([this, ctx, then = std::move(then)] { then(Authenticate(ctx)); });
}

grpc::ServerUnaryReactor* RpcContext::Unary(grpc::CallbackServerContext* ctx, const char* method,
                                            std::function<absl::Status(const Principal&)> work) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  const auto start = std::chrono::steady_clock::now();
  executor_->Post([this, ctx, reactor, method, work = std::move(work), start] {
    absl::Status status;
    absl::StatusOr<Principal> who = Authenticate(ctx);
    if (!who.ok()) {
      status = who.status();
    } else if (ctx->IsCancelled()) {
      status = absl::CancelledError("the client cancelled the call");
    } else {
      status = work(*who);
    }
    const grpc::Status grpc_status = ToGrpcStatus(status);
    Finished(method, who.ok() ? &*who : nullptr, grpc_status,
             std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    reactor->Finish(grpc_status);
  });
  return reactor;
}

void RpcContext::Finished(const char* method, const Principal* who, const grpc::Status& status,
                          double seconds, nlohmann::json details) {
  Record(method, status.error_code(), seconds);
  if (log_ == nullptr) return;
  nlohmann::json fields = {{"service", service_},
                           {"method", method},
                           {"code", CodeName(status.error_code())},
                           {"ms", std::round(seconds * 1e4) / 10}};
  fields.update(details);
  if (who != nullptr) {
    fields["brand"] = who->brand;
    fields["role"] = std::string(RoleName(who->role));
    fields["token_id"] = who->token_id;
  }
  if (!status.ok()) fields["message"] = status.error_message();
  switch (status.error_code()) {
    case grpc::StatusCode::INTERNAL:
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::DATA_LOSS: log_->Error("rpc", std::move(fields)); break;
    case grpc::StatusCode::UNAVAILABLE: log_->Warn("rpc", std::move(fields)); break;
    default: log_->Info("rpc", std::move(fields));
  }
}

}  // namespace youma::common
