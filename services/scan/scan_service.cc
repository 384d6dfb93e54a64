#include "services/scan/scan_service.h"

#include <grpcpp/support/message_allocator.h>

#include <chrono>
#include <deque>
#include <mutex>
#include <optional>
#include <vector>

#include "services/common/status_macros.h"

namespace youma::scan {

using common::Authorize;
using common::Principal;
using youma::v1::ROLE_ADMIN;
using youma::v1::ROLE_AUDITOR;
using youma::v1::ROLE_SCANNER;

// One unary Scan's request and answer, reused from call to call through
// ScanCallPool. They are plain heap messages, kept between calls: clearing a
// message keeps its strings' buffers, so a pooled call parses the next
// request and writes the next answer into memory it already has, and the
// pipeline works on both in place. (On a protobuf arena each string longer
// than a few bytes still took a heap buffer per call, and the writer thread
// that builds the answer took an arena block of its own.)
class ScanCall final : public grpc::MessageHolder<youma::v1::ScanRequest, youma::v1::ScanAnswer> {
 public:
  explicit ScanCall(ScanCallPool* pool) : pool_(pool) {
    set_request(&request_);
    set_response(&answer_);
  }
  void Release() override;
  // Readies the messages for the next call. A call that brought or answered
  // unusually large messages gives their memory back instead of keeping it.
  void Reset() {
    Recycle(request_);
    Recycle(answer_);
  }

  grpc::CallbackServerContext* ctx = nullptr;
  grpc::ServerUnaryReactor* reactor = nullptr;
  std::chrono::steady_clock::time_point start;

 private:
  // Scans and answers are a few hundred bytes; anything far beyond is not
  // kept for the next call.
  static constexpr size_t kKeepBytes = 2048;
  template <typename Message>
  static void Recycle(Message& m) {
    if (m.ByteSizeLong() > kKeepBytes) {
      Message().Swap(&m);
    } else {
      m.Clear();
    }
  }

  youma::v1::ScanRequest request_;
  youma::v1::ScanAnswer answer_;
  ScanCallPool* pool_;
};

// gRPC asks this for each Scan call's messages; finished calls come back.
class ScanCallPool final : public grpc::MessageAllocator<youma::v1::ScanRequest, youma::v1::ScanAnswer> {
 public:
  ~ScanCallPool() override {
    for (ScanCall* c : free_) delete c;
  }
  grpc::MessageHolder<youma::v1::ScanRequest, youma::v1::ScanAnswer>* AllocateMessages() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!free_.empty()) {
        ScanCall* c = free_.back();
        free_.pop_back();
        return c;
      }
    }
    return new ScanCall(this);
  }
  void Put(ScanCall* call) {
    call->Reset();
    {
      std::lock_guard<std::mutex> lock(mu_);
      // Enough for the calls a busy server holds at once (a few MiB at
      // most); a burst beyond that is given back to the heap.
      if (free_.size() < 4096) {
        free_.push_back(call);
        return;
      }
    }
    delete call;
  }

 private:
  std::mutex mu_;
  std::vector<ScanCall*> free_;
};

void ScanCall::Release() { pool_->Put(this); }

