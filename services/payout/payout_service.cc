#include "services/payout/payout_service.h"

#include <chrono>
#include <thread>

#include "services/common/status_macros.h"

namespace youma::payout {

absl::StatusOr<std::string> PayoutServiceImpl::Brand(grpc::ServerContext* ctx, const std::string& requested) {
  const auto& md = ctx->client_metadata();
  auto it = md.find("authorization");
  const std::string header = it == md.end() ? "" : std::string(it->second.data(), it->second.size());
  YOUMA_ASSIGN_OR_RETURN(common::Principal who, tokens_->Authenticate(header));
  return common::Authorize(who, requested, {youma::v1::ROLE_ADMIN});
}

grpc::Status PayoutServiceImpl::Payouts(
    grpc::ServerContext* ctx,
    grpc::ServerReaderWriter<youma::v1::PayoutOrder, youma::v1::PayoutResult>* stream) {
  const auto start = std::chrono::steady_clock::now();
  auto finish = [&](const absl::Status& st) {
    const grpc::Status g = common::ToGrpcStatus(st);
    metrics_->Record("PayoutService", "Payouts", g.error_code(),
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    return g;
  };
  absl::StatusOr<std::string> brand = Brand(ctx, "");
  if (!brand.ok()) return finish(brand.status());
  if (*brand == common::kAllBrands) {
    return finish(absl::InvalidArgumentError("a payer connects with its brand's admin token"));
  }
  absl::StatusOr<std::string> stream_id = desk_->OpenStream(*brand);
  if (!stream_id.ok()) return finish(stream_id.status());
  if (log_ != nullptr) log_->Info("payer_stream_opened", {{"brand", *brand}, {"stream_id", *stream_id}});
  std::atomic<uint64_t> results{0};
  uint64_t sent = 0, resent = 0;
  // Results come back on their own thread; orders go out paced on this one.
  std::atomic<bool> reads_done{false};
  std::thread reader([&] {
    youma::v1::PayoutResult result;
    while (stream->Read(&result)) {
      (void)desk_->Record(*brand, result);
      ++results;
    }
    reads_done = true;
  });
  // SENT payouts of streams that ended without their results go out again
  // first, with the same payout ids. The pace is the brand's (the desk's),
  // whatever streams its payers hold.
  absl::Status status;
  while (!reads_done && !ctx->IsCancelled() && !stopping_) {
    absl::Duration wait;
    absl::StatusOr<std::vector<youma::v1::PayoutOrder>> orders = desk_->Claim(*brand, 100, *stream_id, &wait);
    if (!orders.ok()) {
      if (!absl::IsUnavailable(orders.status())) {
        status = orders.status();
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      continue;
    }
    for (const auto& order : *orders) {
      if (!stream->Write(order)) break;
      ++sent;
      resent += order.attempt() > 1;
    }
    if (orders->empty()) std::this_thread::sleep_for(absl::ToChronoNanoseconds(wait));
  }
  ctx->TryCancel();  // ends the reader if the payer is still connected
  reader.join();
  // Its payouts without results go out on the next stream at once (a
  // failure here leaves them for stream_silence).
  (void)desk_->CloseStream(*stream_id);
  if (log_ != nullptr) {
    // `resent`: orders sent again (attempt > 1) after another stream, or
    // this one's server, went away without their results.
    log_->Info("payer_stream_closed", {{"brand", *brand},
                                       {"stream_id", *stream_id},
                                       {"orders_sent", sent},
                                       {"orders_resent", resent},
                                       {"results", results.load()},
                                       {"code", absl::StatusCodeToString(status.code())}});
  }
  return finish(status);
}

grpc::Status PayoutServiceImpl::GetPayout(grpc::ServerContext* ctx, const youma::v1::GetPayoutRequest* req,
                                          youma::v1::Payout* resp) {
  const auto start = std::chrono::steady_clock::now();
  absl::Status st;
  absl::StatusOr<std::string> brand = Brand(ctx, req->brand());
  if (!brand.ok()) {
    st = brand.status();
  } else {
    absl::StatusOr<youma::v1::Payout> p = desk_->Get(*brand, req->payout_id());
    st = p.status();
    if (p.ok()) *resp = *std::move(p);
  }
  const grpc::Status g = common::ToGrpcStatus(st);
  metrics_->Record("PayoutService", "GetPayout", g.error_code(),
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return g;
}

}  // namespace youma::payout
