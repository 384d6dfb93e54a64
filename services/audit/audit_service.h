// gRPC front of the Auditor: AuditService for auditor and admin tokens.
#pragma once

#include "services/audit/auditor.h"
#include "services/common/rpc.h"
#include "youma/v1/audit.grpc.pb.h"

namespace youma::audit {

class AuditServiceImpl final : public youma::v1::AuditService::CallbackService {
 public:
  AuditServiceImpl(Auditor* auditor, common::RpcContext* rpc) : auditor_(auditor), rpc_(rpc) {}

  grpc::ServerWriteReactor<youma::v1::ScanLogChunk>* ExportScanLog(
      grpc::CallbackServerContext* ctx, const youma::v1::ExportScanLogRequest* req) override;
  grpc::ServerUnaryReactor* CounterfeitMap(grpc::CallbackServerContext* ctx,
                                           const youma::v1::CounterfeitMapRequest* req,
                                           youma::v1::CounterfeitMapResponse* resp) override;
  grpc::ServerUnaryReactor* DiversionReport(grpc::CallbackServerContext* ctx,
                                            const youma::v1::DiversionReportRequest* req,
                                            youma::v1::DiversionReportResponse* resp) override;
  grpc::ServerUnaryReactor* CodeHistory(grpc::CallbackServerContext* ctx, const youma::v1::CodeHistoryRequest* req,
                                        youma::v1::CodeHistoryResponse* resp) override;

 private:
  Auditor* auditor_;
  common::RpcContext* rpc_;
};

}  // namespace youma::audit
