// The payout outbox: awards wait here (PENDING) until a payer takes them
// (SENT) and reports the result (CONFIRMED, or FAILED; retryable failures go
// back to PENDING until max_attempts). The payout id is the award id, so a
// payout re-sent after a crash carries the same bill number and the payer (like
// WeChat Pay) pays it once.
//
//   PayoutDesk desk(&pool, {.rate_per_second = 30});
//   absl::Duration wait;
//   YOUMA_ASSIGN_OR_RETURN(auto orders, desk.Claim("moutai", 10, stream_start, &wait));
//   YOUMA_RETURN_IF_ERROR(desk.Record("moutai", result));
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
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
  int max_attempts = 5;
};

class PayoutDesk {
 public:
  PayoutDesk(storage::ConnectionPool* pool, PayoutOptions options) : pool_(pool), options_(options) {}

  // Up to `n` payouts to send now, oldest award first, within the brand's rate
  // and each user's daily caps; marks them SENT. SENT payouts without a result
  // come first when they were sent before `resend_sent_before` (by a payer
  // stream that has since ended, say in a crash) or longer than resend_after
  // ago. Claims of one brand (from any stream or server) take turns. When none
  // is returned, `wait` says when to ask again: when the rate allows the next,
  // or a short while when nothing is due.
  absl::StatusOr<std::vector<youma::v1::PayoutOrder>> Claim(const std::string& brand, int n,
                                                            absl::Time resend_sent_before, absl::Duration* wait);
  // Records the payer's answer. NOT_FOUND for another brand's or unknown id.
  absl::Status Record(const std::string& brand, const youma::v1::PayoutResult& result);
  absl::StatusOr<youma::v1::Payout> Get(const std::string& brand, const std::string& payout_id);
  const PayoutOptions& options() const { return options_; }

 private:
  storage::ConnectionPool* pool_;
  PayoutOptions options_;
};

}  // namespace youma::payout
