#include "services/scan/scan_service.h"

#include <chrono>
#include <deque>
#include <optional>

#include "services/common/status_macros.h"

namespace youma::scan {
namespace {

using common::Authorize;
using common::Principal;
using youma::v1::ROLE_ADMIN;
using youma::v1::ROLE_AUDITOR;
using youma::v1::ROLE_SCANNER;

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
    youma::v1::ScanRequest req = request_;
    auto state = state_;
    auto deliver = [state, id = req.client_scan_id()](absl::StatusOr<youma::v1::ScanAnswer> answer) {
      std::lock_guard<std::mutex> lock(state->mu);
      --state->outstanding;
      if (state->stream == nullptr) return;  // the call is over
      youma::v1::ScanAnswer out;
      if (answer.ok()) {
        out = *std::move(answer);
      } else {
        out.set_client_scan_id(id);
        out.set_error_code(static_cast<int>(answer.status().code()));
        out.set_error_message(std::string(answer.status().message()));
      }
      state->queue.push_back(std::move(out));
      state->stream->WriteNextLocked();
    };
    if (!req.brand().empty() && req.brand() != brand_) {
      deliver(absl::PermissionDeniedError("your token is for another brand"));
    } else {
      pipeline_->Submit(brand_, req, std::move(deliver));
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
    }
    delete this;
  }

 private:
  struct State {
    std::mutex mu;
    ScanStream* stream = nullptr;
    std::deque<youma::v1::ScanAnswer> queue;
    int outstanding = 0;
    bool writing = false;
    uint64_t answered = 0;  // answers written
    bool reads_done = false;
    bool finished = false;
    bool failed = false;
  };

  void WriteNextLocked() {
    if (state_->writing || state_->queue.empty() || state_->finished) return;
    state_->writing = true;
    // Answers come a group at a time: while more wait behind this one, let
    // gRPC hold it and send them together (the last one goes out at once).
    grpc::WriteOptions options;
    if (state_->queue.size() > 1) options.set_buffer_hint();
    StartWrite(&state_->queue.front(), options);
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

grpc::ServerUnaryReactor* ScanServiceImpl::Scan(grpc::CallbackServerContext* ctx,
                                                const youma::v1::ScanRequest* req,
                                                youma::v1::ScanAnswer* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  const auto start = std::chrono::steady_clock::now();
  rpc_->WithCaller(ctx, [this, req, resp, reactor, start](absl::StatusOr<Principal> who) {
    auto finish = [this, reactor, start](const absl::Status& st) {
      const grpc::Status g = common::ToGrpcStatus(st);
      rpc_->Record("Scan", g.error_code(),
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      reactor->Finish(g);
    };
    if (!who.ok()) return finish(who.status());
    absl::StatusOr<std::string> brand = Authorize(*who, req->brand(), {ROLE_SCANNER, ROLE_ADMIN});
    if (!brand.ok()) return finish(brand.status());
    pipeline_->Submit(*brand, *req, [resp, finish](absl::StatusOr<youma::v1::ScanAnswer> answer) {
      if (!answer.ok()) return finish(answer.status());
      *resp = *std::move(answer);
      finish(absl::OkStatus());
    });
  });
  return reactor;
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
