#include "services/issuer/issuer_service.h"

#include <chrono>
#include <optional>

#include "services/common/status_macros.h"

namespace youma::issuer {
namespace {

using common::Authorize;
using common::Principal;
using youma::v1::ROLE_ADMIN;
using youma::v1::ROLE_AUDITOR;
using youma::v1::ROLE_FACTORY;

}  // namespace

// Reads are open to auditors; writes need a factory or admin token.
#define YOUMA_READ {ROLE_FACTORY, ROLE_AUDITOR, ROLE_ADMIN}
#define YOUMA_WRITE {ROLE_FACTORY, ROLE_ADMIN}

#define YOUMA_UNARY(Method, Req, Resp, Roles, Call)                                      \
  grpc::ServerUnaryReactor* IssuerServiceImpl::Method(grpc::CallbackServerContext* ctx, \
                                                      const Req* req, Resp* resp) {     \
    return rpc_->Unary(ctx, #Method, [this, req, resp](const Principal& who) -> absl::Status { \
      YOUMA_ASSIGN_OR_RETURN(const std::string brand, Authorize(who, req->brand(), Roles)); \
      (void)who;                                                                        \
      YOUMA_ASSIGN_OR_RETURN(*resp, Call);                                              \
      return absl::OkStatus();                                                          \
    });                                                                                 \
  }

YOUMA_UNARY(CreateProduct, youma::v1::CreateProductRequest, youma::v1::Product, YOUMA_WRITE,
            issuer_->CreateProduct(brand, *req))
YOUMA_UNARY(GetProduct, youma::v1::GetProductRequest, youma::v1::Product, YOUMA_READ,
            issuer_->GetProduct(brand, req->gtin()))
YOUMA_UNARY(ListProducts, youma::v1::ListProductsRequest, youma::v1::ListProductsResponse,
            YOUMA_READ, issuer_->ListProducts(brand, *req))
YOUMA_UNARY(CreateDealer, youma::v1::CreateDealerRequest, youma::v1::Dealer, YOUMA_WRITE,
            issuer_->CreateDealer(brand, *req))
YOUMA_UNARY(GetDealer, youma::v1::GetDealerRequest, youma::v1::Dealer, YOUMA_READ,
            issuer_->GetDealer(brand, req->dealer_id()))
YOUMA_UNARY(ListDealers, youma::v1::ListDealersRequest, youma::v1::ListDealersResponse,
            YOUMA_READ, issuer_->ListDealers(brand, *req))
YOUMA_UNARY(CreateBatch, youma::v1::CreateBatchRequest, youma::v1::Batch, YOUMA_WRITE,
            issuer_->CreateBatch(brand, who.actor(), *req))
YOUMA_UNARY(GetBatch, youma::v1::GetBatchRequest, youma::v1::Batch, YOUMA_READ,
            issuer_->GetBatch(brand, req->batch_id()))
YOUMA_UNARY(ListBatches, youma::v1::ListBatchesRequest, youma::v1::ListBatchesResponse,
            YOUMA_READ, issuer_->ListBatches(brand, *req))
YOUMA_UNARY(ReportAggregation, youma::v1::AggregationReport, youma::v1::AggregationResult,
            YOUMA_WRITE, issuer_->ReportAggregation(brand, *req))
YOUMA_UNARY(UnlinkAggregation, youma::v1::UnlinkRequest, youma::v1::UnlinkResult, YOUMA_WRITE,
            issuer_->UnlinkAggregation(brand, who.actor(), *req))
YOUMA_UNARY(ReportShipment, youma::v1::ShipmentReport, youma::v1::Shipment, YOUMA_WRITE,
            issuer_->ReportShipment(brand, who.actor(), *req))
YOUMA_UNARY(BeginExport, youma::v1::BeginExportRequest, youma::v1::ExportRecord, YOUMA_WRITE,
            issuer_->BeginExport(brand, who.actor(), *req))
YOUMA_UNARY(FinishExport, youma::v1::FinishExportRequest, youma::v1::ExportRecord, YOUMA_WRITE,
            issuer_->FinishExport(brand, *req))

