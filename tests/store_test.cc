// The store-owner program end to end: registration and its bonus, opening
// cases, rebates, the leaderboard, store verification and fake-store flags,
// the new-account burst limit, and tenant isolation of the StoreService.
#include <atomic>
#include <future>
#include <map>

#include "services/rules/campaign.h"
#include "tests/harness.h"
#include "tests/scan_fixture.h"

namespace youma::testing {
namespace {

using StoreStub = youma::v1::StoreService::Stub;
using youma::v1::RegisterStoreRequest;
using youma::v1::RegisterStoreResponse;

RegisterStoreRequest Store(const std::string& owner, double lat = 23.1291, double lng = 113.2644,
                           const std::string& device = "") {
  RegisterStoreRequest r;
  r.set_owner_user_id(owner);
  r.set_name("城东烟酒行 <b>&</b>");
  r.set_region("440106");
  r.set_latitude(lat);
  r.set_longitude(lng);
  r.set_phone("+86 138-0000-0000");
  r.set_device_id(device.empty() ? "phone-" + owner : device);
  return r;
}

RegisterStoreResponse MustRegister(const TestClient& c, const RegisterStoreRequest& r) {
  RegisterStoreResponse out;
  const grpc::Status st = c.Call(&StoreStub::RegisterStore, r, &out);
  INFO(st.error_message());
  REQUIRE(st.ok());
  return out;
}

youma::v1::Store MustGet(const TestClient& c, uint64_t store_id) {
  youma::v1::StoreRef ref;
  ref.set_store_id(store_id);
  youma::v1::Store s;
  const grpc::Status st = c.Call(&StoreStub::GetStore, ref, &s);
  INFO(st.error_message());
  REQUIRE(st.ok());
  return s;
}

// A campaign paying only store rewards (no draws), for products `gtin`.
youma::v1::CampaignSpec StoreSpec(const std::string& gtin, int64_t budget, int64_t bonus, int64_t rebate) {
  youma::v1::CampaignSpec s = Spec(budget, 100, 0);
  s.clear_tiers();
  s.clear_gtins();
  if (!gtin.empty()) s.add_gtins(gtin);
  s.mutable_store()->set_registration_bonus_fen(bonus);
  s.mutable_store()->set_rebate_fen(rebate);
  return s;
}

bool HasFlag(const youma::v1::Store& s, const std::string& rule) {
  for (const auto& f : s.flags()) {
    if (f.rule() == rule) return true;
  }
  return false;
}

TEST_CASE("a store registers once and its owner gets the registration bonus once") {
  Fixture f;
  const auto campaign = Launch(f.admin, StoreSpec("", 10'000, 888, 0));
  const std::string owner = Unique("owner");
  const RegisterStoreResponse reg = MustRegister(f.scanner, Store(owner));
  CHECK(reg.store().store_id() > 0);
  CHECK(reg.store().store_id() < (uint64_t{1} << 53));
  CHECK(reg.store().name() == "城东烟酒行 <b>&</b>");
  CHECK(reg.store().verification() == youma::v1::STORE_VERIFICATION_UNVERIFIED);
  REQUIRE(reg.rewards_size() == 1);
  CHECK(reg.rewards(0).amount_fen() == 888);
  CHECK(reg.rewards(0).campaign_id() == campaign.campaign_id());
  CHECK(reg.rewards(0).tier_name() == "registration bonus");
  CHECK(reg.no_bonus_reason().empty());
  // The bonus is in the ledger and the payout outbox, to the owner.
  CHECK(f.server.QueryInt(absl::StrCat("SELECT amount_fen FROM payouts WHERE payout_id = '", reg.rewards(0).award_id(),
                                       "' AND user_id = '", owner, "'")) == 888);

  // Registering again (another shop, another phone) is refused: one store per owner.
  RegisterStoreResponse again;
  const grpc::Status st = f.scanner.Call(&StoreStub::RegisterStore, Store(owner, 22.5, 114.0, "other-phone"), &again);
  CHECK(st.error_code() == grpc::StatusCode::ALREADY_EXISTS);
  CHECK(st.error_message().find(absl::StrCat(reg.store().store_id())) != std::string::npos);
  CHECK(st.error_message().find("max_stores_per_owner") != std::string::npos);
  CHECK(f.server.QueryInt(absl::StrCat("SELECT COUNT(*) FROM stores WHERE owner_user_id = '", owner, "'")) == 1);

  youma::v1::Campaign now;
  youma::v1::CampaignRef ref;
  ref.set_campaign_id(campaign.campaign_id());
  REQUIRE(f.admin.Call(&RulesStub::GetCampaign, ref, &now).ok());
  CHECK(now.registration_bonuses() == 1);
  CHECK(now.registration_bonus_fen() == 888);
  CHECK(now.spent_fen() == 888);
  CHECK(now.left_fen() == 10'000 - 888);
  End(f.admin, campaign.campaign_id());
  youma::v1::DrawAudit audit;
  REQUIRE(f.admin.Call(&RulesStub::VerifyDraws, ref, &audit).ok());
  CHECK(audit.awards_checked() == 1);
  CHECK(audit.mismatches() == 0);
}

TEST_CASE("a store keeps the registration time it sent; its bonus goes by when the registration arrived") {
  Fixture f;
  const auto campaign = Launch(f.admin, StoreSpec("", 10'000, 300, 0));  // started an hour ago
  // Filled in two days ago, before the campaign began, and sent now: the
  // registration happens now, in the campaign.
  const absl::Time filled_in = absl::Now() - absl::Hours(48);
  RegisterStoreRequest r = Store(Unique("offline"), 23.0205, 113.7518);  // a place of its own
  *r.mutable_register_time() = common::ToProtoTime(filled_in);
  const RegisterStoreResponse reg = MustRegister(f.scanner, r);
  End(f.admin, campaign.campaign_id());
  CHECK(reg.store().register_time().seconds() == absl::ToUnixSeconds(filled_in));
  INFO(reg.no_bonus_reason());
  REQUIRE(reg.rewards_size() == 1);
  CHECK(reg.rewards(0).amount_fen() == 300);
  CHECK(f.server.QueryInt(absl::StrCat("SELECT COUNT(*) FROM awards WHERE award_id = '", reg.rewards(0).award_id(),
                                       "' AND award_time > UTC_TIMESTAMP() - INTERVAL 1 HOUR")) == 1);
}

TEST_CASE("bad registrations are refused with what to fix, and write nothing") {
  Fixture f;
  const std::string owner = Unique("bad");
  struct Case {
    const char* what;
    std::function<void(RegisterStoreRequest&)> change;
    const char* hint;
  };
  for (const Case& c : std::vector<Case>{
           {"no owner", [](RegisterStoreRequest& r) { r.clear_owner_user_id(); }, "owner_user_id"},
           {"no name", [](RegisterStoreRequest& r) { r.clear_name(); }, "name"},
           {"a city, not a county", [](RegisterStoreRequest& r) { r.set_region("4401"); }, "6-digit"},
           {"latitude 95", [](RegisterStoreRequest& r) { r.set_latitude(95); }, "latitude"},
           {"letters in the phone", [](RegisterStoreRequest& r) { r.set_phone("call me"); }, "phone"},
           {"no device", [](RegisterStoreRequest& r) { r.clear_device_id(); }, "device_id"},
           {"registered an hour from now",
            [](RegisterStoreRequest& r) { *r.mutable_register_time() = common::ToProtoTime(absl::Now() + absl::Hours(1)); },
            "register_time"},
           {"registered 31 days ago",
            [](RegisterStoreRequest& r) {
              *r.mutable_register_time() = common::ToProtoTime(absl::Now() - absl::Hours(24 * 31));
            },
            "more than 30 days ago"},
       }) {
    INFO(c.what);
    RegisterStoreRequest r = Store(owner);
    c.change(r);
    RegisterStoreResponse out;
    const grpc::Status st = f.scanner.Call(&StoreStub::RegisterStore, r, &out);
    CHECK(st.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(st.error_message().find(c.hint) != std::string::npos);
  }
  CHECK(f.server.QueryInt(absl::StrCat("SELECT COUNT(*) FROM stores WHERE owner_user_id = '", owner, "'")) == 0);
  CHECK(f.server.QueryInt(absl::StrCat("SELECT COUNT(*) FROM store_owners WHERE owner_user_id = '", owner, "'")) == 0);
}

TEST_CASE("one device at one place is a duplicate store; one device elsewhere gets no bonus and is flagged") {
  Fixture f;
  const auto campaign = Launch(f.admin, StoreSpec("", 10'000, 500, 0));
  const std::string device = Unique("shared-phone");
  const RegisterStoreResponse first = MustRegister(f.scanner, Store(Unique("a"), 30.0, 120.0, device));
  CHECK(first.rewards_size() == 1);
  // Same device, 10 m away, another owner: the same store registered twice.
  RegisterStoreResponse dup;
  const grpc::Status st =
      f.scanner.Call(&StoreStub::RegisterStore, Store(Unique("b"), 30.00009, 120.0, device), &dup);
  CHECK(st.error_code() == grpc::StatusCode::ALREADY_EXISTS);
  CHECK(st.error_message().find("same place") != std::string::npos);
  // Same device, 50 km away: registered, but no bonus, and both stores are flagged.
  const RegisterStoreResponse second = MustRegister(f.scanner, Store(Unique("c"), 30.45, 120.0, device));
  CHECK(second.rewards().empty());
  CHECK(second.no_bonus_reason().find(absl::StrCat(first.store().store_id())) != std::string::npos);
  CHECK(HasFlag(second.store(), "shared_device"));
  CHECK(HasFlag(MustGet(f.scanner, first.store().store_id()), "shared_device"));
  // Another device at the first store's place: no bonus, flagged duplicate_location.
  const RegisterStoreResponse third = MustRegister(f.scanner, Store(Unique("d"), 30.0001, 120.0001));
  CHECK(third.rewards().empty());
  CHECK(third.no_bonus_reason().find("same place") != std::string::npos);
  CHECK(HasFlag(third.store(), "duplicate_location"));
  End(f.admin, campaign.campaign_id());
}

TEST_CASE("owners registering one store at once: one registration, one bonus") {
  Fixture f;
  const auto campaign = Launch(f.admin, StoreSpec("", 100'000, 300, 0));
  // Eight owners at once, from each request's own connection, at one place:
  // `device` set, all from one phone (a duplicate store); else each from its
  // own phone (registered, but only the first is paid a bonus).
  auto race = [&](const std::string& device, double lat) {
    std::vector<std::string> owners;
    for (int i = 0; i < 8; ++i) owners.push_back(Unique("racer"));
    std::vector<std::future<std::pair<grpc::StatusCode, int>>> calls;
    for (const std::string& owner : owners) {
      calls.push_back(std::async(std::launch::async, [&, owner] {
        TestClient c = f.server.ConnectWithToken(f.scanner.token);
        RegisterStoreResponse out;
        const grpc::Status st = c.Call(&StoreStub::RegisterStore, Store(owner, lat, 121.0, device), &out);
        return std::make_pair(st.error_code(), out.rewards_size());
      }));
    }
    std::map<grpc::StatusCode, int> codes;
    int bonuses = 0;
    for (auto& call : calls) {
      const auto [code, rewards] = call.get();
      ++codes[code];
      bonuses += rewards;
    }
    return std::make_pair(codes, bonuses);
  };
  SUBCASE("one phone") {
    const std::string device = Unique("one-phone");
    const auto [codes, bonuses] = race(device, 31.0);
    CHECK(codes == std::map<grpc::StatusCode, int>{{grpc::OK, 1}, {grpc::ALREADY_EXISTS, 7}});
    CHECK(bonuses == 1);
    CHECK(f.server.QueryInt(absl::StrCat("SELECT COUNT(*) FROM stores WHERE device_id = '", device, "'")) == 1);
  }
  SUBCASE("a phone each") {
    const auto [codes, bonuses] = race("", 31.5);
    CHECK(codes == std::map<grpc::StatusCode, int>{{grpc::OK, 8}});
    CHECK(bonuses == 1);
  }
  const youma::v1::Campaign now = Report(f.admin, campaign.campaign_id());
  CHECK(now.registration_bonuses() == 1);
  CHECK(now.spent_fen() == 300);
  End(f.admin, campaign.campaign_id());
}

TEST_CASE("a store opens a case once: open-case reward, bottles bound, a rebate per bottle, the leaderboard moves") {
  Fixture f;
  const std::string gtin = "06901234500011";
  auto open_case = Spec(100'000, 500, 1'000'000);
  open_case.set_name("开箱有奖");
  open_case.clear_gtins();
  open_case.add_gtins(gtin);
  open_case.add_roles(youma::v1::SCAN_ROLE_STORE_OWNER);
  const auto opening = Launch(f.admin, open_case);
  const auto rebates = Launch(f.admin, StoreSpec(gtin, 100'000, 0, 50));
  const auto codes = f.CodesOf(gtin, youma::v1::BATCH_KIND_SET, 2, 6);  // 2 cases of 6 bottles
  std::vector<youma::v1::Code> cases, bottles_of_first;
  for (const auto& c : codes) {
    if (c.is_case()) cases.push_back(c);
  }
  REQUIRE(cases.size() == 2);
  for (const auto& c : codes) {
    if (!c.is_case() && c.case_code_id() == cases[0].code_id()) bottles_of_first.push_back(c);
  }
  REQUIRE(bottles_of_first.size() == 6);

  // Not registered yet: no reward, no binding.
  const std::string owner = Unique("shopkeeper");
  ScanAnswer a = MustScan(f.scanner, Req(cases[0].url(), youma::v1::SCAN_ROLE_STORE_OWNER, owner));
  CHECK(a.rewards().empty());
  CHECK(a.no_reward_reason().find("register the store first") != std::string::npos);
  CHECK(a.store().store_id() == 0);

  const uint64_t store = MustRegister(f.scanner, Store(owner, 23.1291, 113.2644)).store().store_id();
  a = MustScan(f.scanner, Req(cases[0].url(), youma::v1::SCAN_ROLE_STORE_OWNER, owner));
  CHECK(a.store().store_id() == store);
  CHECK(a.store().opened_now());
  REQUIRE(a.rewards_size() == 1);
  CHECK(a.rewards(0).campaign_id() == opening.campaign_id());
  CHECK(a.rewards(0).amount_fen() == 500);
  // Again: the case stays opened by this store and pays once.
  a = MustScan(f.scanner, Req(cases[0].url(), youma::v1::SCAN_ROLE_STORE_OWNER, owner));
  CHECK(a.store().store_id() == store);
  CHECK_FALSE(a.store().opened_now());
  CHECK(a.rewards().empty());
  // Another store cannot take the case over.
  const std::string rival = Unique("rival");
  const uint64_t rival_store = MustRegister(f.scanner, Store(rival, 23.2, 113.3)).store().store_id();
  a = MustScan(f.scanner, Req(cases[0].url(), youma::v1::SCAN_ROLE_STORE_OWNER, rival));
  CHECK(a.store().store_id() == store);
  CHECK(a.rewards().empty());
  CHECK(a.no_reward_reason().find("already opened by another store") != std::string::npos);
  // A store owner scanning a bottle opens nothing.
  a = MustScan(f.scanner, Req(bottles_of_first[5].url(), youma::v1::SCAN_ROLE_STORE_OWNER, rival));
  CHECK(a.rewards().empty());
  CHECK(a.no_reward_reason().find("scan the case's code") != std::string::npos);
  // The rival opens the second case.
  a = MustScan(f.scanner, Req(cases[1].url(), youma::v1::SCAN_ROLE_STORE_OWNER, rival));
  CHECK(a.store().store_id() == rival_store);

  // Consumers scan bottles of the first case: the store earns 0.50 yuan per bottle, once.
  a = MustScan(f.scanner, Req(bottles_of_first[0].url(), youma::v1::SCAN_ROLE_CONSUMER, Unique("consumer")));
  CHECK(a.store().store_id() == store);
  CHECK(a.rewards().empty());  // the consumer's own draw: no consumer campaign here
  MustScan(f.scanner, Req(bottles_of_first[0].url(), youma::v1::SCAN_ROLE_CONSUMER, Unique("consumer")));
  MustScan(f.scanner, Req(bottles_of_first[1].url(), youma::v1::SCAN_ROLE_CONSUMER, Unique("consumer")));
  CHECK(f.server.QueryInt(absl::StrCat("SELECT COUNT(*) FROM awards WHERE campaign_id = ", rebates.campaign_id(),
                                       " AND role = ", rules::kRebateRole)) == 2);
  CHECK(f.server.QueryInt(absl::StrCat("SELECT SUM(amount_fen) FROM payouts WHERE campaign_id = ",
                                       rebates.campaign_id(), " AND user_id = '", owner, "'")) == 100);

  const youma::v1::Store s = MustGet(f.scanner, store);
  CHECK(s.stats().cases_opened() == 1);
  CHECK(s.stats().consumer_scans() == 2);
  CHECK(s.stats().rebate_fen() == 100);

  youma::v1::LeaderboardRequest board_req;
  board_req.set_region_prefix("4401");
  youma::v1::LeaderboardResponse board;
  REQUIRE(f.scanner.Call(&StoreStub::Leaderboard, board_req, &board).ok());
  auto rank_of = [&](uint64_t id) {
    for (const auto& e : board.entries()) {
      if (e.store_id() == id) return e;
    }
    return youma::v1::LeaderboardEntry();
  };
  CHECK(rank_of(store).stats().consumer_scans() == 2);
  CHECK(rank_of(store).stats().rebate_fen() == 100);
  CHECK(rank_of(rival_store).stats().cases_opened() == 1);
  board_req.set_order(youma::v1::LEADERBOARD_ORDER_CONSUMER_SCANS);
  REQUIRE(f.scanner.Call(&StoreStub::Leaderboard, board_req, &board).ok());
  // By consumer scans, our store is above the rival (2 against 0).
  int ours = -1, theirs = -1;
  for (const auto& e : board.entries()) {
    if (e.store_id() == store) ours = e.rank();
    if (e.store_id() == rival_store) theirs = e.rank();
  }
  CHECK(ours > 0);
  CHECK(theirs > ours);
  // Another region's board does not show them.
  board_req.set_region_prefix("11");
  REQUIRE(f.scanner.Call(&StoreStub::Leaderboard, board_req, &board).ok());
  CHECK(rank_of(store).store_id() == 0);

  youma::v1::CampaignRef ref;
  ref.set_campaign_id(rebates.campaign_id());
  youma::v1::Campaign report;
  REQUIRE(f.admin.Call(&RulesStub::GetCampaign, ref, &report).ok());
  CHECK(report.rebates() == 2);
  CHECK(report.rebate_fen() == 100);
  CHECK(report.spent_fen() == 100);
  End(f.admin, opening.campaign_id());
  End(f.admin, rebates.campaign_id());
  for (uint64_t id : {opening.campaign_id(), rebates.campaign_id()}) {
    ref.set_campaign_id(id);
    youma::v1::DrawAudit audit;
    REQUIRE(f.admin.Call(&RulesStub::VerifyDraws, ref, &audit).ok());
    CHECK(audit.mismatches() == 0);
    CHECK(audit.awards_checked() == 2);
  }
}

TEST_CASE("prizes and store rebates in one group commit spend one budget exactly") {
  Fixture f;
  // Every consumer's first scan wins 1 yuan and pays the store 0.50 yuan
  // rebate, from one budget of 20 yuan (125 fen per shard: shards run dry at
  // once and are gathered); 30 bottles scanned on one stream want 45 yuan.
  const std::string gtin = "00000000000130";
  auto spec = Spec(2'000, 100, 1'000'000);
  spec.set_gtins(0, gtin);
  spec.mutable_store()->set_rebate_fen(50);
  const auto campaign = Launch(f.admin, spec);
  const auto codes = f.CodesOf(gtin, youma::v1::BATCH_KIND_SET, 5, 6);  // 5 cases of 6 bottles
  const std::string owner = Unique("shop");
  MustRegister(f.scanner, Store(owner, 23.05, 113.1));
  std::vector<ScanRequest> bottles;
  for (const auto& c : codes) {
    if (c.is_case()) {
      CHECK(MustScan(f.scanner, Req(c.url(), youma::v1::SCAN_ROLE_STORE_OWNER, owner)).store().opened_now());
    } else {
      bottles.push_back(Req(c.url(), youma::v1::SCAN_ROLE_CONSUMER, Unique("drinker")));
    }
  }
  REQUIRE(bottles.size() == 30);
  const std::vector<ScanAnswer> answers = StreamScanAll(f.scanner, bottles);
  REQUIRE(answers.size() == 30);
  int64_t prizes = 0;
  for (const ScanAnswer& a : answers) {
    for (const auto& r : a.rewards()) prizes += r.amount_fen();
  }
  const std::string where = absl::StrCat(" WHERE campaign_id = ", campaign.campaign_id());
  const int64_t rebates = f.server.QueryInt("SELECT COALESCE(SUM(amount_fen), 0) FROM awards" + where +
                                            " AND user_id = '" + owner + "'");
  CHECK(prizes >= 1'000);  // most of it went to consumers, 1 yuan at a time
  CHECK(prizes + rebates == 2'000);
  CHECK(f.server.QueryInt("SELECT SUM(amount_fen) FROM awards" + where) == 2'000);
  CHECK(f.server.QueryInt("SELECT SUM(amount_fen) FROM payouts" + where) == 2'000);
  CHECK(f.server.QueryInt("SELECT SUM(remaining_fen) FROM budget_shards" + where) == 0);
  const youma::v1::Campaign now = Report(f.admin, campaign.campaign_id());
  CHECK(now.spent_fen() == 2'000);
  CHECK(now.budget_exhausted());
  End(f.admin, campaign.campaign_id());
}

TEST_CASE("bottles the line linked to a case follow that case to the store that opened it") {
  Fixture f;
  const std::string gtin = "06901234500035";
  const auto rebates = Launch(f.admin, StoreSpec(gtin, 100'000, 0, 30));
  const auto cases = f.CodesOf(gtin, youma::v1::BATCH_KIND_CASE, 2);
  const auto bottles = f.CodesOf(gtin, youma::v1::BATCH_KIND_BOTTLE, 4);
  youma::v1::AggregationReport agg;
  agg.set_production_line("L2");
  auto* linked = agg.add_cases();
  linked->set_case_code(cases[0].url());
  for (int i = 0; i < 3; ++i) linked->add_bottle_codes(bottles[i].url());
  youma::v1::AggregationResult agg_result;
  REQUIRE(f.factory.Call(&IssuerStub::ReportAggregation, agg, &agg_result).ok());
  REQUIRE(agg_result.links() == 3);

  const std::string owner = Unique("linked-shop");
  const uint64_t store = MustRegister(f.scanner, Store(owner)).store().store_id();
  ScanAnswer a = MustScan(f.scanner, Req(cases[0].url(), youma::v1::SCAN_ROLE_STORE_OWNER, owner));
  REQUIRE(a.store().opened_now());
  // Linked bottles, in one group of scans (a stream) and alone: each names the
  // store and pays it once; the unlinked bottle belongs to no store.
  const std::vector<ScanAnswer> streamed = StreamScanAll(f.scanner, {Req(bottles[0].url(), youma::v1::SCAN_ROLE_CONSUMER, Unique("c")),
                                                     Req(bottles[1].url(), youma::v1::SCAN_ROLE_CONSUMER, Unique("c")),
                                                     Req(bottles[3].url(), youma::v1::SCAN_ROLE_CONSUMER, Unique("c"))});
  REQUIRE(streamed.size() == 3);
  for (const ScanAnswer& s : streamed) {
    if (s.code_id() == bottles[3].code_id()) {
      CHECK(s.store().store_id() == 0);
    } else {
      CHECK(s.store().store_id() == store);
    }
  }
  a = MustScan(f.scanner, Req(bottles[2].url(), youma::v1::SCAN_ROLE_CONSUMER, Unique("c")));
  CHECK(a.store().store_id() == store);
  CHECK(f.server.QueryInt(absl::StrCat("SELECT COUNT(*) FROM awards WHERE campaign_id = ", rebates.campaign_id(),
                                       " AND role = ", rules::kRebateRole)) == 3);
  CHECK(MustGet(f.scanner, store).stats().rebate_fen() == 90);
}

TEST_CASE("a store is verified by genuine cases opened in its city over days; a fake store is flagged with reasons") {
  // The server's clock goes back a day for the real store's first opens: the
  // days that count are those the scans arrived on.
  std::atomic<int64_t> offset_ns{0};
  TestServer server([&](app::AppOptions& o) {
    o.scan.now = [&] { return absl::Now() + absl::Nanoseconds(offset_ns.load()); };
  });
  Fixture f(server);
  // Active since three days ago: the real store's first day is yesterday.
  const absl::Time now = absl::Now();
  const auto codes =
      f.Codes(youma::v1::BATCH_KIND_CASE, 9, 0, youma::v1::ACTIVATION_POLICY_AT_TIME, now - absl::Hours(72));
  const std::string real_owner = Unique("real"), fake_owner = Unique("fake"), backdating_owner = Unique("backdating");
  const uint64_t real = MustRegister(f.scanner, Store(real_owner, 23.0601, 113.3901)).store().store_id();
  const uint64_t fake = MustRegister(f.scanner, Store(fake_owner, 23.2, 113.3)).store().store_id();
  const uint64_t backdating = MustRegister(f.scanner, Store(backdating_owner, 23.1, 113.35)).store().store_id();
  // Opens a case `later` after `now` by the server's clock, scanned `scanned`
  // before it arrived.
  auto open = [&](const youma::v1::Code& c, const std::string& owner, const std::string& region, double lat,
                  double lng, absl::Duration later, absl::Duration scanned = absl::ZeroDuration()) {
    offset_ns = absl::ToInt64Nanoseconds(later);
    ScanRequest r = Req(c.url(), youma::v1::SCAN_ROLE_STORE_OWNER, owner, region);
    r.set_latitude(lat);
    r.set_longitude(lng);
    *r.mutable_scan_time() = common::ToProtoTime(absl::Now() + later - scanned);
    CHECK(MustScan(f.scanner, r).store().opened_now());
    offset_ns = 0;
  };
  open(codes[0], real_owner, "440106", 23.0602, 113.3902, -absl::Hours(25));
  CHECK(MustGet(f.scanner, real).verification() == youma::v1::STORE_VERIFICATION_UNVERIFIED);
  open(codes[1], real_owner, "440104", 23.13, 113.27, -absl::Hours(25));
  CHECK(MustGet(f.scanner, real).verification_reason().find("on 1 day") != std::string::npos);
  open(codes[2], real_owner, "440106", 23.0601, 113.3901, absl::ZeroDuration());
  const youma::v1::Store r = MustGet(f.scanner, real);
  CHECK(r.verification() == youma::v1::STORE_VERIFICATION_VERIFIED);
  CHECK(r.verification_reason().find("3 genuine cases") != std::string::npos);
  CHECK(r.flags().empty());
  // Three opens sent today, dated today, yesterday and the day before: one day.
  for (int i = 0; i < 3; ++i) {
    open(codes[6 + i], backdating_owner, "440106", 23.1, 113.35, absl::ZeroDuration(), absl::Hours(24) * i);
  }
  const youma::v1::Store b = MustGet(f.scanner, backdating);
  CHECK(b.verification() == youma::v1::STORE_VERIFICATION_UNVERIFIED);
  CHECK(b.verification_reason().find("3 genuine cases opened by GPS in its city (4401) on 1 day") != std::string::npos);
  // The phone's own times are kept beside them.
  CHECK(server.QueryInt(absl::StrCat("SELECT COUNT(DISTINCT DATE(open_time)) FROM case_stores WHERE store_id = ",
                                     backdating)) == 3);
  // The leaderboard counts them today too: a period that ended two days ago has none of them.
  youma::v1::LeaderboardRequest board_req;
  board_req.set_region_prefix("4401");
  board_req.set_limit(100);
  youma::v1::LeaderboardResponse board;
  auto cases_of = [&](uint64_t id) {
    REQUIRE(f.scanner.Call(&StoreStub::Leaderboard, board_req, &board).ok());
    for (const auto& e : board.entries()) {
      if (e.store_id() == id) return e.stats().cases_opened();
    }
    return int64_t{0};
  };
  CHECK(cases_of(backdating) == 3);
  *board_req.mutable_from_time() = common::ToProtoTime(now - absl::Hours(24 * 5));
  *board_req.mutable_to_time() = common::ToProtoTime(now - absl::Hours(48));
  CHECK(cases_of(backdating) == 0);

  // Registered in Guangzhou, opens its cases in Beijing.
  for (int i = 3; i < 6; ++i) open(codes[i], fake_owner, "110105", 39.92, 116.46, absl::Seconds(i));
  const youma::v1::Store s = MustGet(f.scanner, fake);
  CHECK(s.verification() == youma::v1::STORE_VERIFICATION_UNVERIFIED);
  CHECK(HasFlag(s, "far_case_scans"));
  CHECK(HasFlag(s, "never_scans_in_registered_region"));
  for (const auto& flag : s.flags()) {
    if (flag.rule() == "far_case_scans") CHECK(flag.reason().find("3 of 3") != std::string::npos);
    if (flag.rule() == "never_scans_in_registered_region") CHECK(flag.reason().find("110105") != std::string::npos);
  }

  youma::v1::ListStoresRequest list;
  list.set_flagged_only(true);
  list.set_region_prefix("4401");
  std::set<uint64_t> flagged;
  do {
    youma::v1::ListStoresResponse page;
    REQUIRE(f.scanner.Call(&StoreStub::ListStores, list, &page).ok());
    for (const auto& st : page.stores()) flagged.insert(st.store_id());
    list.set_page_token(page.next_page_token());
  } while (!list.page_token().empty());
  CHECK(flagged.count(fake) == 1);
  CHECK(flagged.count(real) == 0);

  // A page is judged in a few queries for all its stores together: each
  // listed store carries exactly what GetStore says of it alone (totals,
  // verification, flags with their reasons), across pages of three.
  youma::v1::ListStoresRequest all;
  all.set_page_size(3);
  int listed = 0;
  std::set<uint64_t> seen;
  do {
    youma::v1::ListStoresResponse page;
    REQUIRE(f.scanner.Call(&StoreStub::ListStores, all, &page).ok());
    for (const auto& st : page.stores()) {
      CAPTURE(st.store_id());
      CHECK(seen.insert(st.store_id()).second);
      CHECK(st.DebugString() == MustGet(f.scanner, st.store_id()).DebugString());
      ++listed;
    }
    all.set_page_token(page.next_page_token());
  } while (!all.page_token().empty());
  CHECK(seen.count(fake) == 1);
  CHECK(seen.count(real) == 1);
  CHECK(listed >= 2);
}

TEST_CASE("a burst of new accounts from one IP wins nothing; the campaign report shows the limit and its hits") {
  Fixture f;
  const std::string gtin = "06901234500028";
  auto spec = Spec(100'000, 100, 1'000'000);
  spec.clear_gtins();
  spec.add_gtins(gtin);
  spec.mutable_limits()->set_max_new_accounts_per_ip_per_hour(3);
  const auto campaign = Launch(f.admin, spec);
  const auto codes = f.CodesOf(gtin, youma::v1::BATCH_KIND_BOTTLE, 8);
  std::vector<std::string> users;
  for (int i = 0; i < 5; ++i) users.push_back(Unique("farm"));
  for (int i = 0; i < 5; ++i) {
    ScanRequest r = Req(codes[i].url(), youma::v1::SCAN_ROLE_CONSUMER, users[i]);
    r.set_client_ip("198.51.100.9");
    const ScanAnswer a = MustScan(f.scanner, r);
    INFO("account ", i);
    if (i < 3) {
      CHECK(a.rewards_size() == 1);
    } else {
      CHECK(a.rewards().empty());
      CHECK(a.no_reward_reason().find("new accounts from one IP") != std::string::npos);
    }
  }
  // A burst account stays limited; an account from elsewhere is not.
  ScanRequest again = Req(codes[5].url(), youma::v1::SCAN_ROLE_CONSUMER, users[4]);
  again.set_client_ip("198.51.100.10");
  CHECK(MustScan(f.scanner, again).rewards().empty());
  ScanRequest other = Req(codes[6].url(), youma::v1::SCAN_ROLE_CONSUMER, Unique("regular"));
  other.set_client_ip("192.0.2.44");
  CHECK(MustScan(f.scanner, other).rewards_size() == 1);

  youma::v1::CampaignRef ref;
  ref.set_campaign_id(campaign.campaign_id());
  youma::v1::Campaign report;
  REQUIRE(f.admin.Call(&RulesStub::GetCampaign, ref, &report).ok());
  CHECK(report.limits().max_new_accounts_per_ip_per_hour() == 3);
  REQUIRE(report.limits_hit_size() == 1);
  CHECK(report.limits_hit(0).rule() == "new_account_burst");
  CHECK(report.limits_hit(0).scans() == 3);
  CHECK(report.awards() == 4);
  End(f.admin, campaign.campaign_id());
}

TEST_CASE("store policy: set by admins, read by scanners, bad values refused") {
  Fixture f;
  TestClient beta_admin = f.server.Connect("beta", youma::v1::ROLE_ADMIN);
  youma::v1::StorePolicy p;
  p.set_max_stores_per_owner(3);
  p.set_far_scan_km(50);
  youma::v1::StorePolicy out;
  REQUIRE(beta_admin.Call(&StoreStub::SetStorePolicy, p, &out).ok());
  CHECK(out.brand() == "beta");
  CHECK(out.max_stores_per_owner() == 3);
  CHECK(out.far_scan_km() == 50);
  CHECK(out.duplicate_radius_m() == 30);  // the default
  youma::v1::StorePolicyRef ref;
  youma::v1::StorePolicy read;
  TestClient beta_scanner = f.server.Connect("beta", youma::v1::ROLE_SCANNER);
  REQUIRE(beta_scanner.Call(&StoreStub::GetStorePolicy, ref, &read).ok());
  CHECK(read.max_stores_per_owner() == 3);
  // alpha's policy is untouched.
  REQUIRE(f.scanner.Call(&StoreStub::GetStorePolicy, ref, &read).ok());
  CHECK(read.max_stores_per_owner() == 1);

  // An owner of beta may now hold three stores, and no fourth.
  const std::string owner = Unique("chain");
  for (int i = 0; i < 3; ++i) {
    MustRegister(beta_scanner, Store(owner, 31.0 + i, 121.0, absl::StrCat("chain-phone-", i)));
  }
  RegisterStoreResponse fourth;
  CHECK(beta_scanner.Call(&StoreStub::RegisterStore, Store(owner, 35.0, 121.0, "chain-phone-9"), &fourth)
            .error_code() == grpc::StatusCode::ALREADY_EXISTS);

  p.set_duplicate_radius_m(-1);
  CHECK(beta_admin.Call(&StoreStub::SetStorePolicy, p, &out).error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  p.set_duplicate_radius_m(0);
  CHECK(beta_scanner.Call(&StoreStub::SetStorePolicy, p, &out).error_code() ==
        grpc::StatusCode::PERMISSION_DENIED);
}

TEST_CASE("leaderboard bad input is refused with what to fix") {
  Fixture f;
  youma::v1::LeaderboardResponse out;
  youma::v1::LeaderboardRequest r;
  r.set_region_prefix("4");
  grpc::Status st = f.scanner.Call(&StoreStub::Leaderboard, r, &out);
  CHECK(st.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(st.error_message().find("2 digits for a province") != std::string::npos);
  r.clear_region_prefix();
  r.set_limit(101);
  CHECK(f.scanner.Call(&StoreStub::Leaderboard, r, &out).error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  r.set_limit(10);
  *r.mutable_from_time() = common::ToProtoTime(absl::Now());
  *r.mutable_to_time() = common::ToProtoTime(absl::Now() - absl::Hours(48));
  st = f.scanner.Call(&StoreStub::Leaderboard, r, &out);
  CHECK(st.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(st.error_message().find("from_time is after to_time") != std::string::npos);
  youma::v1::ListStoresRequest list;
  list.set_page_token("not-a-token");
  youma::v1::ListStoresResponse page;
  CHECK(f.scanner.Call(&StoreStub::ListStores, list, &page).error_code() == grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_CASE("a brand's token never reaches another brand's stores") {
  Fixture f;
  const uint64_t store = MustRegister(f.scanner, Store(Unique("iso"))).store().store_id();
  TestClient beta_scanner = f.server.Connect("beta", youma::v1::ROLE_SCANNER);
  TestClient beta_admin = f.server.Connect("beta", youma::v1::ROLE_ADMIN);
  TestClient alpha_auditor = f.server.Connect("alpha", youma::v1::ROLE_AUDITOR);
  TestClient alpha_factory = f.server.Connect("alpha", youma::v1::ROLE_FACTORY);

  youma::v1::StoreRef ref;
  ref.set_store_id(store);
  youma::v1::Store s;
  CHECK(beta_scanner.Call(&StoreStub::GetStore, ref, &s).error_code() == grpc::StatusCode::NOT_FOUND);
  ref.set_brand("alpha");
  CHECK(beta_scanner.Call(&StoreStub::GetStore, ref, &s).error_code() == grpc::StatusCode::PERMISSION_DENIED);
  CHECK(alpha_auditor.Call(&StoreStub::GetStore, ref, &s).ok());
  CHECK(alpha_factory.Call(&StoreStub::GetStore, ref, &s).error_code() == grpc::StatusCode::PERMISSION_DENIED);

  RegisterStoreResponse reg;
  RegisterStoreRequest into_alpha = Store(Unique("intruder"));
  into_alpha.set_brand("alpha");
  CHECK(beta_scanner.Call(&StoreStub::RegisterStore, into_alpha, &reg).error_code() ==
        grpc::StatusCode::PERMISSION_DENIED);
  CHECK(alpha_auditor.Call(&StoreStub::RegisterStore, Store(Unique("auditor")), &reg).error_code() ==
        grpc::StatusCode::PERMISSION_DENIED);

  youma::v1::ListStoresRequest list;
  youma::v1::ListStoresResponse page;
  REQUIRE(beta_admin.Call(&StoreStub::ListStores, list, &page).ok());
  for (const auto& st : page.stores()) CHECK(st.brand() == "beta");
  list.set_brand("alpha");
  CHECK(beta_admin.Call(&StoreStub::ListStores, list, &page).error_code() == grpc::StatusCode::PERMISSION_DENIED);
  youma::v1::LeaderboardRequest board;
  board.set_brand("alpha");
  youma::v1::LeaderboardResponse out;
  CHECK(beta_scanner.Call(&StoreStub::Leaderboard, board, &out).error_code() == grpc::StatusCode::PERMISSION_DENIED);
  youma::v1::StorePolicy p;
  p.set_brand("alpha");
  youma::v1::StorePolicy pout;
  CHECK(beta_admin.Call(&StoreStub::SetStorePolicy, p, &pout).error_code() == grpc::StatusCode::PERMISSION_DENIED);
}

}  // namespace
}  // namespace youma::testing