namespace {

// One scan stream: answers go out as their scans become durable, one write at
// a time; the stream ends when the client is done and every answer is out.
class ScanStream final : public grpc::ServerBidiReactor<youma::v1::ScanRequest, youma::v1::ScanAnswer> {
 public:
  ScanStream(ScanPipeline* pipeline, common::RpcContext* rpc, grpc::CallbackServerContext* ctx)
      : pipeline_(pipeline), rpc_(rpc), start_(std::chrono::steady_clock::now()) {
    state_ = std::make_shared<State>();
    state_->stream = this;
    rpc_->WithCaller(ctx, [this](absl::StatusOr<Principal> who) {
      absl::Status st = who.status();
      if (st.ok()) st = Authorize(*who, "", {ROLE_SCANNER, ROLE_ADMIN}).status();
      if (st.ok() && who->all_brands()) {
        st = absl::InvalidArgumentError("StreamScans needs a brand's scanner token");
      }
      if (who.ok()) who_ = *who;
      if (!st.ok()) {
        Done(common::ToGrpcStatus(st));
        return;
      }
      brand_ = who->brand;
      StartRead(&request_);
    });
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      std::lock_guard<std::mutex> lock(state_->mu);
      state_->reads_done = true;
      MaybeFinishLocked();
      return;
    }
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      ++state_->outstanding;
    }
    // The scan and its answer stay together until the answer is written.
    auto* scan = new Scan{state_, {}, {}};
    scan->request.Swap(&request_);
    auto deliver = [scan](const absl::Status& st) {
      std::unique_ptr<Scan> owned(scan);
      State& state = *scan->state;
      std::lock_guard<std::mutex> lock(state.mu);
      --state.outstanding;
      if (state.stream == nullptr) return;  // the call is over
      if (!st.ok()) {
        scan->answer.Clear();
        scan->answer.set_client_scan_id(scan->request.client_scan_id());
        scan->answer.set_error_code(static_cast<int>(st.code()));
        scan->answer.set_error_message(std::string(st.message()));
      }
      state.queue.push_back(std::move(owned));
      state.stream->WriteNextLocked();
    };
    if (!scan->request.brand().empty() && scan->request.brand() != brand_) {
      deliver(absl::PermissionDeniedError("your token is for another brand"));
    } else {
      // A stream that ended (the client went away) records none of the
      // scans still waiting.
      pipeline_->Submit(brand_, scan->request, &scan->answer, std::move(deliver), [scan] {
        std::lock_guard<std::mutex> lock(scan->state->mu);
        return scan->state->finished;
      });
    }
    StartRead(&request_);
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->writing = false;
    state_->queue.pop_front();
    if (!ok) {
      state_->failed = true;
      Done(grpc::Status(grpc::CANCELLED, "the client went away"));
      return;
    }
    ++state_->answered;
    WriteNextLocked();
    MaybeFinishLocked();
  }

  void OnDone() override {
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      state_->stream = nullptr;
      // Answers never written (the client went away) hold the state.
      state_->queue.clear();
    }
    delete this;
  }

 private:
  struct Scan;
  struct State {
    std::mutex mu;
    ScanStream* stream = nullptr;
    std::deque<std::unique_ptr<Scan>> queue;  // answered, to be written
    int outstanding = 0;
    bool writing = false;
    uint64_t answered = 0;  // answers written
    bool reads_done = false;
    bool finished = false;
    bool failed = false;
  };
  struct Scan {
    std::shared_ptr<State> state;
    youma::v1::ScanRequest request;
    youma::v1::ScanAnswer answer;
  };

  void WriteNextLocked() {
    if (state_->writing || state_->queue.empty() || state_->finished) return;
    state_->writing = true;
    // Answers come a group at a time: while more wait behind this one, let
    // gRPC hold it and send them together (the last one goes out at once).
    grpc::WriteOptions options;
    if (state_->queue.size() > 1) options.set_buffer_hint();
    StartWrite(&state_->queue.front()->answer, options);
  }

  void MaybeFinishLocked() {
    if (state_->reads_done && state_->outstanding == 0 && state_->queue.empty() && !state_->writing) {
      Done(grpc::Status::OK);
    }
  }

  void Done(const grpc::Status& status) {
    if (state_->finished) return;
    state_->finished = true;
    rpc_->Finished("StreamScans", who_ ? &*who_ : nullptr, status,
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(),
                   {{"answers", state_->answered}});
    Finish(status);
  }

  ScanPipeline* pipeline_;
  common::RpcContext* rpc_;
  std::chrono::steady_clock::time_point start_;
  std::shared_ptr<State> state_;
  std::optional<Principal> who_;
  std::string brand_;
  youma::v1::ScanRequest request_;
};

}  // namespace

ScanServiceImpl::ScanServiceImpl(ScanPipeline* pipeline, common::RpcContext* rpc)
    : pipeline_(pipeline), rpc_(rpc), scan_metrics_(rpc->MethodMetrics("Scan")),
      calls_(std::make_unique<ScanCallPool>()) {
  SetMessageAllocatorFor_Scan(calls_.get());
}

ScanServiceImpl::~ScanServiceImpl() = default;

grpc::ServerUnaryReactor* ScanServiceImpl::Scan(grpc::CallbackServerContext* ctx, const youma::v1::ScanRequest*,
                                                youma::v1::ScanAnswer*) {
  // The request and answer are the call's (see ScanCall); the lambdas below
  // hold one pointer, which std::function keeps without allocating.
  auto* call = static_cast<ScanCall*>(ctx->GetRpcAllocatorState());
  call->ctx = ctx;
  call->reactor = ctx->DefaultReactor();
  call->start = std::chrono::steady_clock::now();
  grpc::ServerUnaryReactor* reactor = call->reactor;
  struct Then {
    ScanServiceImpl* service;
    ScanCall* call;
    void operator()(absl::StatusOr<Principal> who) const { service->ScanAs(call, who); }
  };
  rpc_->WithCaller(ctx, Then{this, call});
  return reactor;
}

void ScanServiceImpl::ScanAs(ScanCall* call, const absl::StatusOr<Principal>& who) {
  if (!who.ok()) return Finish(call, who.status());
  absl::StatusOr<std::string> brand = Authorize(*who, call->request()->brand(), {ROLE_SCANNER, ROLE_ADMIN});
  if (!brand.ok()) return Finish(call, brand.status());
  struct Answered {
    ScanServiceImpl* service;
    ScanCall* call;
    void operator()(const absl::Status& st) const { service->Finish(call, st); }
  };
  // The context lives until the call is finished, which is after the
  // pipeline's last look at it.
  grpc::CallbackServerContext* ctx = call->ctx;
  pipeline_->Submit(*brand, *call->request(), call->response(), Answered{this, call},
                    [ctx] { return ctx->IsCancelled(); });
}

