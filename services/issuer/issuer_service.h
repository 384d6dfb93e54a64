// gRPC front of the issuer (callback API): each handler authenticates,
// authorises the brand and role, calls the Issuer and maps the status.
#pragma once

#include "services/common/keyset_registry.h"
#include "services/common/rpc.h"
#include "services/issuer/issuer.h"
#include "youma/v1/admin.grpc.pb.h"
#include "youma/v1/issuer.grpc.pb.h"

namespace youma::issuer {

class IssuerServiceImpl final : public youma::v1::IssuerService::CallbackService {
 public:
  IssuerServiceImpl(Issuer* issuer, common::RpcContext* rpc) : issuer_(issuer), rpc_(rpc) {}

  grpc::ServerUnaryReactor* CreateProduct(grpc::CallbackServerContext* ctx,
                                          const youma::v1::CreateProductRequest* req,
                                          youma::v1::Product* resp) override;
  grpc::ServerUnaryReactor* GetProduct(grpc::CallbackServerContext* ctx,
                                       const youma::v1::GetProductRequest* req,
                                       youma::v1::Product* resp) override;
  grpc::ServerUnaryReactor* ListProducts(grpc::CallbackServerContext* ctx,
                                         const youma::v1::ListProductsRequest* req,
                                         youma::v1::ListProductsResponse* resp) override;
  grpc::ServerUnaryReactor* CreateDealer(grpc::CallbackServerContext* ctx,
                                         const youma::v1::CreateDealerRequest* req,
                                         youma::v1::Dealer* resp) override;
  grpc::ServerUnaryReactor* GetDealer(grpc::CallbackServerContext* ctx,
                                      const youma::v1::GetDealerRequest* req,
                                      youma::v1::Dealer* resp) override;
  grpc::ServerUnaryReactor* ListDealers(grpc::CallbackServerContext* ctx,
                                        const youma::v1::ListDealersRequest* req,
                                        youma::v1::ListDealersResponse* resp) override;
  grpc::ServerUnaryReactor* CreateBatch(grpc::CallbackServerContext* ctx,
                                        const youma::v1::CreateBatchRequest* req,
                                        youma::v1::Batch* resp) override;
  grpc::ServerUnaryReactor* GetBatch(grpc::CallbackServerContext* ctx,
                                     const youma::v1::GetBatchRequest* req,
                                     youma::v1::Batch* resp) override;
  grpc::ServerUnaryReactor* ListBatches(grpc::CallbackServerContext* ctx,
                                        const youma::v1::ListBatchesRequest* req,
                                        youma::v1::ListBatchesResponse* resp) override;
  grpc::ServerWriteReactor<youma::v1::CodeChunk>* StreamCodes(
      grpc::CallbackServerContext* ctx, const youma::v1::StreamCodesRequest* req) override;
  grpc::ServerUnaryReactor* ActivateRange(grpc::CallbackServerContext* ctx,
                                          const youma::v1::RangeChangeRequest* req,
                                          youma::v1::RangeChange* resp) override;
  grpc::ServerUnaryReactor* FreezeRange(grpc::CallbackServerContext* ctx,
                                        const youma::v1::RangeChangeRequest* req,
                                        youma::v1::RangeChange* resp) override;
  grpc::ServerUnaryReactor* UnfreezeRange(grpc::CallbackServerContext* ctx,
                                          const youma::v1::RangeChangeRequest* req,
                                          youma::v1::RangeChange* resp) override;
  grpc::ServerUnaryReactor* RevokeRange(grpc::CallbackServerContext* ctx,
                                        const youma::v1::RangeChangeRequest* req,
                                        youma::v1::RangeChange* resp) override;
  grpc::ServerUnaryReactor* ReportAggregation(grpc::CallbackServerContext* ctx,
                                              const youma::v1::AggregationReport* req,
                                              youma::v1::AggregationResult* resp) override;
  grpc::ServerUnaryReactor* UnlinkAggregation(grpc::CallbackServerContext* ctx,
                                              const youma::v1::UnlinkRequest* req,
                                              youma::v1::UnlinkResult* resp) override;
  grpc::ServerUnaryReactor* ReportShipment(grpc::CallbackServerContext* ctx,
                                           const youma::v1::ShipmentReport* req,
                                           youma::v1::Shipment* resp) override;
  grpc::ServerUnaryReactor* BeginExport(grpc::CallbackServerContext* ctx,
                                        const youma::v1::BeginExportRequest* req,
                                        youma::v1::ExportRecord* resp) override;
  grpc::ServerUnaryReactor* FinishExport(grpc::CallbackServerContext* ctx,
                                         const youma::v1::FinishExportRequest* req,
                                         youma::v1::ExportRecord* resp) override;

 private:
  grpc::ServerUnaryReactor* Range(grpc::CallbackServerContext* ctx, const char* method,
                                  youma::v1::RangeAction action,
                                  const youma::v1::RangeChangeRequest* req,
                                  youma::v1::RangeChange* resp);

  Issuer* issuer_;
  common::RpcContext* rpc_;
};

class AdminServiceImpl final : public youma::v1::AdminService::CallbackService {
 public:
  AdminServiceImpl(common::TokenStore* tokens, common::KeysetRegistry* keysets,
                   common::RpcContext* rpc)
      : tokens_(tokens), keysets_(keysets), rpc_(rpc) {}

  grpc::ServerUnaryReactor* CreateToken(grpc::CallbackServerContext* ctx,
                                        const youma::v1::CreateTokenRequest* req,
                                        youma::v1::CreateTokenResponse* resp) override;
  grpc::ServerUnaryReactor* ListTokens(grpc::CallbackServerContext* ctx,
                                       const youma::v1::ListTokensRequest* req,
                                       youma::v1::ListTokensResponse* resp) override;
  grpc::ServerUnaryReactor* RevokeToken(grpc::CallbackServerContext* ctx,
                                        const youma::v1::RevokeTokenRequest* req,
                                        youma::v1::TokenInfo* resp) override;

 private:
  common::TokenStore* tokens_;
  common::KeysetRegistry* keysets_;
  common::RpcContext* rpc_;
};

}  // namespace youma::issuer
