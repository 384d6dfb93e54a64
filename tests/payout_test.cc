// Payouts: the outbox drains to a payer at the configured rate, within
// per-user daily caps, and a restart between SENT and the result never pays twice.
#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "services/common/event_log.h"
#include "services/common/time_util.h"
#include "services/payout/payout_counts.h"
#include "services/payout/payout_desk.h"
#include "services/web/console_reads.h"
#include "tests/harness.h"
#include "tests/scan_fixture.h"

namespace youma::testing {
namespace {

using ScanStub = youma::v1::ScanService::Stub;

// A payer's Payouts stream with the brand's admin token, on `ctx`.
std::unique_ptr<grpc::ClientReaderWriter<youma::v1::PayoutResult, youma::v1::PayoutOrder>> OpenPayouts(
    const TestClient& admin, grpc::ClientContext& ctx) {
  ctx.AddMetadata("authorization", "Bearer " + admin.token);
  return youma::v1::PayoutService::NewStub(admin.channel)->Payouts(&ctx);
}

// The bank's answer to an order: paid, with its own transaction id.
youma::v1::PayoutResult Paid(const youma::v1::PayoutOrder& order) {
  youma::v1::PayoutResult r;
  r.set_payout_id(order.payout_id());
  r.set_paid(true);
  r.set_external_id("wx-" + order.payout_id().substr(0, 8));
  return r;
}

// A stand-in for the WeChat Pay adapter: pays each bill number once.
struct FakePayer {
  std::map<std::string, int64_t> paid;  // payout id -> amount, as the bank saw it
  std::vector<youma::v1::PayoutOrder> orders;  // every order received
  // Receives orders until `want` new ones came; answers them when `answer`.
  void Run(const TestClient& admin, size_t want, bool answer, absl::Duration max_wait = absl::Seconds(20)) {
    grpc::ClientContext ctx;
    auto stream = OpenPayouts(admin, ctx);
    const absl::Time deadline = absl::Now() + max_wait;
    size_t got = 0;
    youma::v1::PayoutOrder order;
    while (got < want && absl::Now() < deadline && stream->Read(&order)) {
      orders.push_back(order);
      ++got;
      if (!answer) continue;
      paid.emplace(order.payout_id(), order.amount_fen());  // a repeat bill number is not paid again
      REQUIRE(stream->Write(Paid(order)));
    }
    stream->WritesDone();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // let the results land
    ctx.TryCancel();
    (void)stream->Finish();
  }
};

struct PayoutFixture {
  // The server's structured log, kept for the tests to read.
  LogCapture log;
  TestServer server{[this](app::AppOptions& o) {
    o.log = &log.log;
    o.payout.rate_per_second = 20;
    o.payout.user_daily_count = 3;
    o.payout.user_daily_fen = 100'000;
  }};
  TestClient factory = server.Connect("alpha", youma::v1::ROLE_FACTORY);
  TestClient scanner = server.Connect("alpha", youma::v1::ROLE_SCANNER);
  TestClient admin = server.Connect("alpha", youma::v1::ROLE_ADMIN);
  PayoutFixture() { server.EnsureProduct("alpha"); }

