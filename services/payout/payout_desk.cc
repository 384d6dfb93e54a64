#include "services/payout/payout_desk.h"

#include <sodium.h>

#include <algorithm>
#include <map>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "services/common/status_macros.h"
#include "services/common/time_util.h"
#include "services/payout/payout_counts.h"

namespace youma::payout {
namespace {

using storage::Prepare;

// The current day in China time, as a [start, end) window in UTC.
std::pair<std::string, std::string> ChinaDayWindow(absl::Time now) {
  const absl::TimeZone cst = common::ChinaTime();
  const absl::CivilDay day = absl::ToCivilDay(now, cst);
  return {common::SqlTime(absl::FromCivil(day, cst)), common::SqlTime(absl::FromCivil(day + 1, cst))};
}

}  // namespace

PayoutDesk::PayoutDesk(storage::ConnectionPool* pool, PayoutOptions options)
    : pool_(pool), options_(options), heartbeat_(options_.stream_silence / 3, [this] { Heartbeat(); }) {}

PayoutDesk::~PayoutDesk() = default;

void PayoutDesk::Heartbeat() {
  std::map<std::string, std::string> streams;
  {
    std::lock_guard<std::mutex> lock(mu_);
    streams = open_;
  }
  if (streams.empty()) return;
  // Rows are made again when an outage outlasted them (OpenStream clears
  // day-old ones). A failure leaves the streams as they were until the next beat.
  (void)pool_->WithConnection([&](sql::Connection& c) -> absl::Status {
    const std::string now = common::SqlTime(absl::Now());
    std::string sql = "INSERT INTO payer_streams (stream_id, brand, seen_time) VALUES ";
    for (const auto& [id, brand] : streams) {
      absl::StrAppend(&sql, id == streams.begin()->first ? "(" : ",(", storage::Quote(c, id), ",",
                      storage::Quote(c, brand), ",'", now, "')");
    }
    storage::Execute(c, sql + " ON DUPLICATE KEY UPDATE seen_time = VALUES(seen_time)");
    return absl::OkStatus();
  });
}

absl::StatusOr<std::string> PayoutDesk::OpenStream(const std::string& brand) {
  unsigned char id[16];
  randombytes_buf(id, sizeof id);
  const std::string stream_id = absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(id), sizeof id));
  const absl::Time now = absl::Now();
  YOUMA_RETURN_IF_ERROR(pool_->WithConnection([&](sql::Connection& c) -> absl::Status {
    auto st = Prepare(c, "INSERT INTO payer_streams (stream_id, brand, seen_time) VALUES (?,?,?)");
    st->setString(1, stream_id);
    st->setString(2, brand);
    st->setString(3, common::SqlTime(now));
    st->executeUpdate();
    // Streams of servers that died long ago: their payouts are re-sent anyway.
    auto old = Prepare(c, "DELETE FROM payer_streams WHERE brand = ? AND seen_time < ?");
    old->setString(1, brand);
    old->setString(2, common::SqlTime(now - absl::Hours(24)));
    old->executeUpdate();
    return absl::OkStatus();
  }));
  std::lock_guard<std::mutex> lock(mu_);
  open_.emplace(stream_id, brand);
  return stream_id;
}

