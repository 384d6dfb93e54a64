// The payout outbox: awards wait here (PENDING) until a payer takes them
// (SENT) and reports the result (CONFIRMED, or FAILED; retryable failures go
// back to PENDING until max_attempts). The payout id is the award id, so a
// payout re-sent after a crash carries the same bill number and the payer (like
// WeChat Pay) pays it once.
//
//   PayoutDesk desk(&pool, {.rate_per_second = 30});
//   YOUMA_ASSIGN_OR_RETURN(std::string stream, desk.OpenStream("moutai"));
//   absl::Duration wait;
//   YOUMA_ASSIGN_OR_RETURN(auto orders, desk.Claim("moutai", 10, stream, &wait));
//   YOUMA_RETURN_IF_ERROR(desk.Record("moutai", result));
//   desk.CloseStream(stream);
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/common/ticker.h"
#include "services/storage/mysql.h"
#include "youma/v1/payout.pb.h"

namespace youma::payout {

struct PayoutOptions {
  // WeChat Pay's default red-packet rate for one merchant: the brand's rate,
  // shared by all its payer streams on every server.
  double rate_per_second = 30;
  // WeChat Pay's default per-user caps for one day (China time).
  int user_daily_count = 10;
  int64_t user_daily_fen = 100'000;
  // SENT without a result for this long: send again (same payout id).
  absl::Duration resend_after = absl::Seconds(60);
  // A stream not heard of for this long is gone (its server died): what it
  // sent without a result goes out again at once. A desk marks its open
  // streams alive every third of this, whether or not they claim (a stream
  // blocked writing to a slow payer is alive).
  absl::Duration stream_silence = absl::Seconds(10);
  int max_attempts = 5;
};

class PayoutDesk {
 public:
  PayoutDesk(storage::ConnectionPool* pool, PayoutOptions options);
  // Stops keeping its open streams alive: to other servers they then look
  // like the streams of a server that died.
  ~PayoutDesk();

  // A payer's stream: its id, which its claims name. CloseStream when it ends.
  absl::StatusOr<std::string> OpenStream(const std::string& brand);
  absl::Status CloseStream(const std::string& stream_id);
  // Up to `n` payouts to send now on `stream_id`, oldest award first, within
  // the brand's rate and each user's daily caps; marks them SENT by it. SENT
  // payouts without a result come first when the stream that sent them is
  // closed or silent (stream_silence: its server died) or they were sent
  // longer than resend_after ago; another live stream's are left to it.
  // Claims of one brand (from any stream or server) take turns. When none is
  // returned, `wait` says when to ask again: when the rate allows the next,
  // or a short while when nothing is due.
  absl::StatusOr<std::vector<youma::v1::PayoutOrder>> Claim(const std::string& brand, int n,
                                                            const std::string& stream_id, absl::Duration* wait);
  // Records the payer's answer. NOT_FOUND for another brand's or unknown id.
  absl::Status Record(const std::string& brand, const youma::v1::PayoutResult& result);
  absl::StatusOr<youma::v1::Payout> Get(const std::string& brand, const std::string& payout_id);
  const PayoutOptions& options() const { return options_; }

 private:
  // Marks this desk's open streams alive (every stream_silence / 3).
  void Heartbeat();

  storage::ConnectionPool* pool_;
  PayoutOptions options_;
  std::mutex mu_;
  std::map<std::string, std::string> open_;  // this desk's streams (id -> brand), kept alive
  common::Ticker heartbeat_;  // last: stopped before the members it reads
};

}  // namespace youma::payout
