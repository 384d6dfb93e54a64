#include "services/audit/audit_service.h"

#include <chrono>
#include <optional>

#include "services/common/status_macros.h"
#include "services/common/time_util.h"

namespace youma::audit {
namespace {

using common::Authorize;
using common::Principal;
using youma::v1::ROLE_ADMIN;
using youma::v1::ROLE_AUDITOR;

// Streams the scan log a chunk at a time, each read on the executor.
class ScanLogWriter final : public grpc::ServerWriteReactor<youma::v1::ScanLogChunk> {
 public:
  ScanLogWriter(Auditor* auditor, common::RpcContext* rpc, grpc::CallbackServerContext* ctx,
                const youma::v1::ExportScanLogRequest* req)
      : auditor_(auditor), rpc_(rpc), req_(req), start_(std::chrono::steady_clock::now()) {
    rpc_->executor()->Post([this, ctx] {
      absl::StatusOr<Principal> who = rpc_->Authenticate(ctx);
      absl::Status st = who.status();
      if (st.ok()) {
        who_ = *who;
        absl::StatusOr<std::string> brand = Authorize(*who, req_->brand(), {ROLE_AUDITOR, ROLE_ADMIN});
        st = brand.status();
        if (st.ok()) brand_ = *brand;
      }
      if (st.ok() && (req_->max_rows() < 0 || req_->chunk_rows() < 0 || req_->chunk_rows() > 10000)) {
        st = absl::InvalidArgumentError("max_rows must not be negative; chunk_rows is 1 to 10000");
      }
      if (!st.ok()) return Done(common::ToGrpcStatus(st));
      cursor_ = req_->cursor();
      Next();
    });
  }

  void OnWriteDone(bool ok) override {
    if (!ok) return Done(grpc::Status(grpc::CANCELLED, "the client went away"));
    rpc_->executor()->Post([this] { Next(); });
  }
  void OnDone() override { delete this; }

 private:
  void Next() {
    int rows = req_->chunk_rows() > 0 ? req_->chunk_rows() : 1000;
    if (req_->max_rows() > 0) {
      const int64_t left = req_->max_rows() - sent_;
      if (left <= 0) return Done(grpc::Status::OK);
      rows = static_cast<int>(std::min<int64_t>(rows, left));
    }
    absl::StatusOr<youma::v1::ScanLogChunk> chunk = auditor_->ReadScanLog(
        brand_, cursor_, rows,
        req_->has_from_time() ? common::FromProtoTime(req_->from_time()) : absl::InfinitePast(),
        req_->has_to_time() ? common::FromProtoTime(req_->to_time()) : absl::InfiniteFuture());
    if (!chunk.ok()) return Done(common::ToGrpcStatus(chunk.status()));
    if (chunk->rows().empty()) return Done(grpc::Status::OK);
    chunk_ = *std::move(chunk);
    cursor_ = chunk_.next_cursor();
    sent_ += chunk_.rows_size();
    StartWrite(&chunk_);
  }

  void Done(const grpc::Status& status) {
    rpc_->Finished("ExportScanLog", who_ ? &*who_ : nullptr, status,
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(),
                   {{"exported_brand", brand_}, {"rows", sent_}});
    Finish(status);
  }

  Auditor* auditor_;
  common::RpcContext* rpc_;
  const youma::v1::ExportScanLogRequest* req_;
  std::chrono::steady_clock::time_point start_;
  std::optional<Principal> who_;
  std::string brand_;
  std::string cursor_;
  int64_t sent_ = 0;
  youma::v1::ScanLogChunk chunk_;
};

}  // namespace

grpc::ServerWriteReactor<youma::v1::ScanLogChunk>* AuditServiceImpl::ExportScanLog(
    grpc::CallbackServerContext* ctx, const youma::v1::ExportScanLogRequest* req) {
  return new ScanLogWriter(auditor_, rpc_, ctx, req);
}

#define YOUMA_AUDIT_ROLES {ROLE_AUDITOR, ROLE_ADMIN}

YOUMA_BRAND_UNARY(AuditServiceImpl, CounterfeitMap, youma::v1::CounterfeitMapRequest,
                  youma::v1::CounterfeitMapResponse, YOUMA_AUDIT_ROLES, auditor_->CounterfeitMap(brand, *req))
YOUMA_BRAND_UNARY(AuditServiceImpl, DiversionReport, youma::v1::DiversionReportRequest,
                  youma::v1::DiversionReportResponse, YOUMA_AUDIT_ROLES, auditor_->DiversionReport(brand, *req))
YOUMA_BRAND_UNARY(AuditServiceImpl, CodeHistory, youma::v1::CodeHistoryRequest, youma::v1::CodeHistoryResponse,
                  YOUMA_AUDIT_ROLES, auditor_->CodeHistory(brand, *req))

}  // namespace youma::audit