grpc::ServerUnaryReactor* IssuerServiceImpl::Range(grpc::CallbackServerContext* ctx,
                                                   const char* method,
                                                   youma::v1::RangeAction action,
                                                   const youma::v1::RangeChangeRequest* req,
                                                   youma::v1::RangeChange* resp) {
  return rpc_->Unary(ctx, method, [this, action, req, resp](const Principal& who) -> absl::Status {
    YOUMA_ASSIGN_OR_RETURN(const std::string brand, Authorize(who, req->brand(), YOUMA_WRITE));
    YOUMA_ASSIGN_OR_RETURN(*resp, issuer_->ChangeRange(brand, who.actor(), action, *req));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* IssuerServiceImpl::ActivateRange(grpc::CallbackServerContext* ctx,
                                                           const youma::v1::RangeChangeRequest* req,
                                                           youma::v1::RangeChange* resp) {
  return Range(ctx, "ActivateRange", youma::v1::RANGE_ACTION_ACTIVATE, req, resp);
}
grpc::ServerUnaryReactor* IssuerServiceImpl::FreezeRange(grpc::CallbackServerContext* ctx,
                                                         const youma::v1::RangeChangeRequest* req,
                                                         youma::v1::RangeChange* resp) {
  return Range(ctx, "FreezeRange", youma::v1::RANGE_ACTION_FREEZE, req, resp);
}
grpc::ServerUnaryReactor* IssuerServiceImpl::UnfreezeRange(grpc::CallbackServerContext* ctx,
                                                           const youma::v1::RangeChangeRequest* req,
                                                           youma::v1::RangeChange* resp) {
  return Range(ctx, "UnfreezeRange", youma::v1::RANGE_ACTION_UNFREEZE, req, resp);
}
grpc::ServerUnaryReactor* IssuerServiceImpl::RevokeRange(grpc::CallbackServerContext* ctx,
                                                         const youma::v1::RangeChangeRequest* req,
                                                         youma::v1::RangeChange* resp) {
  return Range(ctx, "RevokeRange", youma::v1::RANGE_ACTION_REVOKE, req, resp);
}

namespace {

// Streams a batch's codes. Chunks are made on the executor, one ahead of the
// network: memory stays at two chunks whatever the batch size.
class CodeWriter final : public grpc::ServerWriteReactor<youma::v1::CodeChunk> {
 public:
  CodeWriter(common::RpcContext* rpc, Issuer* issuer, grpc::CallbackServerContext* ctx,
             const youma::v1::StreamCodesRequest* req)
      : rpc_(rpc), start_(std::chrono::steady_clock::now()), batch_id_(req->batch_id()) {
    rpc_->executor()->Post([this, issuer, ctx, req] {
      absl::StatusOr<Principal> who = rpc_->Authenticate(ctx);
      absl::Status st = who.status();
      if (st.ok()) {
        who_ = *who;
        absl::StatusOr<std::string> brand = Authorize(*who, req->brand(), YOUMA_WRITE);
        st = brand.status();
        if (st.ok()) {
          absl::StatusOr<std::unique_ptr<CodeCursor>> cursor = issuer->OpenCodes(*brand, *req);
          st = cursor.status();
          if (st.ok()) cursor_ = *std::move(cursor);
        }
      }
      if (!st.ok()) {
        Done(common::ToGrpcStatus(st));
        return;
      }
      Produce();
    });
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Done(grpc::Status(grpc::CANCELLED, "the client went away"));
      return;
    }
    rpc_->executor()->Post([this] { Produce(); });
  }

  void OnDone() override { delete this; }

 private:
  void Produce() {
    if (cursor_->Next(&chunk_)) {
      codes_ += static_cast<uint64_t>(chunk_.codes_size());
      StartWrite(&chunk_);
    } else {
      Done(grpc::Status::OK);
    }
  }

  void Done(const grpc::Status& status) {
    // Who took how many codes of which batch: the audit trail of code exports.
    rpc_->Finished("StreamCodes", who_ ? &*who_ : nullptr, status,
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(),
                   {{"batch_id", batch_id_}, {"codes", codes_}});
    Finish(status);
  }

  common::RpcContext* rpc_;
  std::chrono::steady_clock::time_point start_;
  const uint64_t batch_id_;
  std::optional<Principal> who_;
  uint64_t codes_ = 0;  // handed to gRPC to send
  std::unique_ptr<CodeCursor> cursor_;
  youma::v1::CodeChunk chunk_;
};

}  // namespace

grpc::ServerWriteReactor<youma::v1::CodeChunk>* IssuerServiceImpl::StreamCodes(
    grpc::CallbackServerContext* ctx, const youma::v1::StreamCodesRequest* req) {
  return new CodeWriter(rpc_, issuer_, ctx, req);
}

// ---------------------------------------------------------------------- admin

grpc::ServerUnaryReactor* AdminServiceImpl::CreateToken(grpc::CallbackServerContext* ctx,
                                                        const youma::v1::CreateTokenRequest* req,
                                                        youma::v1::CreateTokenResponse* resp) {
  return rpc_->Unary(ctx, "CreateToken", [this, req, resp](const Principal& who) -> absl::Status {
    YOUMA_ASSIGN_OR_RETURN(const std::string brand, Authorize(who, req->brand(), {ROLE_ADMIN}));
    if (brand != common::kAllBrands) YOUMA_RETURN_IF_ERROR(keysets_->Get(brand).status());
    YOUMA_ASSIGN_OR_RETURN(common::TokenStore::Created created,
                           tokens_->Create(brand, req->role(), req->description()));
    *resp->mutable_info() = created.info;
    resp->set_token(created.token);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::ListTokens(grpc::CallbackServerContext* ctx,
                                                       const youma::v1::ListTokensRequest* req,
                                                       youma::v1::ListTokensResponse* resp) {
  return rpc_->Unary(ctx, "ListTokens", [this, req, resp](const Principal& who) -> absl::Status {
    YOUMA_ASSIGN_OR_RETURN(const std::string brand, Authorize(who, req->brand(), {ROLE_ADMIN}));
    YOUMA_ASSIGN_OR_RETURN(auto tokens, tokens_->List(brand));
    for (auto& t : tokens) *resp->add_tokens() = std::move(t);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::RevokeToken(grpc::CallbackServerContext* ctx,
                                                        const youma::v1::RevokeTokenRequest* req,
                                                        youma::v1::TokenInfo* resp) {
  return rpc_->Unary(ctx, "RevokeToken", [this, req, resp](const Principal& who) -> absl::Status {
    absl::StatusOr<youma::v1::TokenInfo> token = tokens_->Get(req->token_id());
    // Another brand's token looks exactly like a missing one.
    if (!token.ok() || !Authorize(who, token->brand(), {ROLE_ADMIN}).ok()) {
      if (token.ok() || absl::IsNotFound(token.status())) {
        return absl::NotFoundError("no such token");
      }
      return token.status();
    }
    YOUMA_ASSIGN_OR_RETURN(*resp, tokens_->Revoke(req->token_id()));
    return absl::OkStatus();
  });
}

}  // namespace youma::issuer
