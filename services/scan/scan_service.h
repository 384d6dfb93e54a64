// gRPC fronts of the scan pipeline and of the rules' admin: ScanService
// (Scan, StreamScans) and RulesService.
#pragma once

#include <memory>

#include "services/common/rpc.h"
#include "services/rules/campaign_admin.h"
#include "services/rules/store_program.h"
#include "services/scan/scan_pipeline.h"
#include "youma/v1/rules.grpc.pb.h"
#include "youma/v1/scan.grpc.pb.h"
#include "youma/v1/store.grpc.pb.h"

namespace youma::scan {

class ScanCallPool;
class ScanCall;

// Scan and StreamScans. A unary Scan's request and answer come from a pool of
// reused messages that outlives the server's calls: destroy this after the
// server has shut down.
class ScanServiceImpl final : public youma::v1::ScanService::CallbackService {
 public:
  ScanServiceImpl(ScanPipeline* pipeline, common::RpcContext* rpc);
  ~ScanServiceImpl() override;

  grpc::ServerUnaryReactor* Scan(grpc::CallbackServerContext* ctx, const youma::v1::ScanRequest* req,
                                 youma::v1::ScanAnswer* resp) override;
  grpc::ServerBidiReactor<youma::v1::ScanRequest, youma::v1::ScanAnswer>* StreamScans(
      grpc::CallbackServerContext* ctx) override;

 private:
  // The rest of a unary Scan, once its caller is known.
  void ScanAs(ScanCall* call, const absl::StatusOr<common::Principal>& who);
  // Records the call's metrics and finishes it; `call` is not touched after.
  void Finish(ScanCall* call, const absl::Status& status);

  ScanPipeline* pipeline_;
  common::RpcContext* rpc_;
  common::RpcMetrics::Method* scan_metrics_;
  std::unique_ptr<ScanCallPool> calls_;
};

class RulesServiceImpl final : public youma::v1::RulesService::CallbackService {
 public:
  RulesServiceImpl(rules::CampaignAdmin* admin, common::RpcContext* rpc) : admin_(admin), rpc_(rpc) {}

  grpc::ServerUnaryReactor* CreateCampaign(grpc::CallbackServerContext* ctx,
                                           const youma::v1::CreateCampaignRequest* req,
                                           youma::v1::Campaign* resp) override;
  grpc::ServerUnaryReactor* UpdateCampaign(grpc::CallbackServerContext* ctx,
                                           const youma::v1::UpdateCampaignRequest* req,
                                           youma::v1::Campaign* resp) override;
  grpc::ServerUnaryReactor* LaunchCampaign(grpc::CallbackServerContext* ctx,
                                           const youma::v1::CampaignRef* req,
                                           youma::v1::Campaign* resp) override;
  grpc::ServerUnaryReactor* EndCampaign(grpc::CallbackServerContext* ctx,
                                        const youma::v1::CampaignRef* req,
                                        youma::v1::Campaign* resp) override;
  grpc::ServerUnaryReactor* GetCampaign(grpc::CallbackServerContext* ctx,
                                        const youma::v1::CampaignRef* req,
                                        youma::v1::Campaign* resp) override;
  grpc::ServerUnaryReactor* ListCampaigns(grpc::CallbackServerContext* ctx,
                                          const youma::v1::ListCampaignsRequest* req,
                                          youma::v1::ListCampaignsResponse* resp) override;
  grpc::ServerUnaryReactor* VerifyDraws(grpc::CallbackServerContext* ctx,
                                        const youma::v1::CampaignRef* req,
                                        youma::v1::DrawAudit* resp) override;
  grpc::ServerUnaryReactor* ListDiversionFlags(grpc::CallbackServerContext* ctx,
                                               const youma::v1::ListDiversionFlagsRequest* req,
                                               youma::v1::ListDiversionFlagsResponse* resp) override;

 private:
  rules::CampaignAdmin* admin_;
  common::RpcContext* rpc_;
};

class StoreServiceImpl final : public youma::v1::StoreService::CallbackService {
 public:
  StoreServiceImpl(rules::StoreProgram* stores, common::RpcContext* rpc) : stores_(stores), rpc_(rpc) {}

  grpc::ServerUnaryReactor* RegisterStore(grpc::CallbackServerContext* ctx,
                                          const youma::v1::RegisterStoreRequest* req,
                                          youma::v1::RegisterStoreResponse* resp) override;
  grpc::ServerUnaryReactor* GetStore(grpc::CallbackServerContext* ctx, const youma::v1::StoreRef* req,
                                     youma::v1::Store* resp) override;
  grpc::ServerUnaryReactor* ListStores(grpc::CallbackServerContext* ctx, const youma::v1::ListStoresRequest* req,
                                       youma::v1::ListStoresResponse* resp) override;
  grpc::ServerUnaryReactor* Leaderboard(grpc::CallbackServerContext* ctx,
                                        const youma::v1::LeaderboardRequest* req,
                                        youma::v1::LeaderboardResponse* resp) override;
  grpc::ServerUnaryReactor* SetStorePolicy(grpc::CallbackServerContext* ctx, const youma::v1::StorePolicy* req,
                                           youma::v1::StorePolicy* resp) override;
  grpc::ServerUnaryReactor* GetStorePolicy(grpc::CallbackServerContext* ctx,
                                           const youma::v1::StorePolicyRef* req,
                                           youma::v1::StorePolicy* resp) override;

 private:
  rules::StoreProgram* stores_;
  common::RpcContext* rpc_;
};

}  // namespace youma::scan