absl::Status PayoutDesk::CloseStream(const std::string& stream_id) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    open_.erase(stream_id);
  }
  return pool_->WithConnection([&](sql::Connection& c) -> absl::Status {
    auto st = Prepare(c, "DELETE FROM payer_streams WHERE stream_id = ?");
    st->setString(1, stream_id);
    st->executeUpdate();
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<youma::v1::PayoutOrder>> PayoutDesk::Claim(
    const std::string& brand, int n, const std::string& stream_id, absl::Duration* wait) {
  constexpr absl::Duration kIdle = absl::Milliseconds(100);  // nothing due: ask again after this
  *wait = kIdle;
  if (n <= 0) return std::vector<youma::v1::PayoutOrder>{};
  const absl::Time now = absl::Now();
  const auto [day_start, day_end] = ChinaDayWindow(now);
  const double rate = std::max(0.1, options_.rate_per_second), burst = std::max(1.0, rate);
  return pool_->InTransaction([&](sql::Connection& c) -> absl::StatusOr<std::vector<youma::v1::PayoutOrder>> {
    // The brand's bucket, locked (made with one token when missing): claims
    // take turns on it, and each sees the payouts the others marked SENT.
    double tokens = 1;
    {
      auto make = Prepare(c, "INSERT INTO payout_pacing (brand, tokens, refill_time) VALUES (?,1,?) "
                             "ON DUPLICATE KEY UPDATE brand = brand");
      make->setString(1, brand);
      make->setString(2, common::SqlTime(now));
      make->executeUpdate();
      auto get = Prepare(c, "SELECT tokens, refill_time FROM payout_pacing WHERE brand = ? FOR UPDATE");
      get->setString(1, brand);
      std::unique_ptr<sql::ResultSet> rs(get->executeQuery());
      if (!rs->next()) return absl::InternalError("the brand's payout pacing row is missing");
      const absl::Duration since = std::max(absl::ZeroDuration(), now - common::ParseSqlTime(rs->getString(2)));
      tokens = std::min(burst, static_cast<double>(rs->getDouble(1)) + rate * absl::ToDoubleSeconds(since));
    }
    auto refill = [&](double left) {
      auto put = Prepare(c, "UPDATE payout_pacing SET tokens = ?, refill_time = ? WHERE brand = ?");
      put->setDouble(1, left);
      put->setString(2, common::SqlTime(now));
      put->setString(3, brand);
      put->executeUpdate();
    };
    n = std::min(n, static_cast<int>(tokens));
    if (n == 0) {
      refill(tokens);
      *wait = std::min(kIdle, absl::Seconds((1.0 - tokens) / rate));
      return std::vector<youma::v1::PayoutOrder>{};
    }
    struct Row {
      youma::v1::PayoutOrder order;
      bool already_sent;
      int counted_state;  // the state payout_counts holds it in
    };
    std::vector<Row> rows;
    auto take = [&](const std::string& where, int limit, bool sent) {
      auto st = Prepare(c, absl::StrCat("SELECT payout_id, campaign_id, user_id, amount_fen, attempts, "
                                        "counted_state FROM payouts WHERE brand = ? AND ", where,
                                        " ORDER BY award_time LIMIT ? FOR UPDATE SKIP LOCKED"));
      st->setString(1, brand);
      st->setInt(2, limit);
      std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
      while (rs->next()) {
        Row r;
        r.order.set_payout_id(rs->getString(1));
        r.order.set_brand(brand);
        r.order.set_campaign_id(rs->getUInt64(2));
        r.order.set_user_id(rs->getString(3));
        r.order.set_amount_fen(rs->getInt64(4));
        r.order.set_attempt(rs->getInt(5) + 1);
        r.already_sent = sent;
        r.counted_state = rs->getInt(6);
        rows.push_back(std::move(r));
      }
    };
    take(absl::StrCat("state = 2 AND (sent_time < '", common::SqlTime(now - options_.resend_after),
                      "' OR sent_by IS NULL OR sent_by NOT IN (SELECT stream_id FROM payer_streams WHERE brand = ",
                      storage::Quote(c, brand), " AND seen_time >= '",
                      common::SqlTime(now - options_.stream_silence), "'))"),
         n, true);
    if (static_cast<int>(rows.size()) < n) take("state = 1", 4 * n, false);
    // Daily caps: what each user was sent or paid today (China time).
    std::map<std::string, std::pair<int, int64_t>> today;
    for (const Row& r : rows) today.emplace(r.order.user_id(), std::make_pair(0, int64_t{0}));
    for (auto& [user, used] : today) {
      auto st = Prepare(c, "SELECT COUNT(*), COALESCE(SUM(amount_fen), 0) FROM payouts WHERE brand = ? AND "
                           "user_id = ? AND state IN (2, 3) AND sent_time >= ? AND sent_time < ?");
      st->setString(1, brand);
      st->setString(2, user);
      st->setString(3, day_start);
      st->setString(4, day_end);
      std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
      if (rs->next()) used = {rs->getInt(1), rs->getInt64(2)};
    }
    std::vector<youma::v1::PayoutOrder> out;
    auto mark = Prepare(c, "UPDATE payouts SET state = 2, counted_state = 2, attempts = attempts + 1, "
                           "sent_time = ?, sent_by = ? WHERE payout_id = ?");
    StateCountChanges counts;
    for (Row& r : rows) {
      if (static_cast<int>(out.size()) >= n) break;
      auto& used = today[r.order.user_id()];
      // A re-send was counted when first sent; a new send must fit today's caps.
      if (!r.already_sent) {
        if (used.first >= options_.user_daily_count ||
            used.second + r.order.amount_fen() > options_.user_daily_fen) {
          continue;  // stays PENDING until the user's next day
        }
        ++used.first;
        used.second += r.order.amount_fen();
      }
      mark->setString(1, common::SqlTime(now));
      mark->setString(2, stream_id);
      mark->setString(3, r.order.payout_id());
      mark->executeUpdate();
      counts.Move(brand, r.order.campaign_id(), r.counted_state, youma::v1::PAYOUT_STATE_SENT);
      out.push_back(std::move(r.order));
    }
    counts.Apply(c);
    refill(tokens - static_cast<double>(out.size()));
    return out;
  });
}

absl::Status PayoutDesk::Record(const std::string& brand, const youma::v1::PayoutResult& result) {
  if (result.payout_id().size() != 32) return absl::InvalidArgumentError("payout_id is 32 hex characters");
  if (result.external_id().size() > 128 || result.error().size() > 500) {
    return absl::InvalidArgumentError("external_id is at most 128 bytes and error 500");
  }
  return pool_->InTransaction([&](sql::Connection& c) -> absl::Status {
    auto st = Prepare(c, "SELECT state, attempts, counted_state, campaign_id FROM payouts WHERE payout_id = ? AND "
                         "brand = ? FOR UPDATE");
    st->setString(1, result.payout_id());
    st->setString(2, brand);
    std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
    if (!rs->next()) return absl::NotFoundError(absl::StrCat("no payout ", result.payout_id()));
    const int state = rs->getInt(1);
    const int attempts = rs->getInt(2);
    const int counted_state = rs->getInt(3);
    const uint64_t campaign_id = rs->getUInt64(4);
    if (state == youma::v1::PAYOUT_STATE_CONFIRMED) return absl::OkStatus();  // a repeated answer
    int next;
    if (result.paid()) {
      next = youma::v1::PAYOUT_STATE_CONFIRMED;
    } else if (result.retryable() && attempts < options_.max_attempts) {
      next = youma::v1::PAYOUT_STATE_PENDING;
    } else {
      next = youma::v1::PAYOUT_STATE_FAILED;
    }
    auto up = Prepare(c, "UPDATE payouts SET state = ?, counted_state = ?, external_id = ?, last_error = ?, "
                         "result_time = ? WHERE payout_id = ?");
    up->setInt(1, next);
    up->setInt(2, next);
    up->setString(3, result.external_id());
    up->setString(4, result.error());
    up->setString(5, common::SqlTime(absl::Now()));
    up->setString(6, result.payout_id());
    up->executeUpdate();
    StateCountChanges counts;
    counts.Move(brand, campaign_id, counted_state, next);
    counts.Apply(c);
    return absl::OkStatus();
  });
}

absl::StatusOr<youma::v1::Payout> PayoutDesk::Get(const std::string& brand, const std::string& payout_id) {
  return pool_->WithConnection([&](sql::Connection& c) -> absl::StatusOr<youma::v1::Payout> {
    auto st = Prepare(c, "SELECT * FROM payouts WHERE payout_id = ? AND brand = ?");
    st->setString(1, payout_id);
    st->setString(2, brand);
    std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
    if (!rs->next()) return absl::NotFoundError(absl::StrCat("no payout ", payout_id));
    youma::v1::Payout p;
    p.set_payout_id(payout_id);
    p.set_brand(brand);
    p.set_campaign_id(rs->getUInt64("campaign_id"));
    p.set_user_id(rs->getString("user_id"));
    p.set_amount_fen(rs->getInt64("amount_fen"));
    p.set_state(static_cast<youma::v1::PayoutState>(rs->getInt("state")));
    p.set_attempts(rs->getInt("attempts"));
    p.set_external_id(rs->getString("external_id"));
    p.set_last_error(rs->getString("last_error"));
    *p.mutable_award_time() = common::ToProtoTime(common::ParseSqlTime(rs->getString("award_time")));
    if (!rs->isNull("sent_time")) *p.mutable_sent_time() = common::ToProtoTime(common::ParseSqlTime(rs->getString("sent_time")));
    if (!rs->isNull("result_time")) *p.mutable_result_time() = common::ToProtoTime(common::ParseSqlTime(rs->getString("result_time")));
    return p;
  });
}

}  // namespace youma::payout
