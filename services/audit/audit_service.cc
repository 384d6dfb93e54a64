#include "services/audit/audit_service.h"

#include <chrono>

#include "services/common/status_macros.h"

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
    absl::StatusOr<youma::v1::ScanLogChunk> chunk = auditor_->ReadScanLog(brand_, cursor_, rows);
    if (!chunk.ok()) return Done(common::ToGrpcStatus(chunk.status()));
    if (chunk->rows().empty()) return Done(grpc::Status::OK);
    chunk_ = *std::move(chunk);
    cursor_ = chunk_.next_cursor();
    sent_ += chunk_.rows_size();
    StartWrite(&chunk_);
  }

  void Done(const grpc::Status& status) {
    rpc_->Record("ExportScanLog", status.error_code(),
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
    Finish(status);
  }

  Auditor* auditor_;
  common::RpcContext* rpc_;
  const youma::v1::ExportScanLogRequest* req_;
  std::chrono::steady_clock::time_point start_;
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

grpc::ServerUnaryReactor* AuditServiceImpl::CounterfeitMap(grpc::CallbackServerContext* ctx,
                                                           const youma::v1::CounterfeitMapRequest* req,
                                                           youma::v1::CounterfeitMapResponse* resp) {
  return rpc_->Unary(ctx, "CounterfeitMap", [this, req, resp](const Principal& who) -> absl::Status {
    YOUMA_ASSIGN_OR_RETURN(const std::string brand, Authorize(who, req->brand(), {ROLE_AUDITOR, ROLE_ADMIN}));
    YOUMA_ASSIGN_OR_RETURN(*resp, auditor_->CounterfeitMap(brand, *req));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AuditServiceImpl::DiversionReport(grpc::CallbackServerContext* ctx,
                                                            const youma::v1::DiversionReportRequest* req,
                                                            youma::v1::DiversionReportResponse* resp) {
  return rpc_->Unary(ctx, "DiversionReport", [this, req, resp](const Principal& who) -> absl::Status {
    YOUMA_ASSIGN_OR_RETURN(const std::string brand, Authorize(who, req->brand(), {ROLE_AUDITOR, ROLE_ADMIN}));
    YOUMA_ASSIGN_OR_RETURN(*resp, auditor_->DiversionReport(brand, *req));
    return absl::OkStatus();
  });
}

}  // namespace youma::audit
