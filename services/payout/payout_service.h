// PayoutService (synchronous gRPC API: one thread per payer stream, which
// paces the payouts it sends).
#pragma once

#include <atomic>

#include "services/common/auth.h"
#include "services/common/event_log.h"
#include "services/common/rpc.h"
#include "services/payout/payout_desk.h"
#include "youma/v1/payout.grpc.pb.h"

namespace youma::payout {

class PayoutServiceImpl final : public youma::v1::PayoutService::Service {
 public:
  // `log` (may be null): payer streams opened and closed, payouts re-sent.
  PayoutServiceImpl(PayoutDesk* desk, common::TokenStore* tokens, common::RpcMetrics* metrics,
                    common::EventLog* log = nullptr)
      : desk_(desk), tokens_(tokens), metrics_(metrics), log_(log) {}

  grpc::Status Payouts(grpc::ServerContext* ctx,
                       grpc::ServerReaderWriter<youma::v1::PayoutOrder, youma::v1::PayoutResult>* stream) override;
  grpc::Status GetPayout(grpc::ServerContext* ctx, const youma::v1::GetPayoutRequest* req,
                         youma::v1::Payout* resp) override;
  // Ends open payer streams (at shutdown).
  void Stop() { stopping_ = true; }

 private:
  absl::StatusOr<std::string> Brand(grpc::ServerContext* ctx, const std::string& requested);

  PayoutDesk* desk_;
  common::TokenStore* tokens_;
  common::RpcMetrics* metrics_;
  common::EventLog* log_;
  std::atomic<bool> stopping_{false};
};

}  // namespace youma::payout