void ScanServiceImpl::Finish(ScanCall* call, const absl::Status& status) {
  const grpc::Status g = common::ToGrpcStatus(status);
  scan_metrics_->Record(g.error_code(),
                        std::chrono::duration<double>(std::chrono::steady_clock::now() - call->start).count());
  call->reactor->Finish(g);
}

grpc::ServerBidiReactor<youma::v1::ScanRequest, youma::v1::ScanAnswer>* ScanServiceImpl::StreamScans(
    grpc::CallbackServerContext* ctx) {
  return new ScanStream(pipeline_, rpc_, ctx);
}

#define YOUMA_ADMIN {ROLE_ADMIN}
#define YOUMA_AUDIT {ROLE_AUDITOR, ROLE_ADMIN}
#define YOUMA_SCANNER {ROLE_SCANNER, ROLE_ADMIN}
#define YOUMA_READ_STORES {ROLE_SCANNER, ROLE_AUDITOR, ROLE_ADMIN}

YOUMA_BRAND_UNARY(RulesServiceImpl, CreateCampaign, youma::v1::CreateCampaignRequest, youma::v1::Campaign, YOUMA_ADMIN,
                  admin_->Create(brand, req->spec()))
YOUMA_BRAND_UNARY(RulesServiceImpl, UpdateCampaign, youma::v1::UpdateCampaignRequest, youma::v1::Campaign, YOUMA_ADMIN,
                  admin_->Update(brand, req->campaign_id(), req->spec()))
YOUMA_BRAND_UNARY(RulesServiceImpl, LaunchCampaign, youma::v1::CampaignRef, youma::v1::Campaign, YOUMA_ADMIN,
                  admin_->Launch(brand, req->campaign_id()))
YOUMA_BRAND_UNARY(RulesServiceImpl, EndCampaign, youma::v1::CampaignRef, youma::v1::Campaign, YOUMA_ADMIN,
                  admin_->End(brand, req->campaign_id()))
YOUMA_BRAND_UNARY(RulesServiceImpl, GetCampaign, youma::v1::CampaignRef, youma::v1::Campaign, YOUMA_AUDIT,
                  admin_->Get(brand, req->campaign_id()))
YOUMA_BRAND_UNARY(RulesServiceImpl, ListCampaigns, youma::v1::ListCampaignsRequest, youma::v1::ListCampaignsResponse,
                  YOUMA_AUDIT, admin_->List(brand))
YOUMA_BRAND_UNARY(RulesServiceImpl, VerifyDraws, youma::v1::CampaignRef, youma::v1::DrawAudit, YOUMA_AUDIT,
                  admin_->VerifyDraws(brand, req->campaign_id()))
YOUMA_BRAND_UNARY(RulesServiceImpl, ListDiversionFlags, youma::v1::ListDiversionFlagsRequest,
                  youma::v1::ListDiversionFlagsResponse, YOUMA_AUDIT,
                  admin_->DiversionFlags(brand, *req))


YOUMA_BRAND_UNARY(StoreServiceImpl, RegisterStore, youma::v1::RegisterStoreRequest, youma::v1::RegisterStoreResponse,
                  YOUMA_SCANNER, stores_->Register(brand, *req))
YOUMA_BRAND_UNARY(StoreServiceImpl, GetStore, youma::v1::StoreRef, youma::v1::Store, YOUMA_READ_STORES,
                  stores_->Get(brand, req->store_id()))
YOUMA_BRAND_UNARY(StoreServiceImpl, ListStores, youma::v1::ListStoresRequest, youma::v1::ListStoresResponse, YOUMA_READ_STORES,
                  stores_->List(brand, *req))
YOUMA_BRAND_UNARY(StoreServiceImpl, Leaderboard, youma::v1::LeaderboardRequest, youma::v1::LeaderboardResponse,
                  YOUMA_READ_STORES, stores_->Leaderboard(brand, *req))
YOUMA_BRAND_UNARY(StoreServiceImpl, SetStorePolicy, youma::v1::StorePolicy, youma::v1::StorePolicy, YOUMA_ADMIN,
                  stores_->SetPolicy(brand, *req))
YOUMA_BRAND_UNARY(StoreServiceImpl, GetStorePolicy, youma::v1::StorePolicyRef, youma::v1::StorePolicy, YOUMA_READ_STORES,
                  stores_->GetPolicy(brand))

}  // namespace youma::scan