  // Everyone wins 1 yuan; `per_user` scans for each of `users` users.
  void Award(int users, int per_user) {
    Launch(admin, Spec(1'000'000, 100, 1'000'000));
    const auto codes = StreamAll(factory, MakeBatch(factory, youma::v1::BATCH_KIND_BOTTLE, users * per_user).batch_id());
    for (int i = 0; i < users * per_user; ++i) {
      youma::v1::ScanRequest r;
      r.set_code(codes[i].url());
      r.set_role(youma::v1::SCAN_ROLE_CONSUMER);
      r.set_user_id(absl::StrCat("user-", i % users));
      r.set_client_scan_id(absl::StrCat("p-", i));
      youma::v1::ScanAnswer a;
      REQUIRE(scanner.Call(&ScanStub::Scan, r, &a).ok());
      REQUIRE(a.rewards_size() == 1);
    }
  }
};

// Up to `n` payouts of alpha claimed on `stream`, asking at most `tries`
// times and waiting between empty claims as the desk says.
std::set<std::string> ClaimIds(payout::PayoutDesk& desk, const std::string& stream, int n, int tries = 50) {
  std::set<std::string> ids;
  absl::Duration wait;
  for (int i = 0; i < tries && static_cast<int>(ids.size()) < n; ++i) {
    ASSIGN_OR_FAIL(const std::vector<youma::v1::PayoutOrder> orders,
                   desk.Claim("alpha", n - static_cast<int>(ids.size()), stream, &wait));
    for (const auto& o : orders) ids.insert(o.payout_id());
    if (orders.empty()) absl::SleepFor(wait);
  }
  return ids;
}

TEST_CASE("awards drain to the payer at the set rate, within each user's daily cap") {
  PayoutFixture f;
  f.Award(/*users=*/4, /*per_user=*/4);  // 16 awards; the cap pays 3 per user today
  CHECK(f.server.QueryInt("SELECT COUNT(*) FROM payouts WHERE state = 1") == 16);
  FakePayer payer;
  const absl::Time start = absl::Now();
  payer.Run(f.admin, 12, /*answer=*/true);
  const double secs = absl::ToDoubleSeconds(absl::Now() - start);
  CHECK(payer.paid.size() == 12);
  CHECK(secs >= 0.4);  // 12 payouts at 20/s after a burst of 1
  CHECK(f.server.QueryInt("SELECT COUNT(*) FROM payouts WHERE state = 3") == 12);
  CHECK(f.server.QueryInt("SELECT COUNT(*) FROM payouts WHERE state = 1") == 4);
  CHECK(f.server.QueryInt("SELECT MAX(n) FROM (SELECT COUNT(*) AS n FROM payouts WHERE state = 3 "
                          "GROUP BY user_id) t") == 3);
  // A payout's record, and another brand's view of it.
  youma::v1::GetPayoutRequest get;
  get.set_payout_id(payer.orders[0].payout_id());
  youma::v1::Payout p;
  REQUIRE(f.admin.Call(&youma::v1::PayoutService::Stub::GetPayout, get, &p).ok());
  CHECK(p.state() == youma::v1::PAYOUT_STATE_CONFIRMED);
  CHECK(p.amount_fen() == 100);
  CHECK(p.external_id().rfind("wx-", 0) == 0);
  TestClient beta = f.server.Connect("beta", youma::v1::ROLE_ADMIN);
  CHECK(beta.Call(&youma::v1::PayoutService::Stub::GetPayout, get, &p).error_code() == grpc::NOT_FOUND);
  CHECK(f.scanner.Call(&youma::v1::PayoutService::Stub::GetPayout, get, &p).error_code() ==
        grpc::PERMISSION_DENIED);
}

TEST_CASE("a crash between SENT and the result re-sends the same payout ids and never pays twice") {
  PayoutFixture f;
  f.Award(/*users=*/3, /*per_user=*/2);  // 6 awards, all within the caps
  FakePayer payer;
  payer.Run(f.admin, 6, /*answer=*/false);  // the payer paid nothing yet; results never came back
  REQUIRE(payer.orders.size() == 6);
  CHECK(f.server.QueryInt("SELECT COUNT(*) FROM payouts WHERE state = 2") == 6);
  f.server.RestartApp();  // the server goes down with six payouts SENT
  TestClient admin = f.server.ConnectWithToken(f.admin.token);
  FakePayer again;
  again.Run(admin, 6, /*answer=*/true);
  REQUIRE(again.orders.size() == 6);
  std::set<std::string> first_ids, second_ids;
  for (const auto& o : payer.orders) first_ids.insert(o.payout_id());
  for (const auto& o : again.orders) {
    second_ids.insert(o.payout_id());
    CHECK(o.attempt() == 2);
  }
  CHECK(first_ids == second_ids);  // the same bill numbers
  CHECK(again.paid.size() == 6);   // each paid once
  // The log tells the operator: the first stream sent six and heard nothing
  // back; the second sent the same six again and got their results.
  std::vector<nlohmann::json> closed;
  for (int i = 0; i < 100 && closed.size() < 2; ++i) {
    closed = f.log.Events("payer_stream_closed");
    absl::SleepFor(absl::Milliseconds(20));
  }
  REQUIRE(closed.size() == 2);
  CHECK(closed[0]["orders_sent"] == 6);
  CHECK(closed[0]["orders_resent"] == 0);
  CHECK(closed[0]["results"] == 0);
  CHECK(closed[1]["orders_sent"] == 6);
  CHECK(closed[1]["orders_resent"] == 6);
  CHECK(closed[1]["results"] == 6);
  CHECK(f.log.Events("payer_stream_opened").size() == 2);
  CHECK(f.server.QueryInt("SELECT COUNT(*) FROM payouts WHERE state = 3") == 6);
  CHECK(f.server.QueryInt("SELECT SUM(amount_fen) FROM payouts WHERE state = 3") == 600);
}

TEST_CASE("two payer streams at once share the brand's rate and each user's daily cap") {
  PayoutFixture f;  // 20 payouts a second, 3 per user per day
  f.Award(/*users=*/4, /*per_user=*/4);
  // Two payers (say, two replicas of the WeChat Pay adapter) drain together.
  std::mutex mu;
  std::map<std::string, std::set<std::string>> paid;  // user -> payout ids the bank paid
  std::atomic<int> distinct{0}, received{0};
  grpc::ClientContext contexts[2];
  auto payer = [&](grpc::ClientContext& ctx) {
    auto stream = OpenPayouts(f.admin, ctx);
    for (youma::v1::PayoutOrder order; stream->Read(&order);) {
      ++received;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (paid[order.user_id()].insert(order.payout_id()).second) ++distinct;
      }
      if (!stream->Write(Paid(order))) break;
    }
    (void)stream->Finish();
  };
  const absl::Time start = absl::Now();
  std::thread first(payer, std::ref(contexts[0])), second(payer, std::ref(contexts[1]));
  while (distinct < 12 && absl::Now() < start + absl::Seconds(20)) absl::SleepFor(absl::Milliseconds(5));
  const double secs = absl::ToDoubleSeconds(absl::Now() - start);
  absl::SleepFor(absl::Milliseconds(500));  // nothing more is due today
  for (auto& ctx : contexts) ctx.TryCancel();
  first.join();
  second.join();
  CHECK(distinct == 12);
  // Neither stream sent again what the other, alive, had sent.
  CHECK(received == 12);
  CHECK(f.server.QueryInt("SELECT MAX(attempts) FROM payouts") == 1);
  CHECK(paid.size() == 4);
  for (const auto& [user, ids] : paid) {
    CAPTURE(user);
    CHECK(ids.size() == 3);
  }
  // One brand's rate: 12 payouts at 20/s take over half a second whichever
  // stream sends them (each stream pacing itself would take half that).
  CHECK(secs >= 0.5);
  CHECK(f.server.QueryInt("SELECT COUNT(*) FROM payouts WHERE state = 1") == 4);
}

TEST_CASE("what a payer stream sent goes out again at once when it closes or goes silent, not while it lives") {
  PayoutFixture f;
  f.Award(/*users=*/3, /*per_user=*/2);  // 6 awards, all within the caps
  const payout::PayoutOptions options{.rate_per_second = 1000, .user_daily_count = 10};
  payout::PayoutDesk desk(&f.server.app().pool(), options);
  // Stream a is another server's.
  auto desk_a = std::make_unique<payout::PayoutDesk>(&f.server.app().pool(), options);
  auto claim = [&](const std::string& stream, int n) { return ClaimIds(desk, stream, n); };
  ASSIGN_OR_FAIL(const std::string a, desk_a->OpenStream("alpha"));
  ASSIGN_OR_FAIL(const std::string b, desk.OpenStream("alpha"));
  absl::SleepFor(absl::Milliseconds(20));
  const std::set<std::string> sent_by_a = ClaimIds(*desk_a, a, 2);
  REQUIRE(sent_by_a.size() == 2);
  // A lives: b gets new payouts, not a's.
  const std::set<std::string> first_of_b = claim(b, 2);
  CHECK(first_of_b.size() == 2);
  for (const auto& id : first_of_b) CHECK(sent_by_a.count(id) == 0);
  // a's server dies (its desk goes without closing a): the row stays, silent
  // past stream_silence (10 s), and b re-sends a's first.
  desk_a.reset();
  CHECK(f.server.QueryInt(absl::StrCat("SELECT COUNT(*) FROM payer_streams WHERE stream_id = '", a, "'")) == 1);
  REQUIRE_OK(f.server.app().pool().WithConnection([&](sql::Connection& c) -> absl::Status {
    storage::Execute(c, absl::StrCat("UPDATE payer_streams SET seen_time = seen_time - INTERVAL 11 SECOND "
                                     "WHERE stream_id = '", a, "'"));
    return absl::OkStatus();
  }));
  CHECK(claim(b, 2) == sent_by_a);
  CHECK(f.server.QueryInt(absl::StrCat("SELECT COUNT(*) FROM payouts WHERE attempts = 2 AND sent_by = '", b, "'")) == 2);
  // b closes with its first two unanswered: a new stream sends them at once.
  REQUIRE_OK(desk.CloseStream(b));
  ASSIGN_OR_FAIL(const std::string c, desk.OpenStream("alpha"));
  const std::set<std::string> resent = claim(c, 4);
  CHECK(resent.size() == 4);
  for (const auto& id : first_of_b) CHECK(resent.count(id) == 1);
  for (const auto& id : sent_by_a) CHECK(resent.count(id) == 1);
  CHECK(f.server.QueryInt("SELECT COUNT(*) FROM payouts WHERE state = 1") == 2);
}

TEST_CASE("payout counts follow every state change, and count the payouts an older youma moved") {
  PayoutFixture f;
  f.Award(/*users=*/4, /*per_user=*/2);  // 8 awards, 8 payouts
  const uint64_t campaign = static_cast<uint64_t>(f.server.QueryInt("SELECT MAX(campaign_id) FROM campaigns"));
  payout::PayoutDesk desk(&f.server.app().pool(), {.rate_per_second = 1000, .user_daily_count = 10});
  ASSIGN_OR_FAIL(const std::string stream, desk.OpenStream("alpha"));
  const std::set<std::string> sent = ClaimIds(desk, stream, 6);
  REQUIRE(sent.size() == 6);
  std::vector<std::string> ids(sent.begin(), sent.end());
  auto answer = [&](const std::string& id, bool paid, bool retryable) {
    youma::v1::PayoutResult r;
    r.set_payout_id(id);
    r.set_paid(paid);
    r.set_retryable(retryable);
    if (!paid) r.set_error("the bank said no");
    REQUIRE_OK(desk.Record("alpha", r));
  };
  answer(ids[0], true, false);
  answer(ids[1], true, false);
  answer(ids[0], true, false);  // a repeated answer changes nothing
  answer(ids[2], false, false);  // FAILED
  answer(ids[3], false, true);   // back to PENDING, to be sent again
  // What the console shows, against the outbox itself.
  youma::v1::ListCampaignsResponse campaigns;
  campaigns.add_campaigns()->set_campaign_id(campaign);
  campaigns.mutable_campaigns(0)->set_awards(8);
  web::ConsoleReads reads(&f.server.app().pool());
  auto check_counts = [&](int64_t pending, int64_t sent_now, int64_t confirmed, int64_t failed) {
    ASSIGN_OR_FAIL(auto counts, reads.Payouts("alpha", campaigns));
    const web::PayoutCounts& p = counts[campaign];
    CHECK(p.pending == pending);
    CHECK(p.sent == sent_now);
    CHECK(p.confirmed == confirmed);
    CHECK(p.failed == failed);
    const std::string where = absl::StrCat("SELECT COUNT(*) FROM payouts WHERE campaign_id = ", campaign, " AND state = ");
    CHECK(f.server.QueryInt(where + "1") == pending);
    CHECK(f.server.QueryInt(where + "2") == sent_now);
    CHECK(f.server.QueryInt(where + "3") == confirmed);
    CHECK(f.server.QueryInt(where + "4") == failed);
  };
  check_counts(/*pending=*/3, /*sent=*/2, /*confirmed=*/2, /*failed=*/1);
  // Kept as the states changed, not counted from the outbox.
  CHECK(f.server.QueryInt(absl::StrCat("SELECT SUM(payouts) FROM payout_counts WHERE campaign_id = ", campaign)) == 5);
  CHECK(f.server.QueryInt("SELECT COUNT(*) FROM payouts WHERE uncounted = 1") == 0);
  // An older youma's desk, still serving during an upgrade, confirms a
  // payout the way it did: the state alone.
  REQUIRE_OK(f.server.app().pool().WithConnection([&](sql::Connection& c) -> absl::Status {
    storage::Execute(c, absl::StrCat("UPDATE payouts SET state = 3 WHERE payout_id = '", ids[4], "'"));
    return absl::OkStatus();
  }));
  CHECK(f.server.QueryInt("SELECT COUNT(*) FROM payouts WHERE uncounted = 1") == 1);
  for (int pass = 0; pass < 2; ++pass) {
    INFO((pass == 0 ? "before the catch-up" : "after it"));
    check_counts(3, 1, 3, 1);
    ASSIGN_OR_FAIL(int64_t moved, payout::CountOlderPayoutStates(&f.server.app().pool()));
    CHECK(moved == (pass == 0 ? 1 : 0));
    CHECK(f.server.QueryInt("SELECT COUNT(*) FROM payouts WHERE uncounted = 1") == 0);
  }
  // The next claims and answers go on from there.
  const std::set<std::string> rest = ClaimIds(desk, stream, 3);
  CHECK(rest.size() == 3);
  for (const std::string& id : rest) answer(id, true, false);
  check_counts(0, 1, 6, 1);
}

TEST_CASE("a payer stream blocked on a slow payer stays alive; its server's end silences it") {
  PayoutFixture f;
  f.Award(/*users=*/2, /*per_user=*/2);  // 4 awards
  const payout::PayoutOptions options{.rate_per_second = 1000, .user_daily_count = 10,
                                      .stream_silence = absl::Seconds(1)};
  auto server_a = std::make_unique<payout::PayoutDesk>(&f.server.app().pool(), options);
  payout::PayoutDesk server_b(&f.server.app().pool(), options);
  ASSIGN_OR_FAIL(const std::string a, server_a->OpenStream("alpha"));
  ASSIGN_OR_FAIL(const std::string b, server_b.OpenStream("alpha"));
  const std::set<std::string> sent_by_a = ClaimIds(*server_a, a, 2);
  REQUIRE(sent_by_a.size() == 2);
  // a claims nothing for 2.5 stream silences (blocked writing to its payer):
  // its server still vouches for it, so b sends only the other two.
  absl::SleepFor(absl::Milliseconds(2500));
  const std::set<std::string> of_b = ClaimIds(server_b, b, 4, /*tries=*/10);
  CHECK(of_b.size() == 2);
  for (const auto& id : of_b) CHECK(sent_by_a.count(id) == 0);
  // a's server ends without closing a: a falls silent and b re-sends a's two.
  server_a.reset();
  absl::SleepFor(absl::Milliseconds(1500));
  CHECK(ClaimIds(server_b, b, 2) == sent_by_a);
  CHECK(f.server.QueryInt(absl::StrCat("SELECT COUNT(*) FROM payouts WHERE attempts = 2 AND sent_by = '", b, "'")) ==
        2);
}

}  // namespace
}  // namespace youma::testing
