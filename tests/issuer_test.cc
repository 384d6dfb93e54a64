// IssuerService end to end: a real MariaDB, a real server on loopback, real
// gRPC clients with tokens of two brands.
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "printer-export/export.h"
#include "printer-export/qr.h"
#include "tests/harness.h"

namespace youma::testing {
namespace {

using youma::v1::IssuerService;
using Stub = IssuerService::Stub;

struct Fixture {
  TestServer& server = TestServer::Shared();
  TestClient alpha = server.Connect("alpha", youma::v1::ROLE_FACTORY);
  TestClient beta = server.Connect("beta", youma::v1::ROLE_FACTORY);
  Fixture() {
    server.EnsureProduct("alpha");
    server.EnsureProduct("beta");
  }
};

youma::v1::CreateBatchRequest BatchRequest(const std::string& request_id) {
  youma::v1::CreateBatchRequest req;
  req.set_gtin(kGtin);
  req.set_kind(youma::v1::BATCH_KIND_BOTTLE);
  req.set_quantity(100);
  req.set_request_id(request_id);
  return req;
}

TEST_CASE("a batch of any size is one row and one code-id range") {
  Fixture f;
  const int64_t rows_before = f.server.QueryInt("SELECT COUNT(*) FROM batches");
  youma::v1::Batch big = MakeBatch(f.alpha, youma::v1::BATCH_KIND_BOTTLE, 20'000'000);
  CHECK(big.code_count() == 20'000'000);
  CHECK(big.scheme() == youma::v1::CODE_SCHEME_COMPACT);
  CHECK(f.server.QueryInt("SELECT COUNT(*) FROM batches") == rows_before + 1);
  youma::v1::Batch next = MakeBatch(f.alpha, youma::v1::BATCH_KIND_CASE, 10);
  CHECK(next.first_code_id() == big.first_code_id() + big.code_count());
  CHECK(next.scheme() == youma::v1::CODE_SCHEME_SIGNED);
  youma::v1::Batch set = MakeBatch(f.alpha, youma::v1::BATCH_KIND_SET, 5, 6);
  CHECK(set.code_count() == 35);
  CHECK(set.case_scheme() == youma::v1::CODE_SCHEME_SIGNED);
}

TEST_CASE("the same request id returns the same batch; other parameters are refused") {
  Fixture f;
  const std::string id = absl::StrCat("idem-", ::getpid());
  youma::v1::Batch first, again, other;
  REQUIRE(f.alpha.Call(&Stub::CreateBatch, BatchRequest(id), &first).ok());
  REQUIRE(f.alpha.Call(&Stub::CreateBatch, BatchRequest(id), &again).ok());
  CHECK(again.batch_id() == first.batch_id());
  CHECK(f.server.QueryInt(absl::StrCat("SELECT COUNT(*) FROM batches WHERE request_id = '", id,
                                       "'")) == 1);
  auto changed = BatchRequest(id);
  changed.set_quantity(101);
  const grpc::Status st = f.alpha.Call(&Stub::CreateBatch, changed, &other);
  CHECK(st.error_code() == grpc::ALREADY_EXISTS);
  CHECK(st.error_message().find("other parameters") != std::string::npos);
  // Another brand may use the same request id for its own batch.
  youma::v1::Batch beta_batch;
  REQUIRE(f.beta.Call(&Stub::CreateBatch, BatchRequest(id), &beta_batch).ok());
  CHECK(beta_batch.batch_id() != first.batch_id());
}

TEST_CASE("bad batch requests get the exact status and write nothing") {
  Fixture f;
  const int64_t before = f.server.QueryInt("SELECT COUNT(*) FROM batches");
  auto code = [&](youma::v1::CreateBatchRequest req) {
    youma::v1::Batch b;
    return f.alpha.Call(&Stub::CreateBatch, req, &b).error_code();
  };
  auto req = BatchRequest("bad-1");
  req.set_quantity(0);
  CHECK(code(req) == grpc::INVALID_ARGUMENT);
  req.set_quantity(20'000'001);
  CHECK(code(req) == grpc::INVALID_ARGUMENT);
  req = BatchRequest("bad-2");
  req.set_kind(youma::v1::BATCH_KIND_SET);  // no set_size
  CHECK(code(req) == grpc::INVALID_ARGUMENT);
  req.set_set_size(6);
  req.set_quantity(3'000'000);  // 21M codes
  CHECK(code(req) == grpc::INVALID_ARGUMENT);
  req = BatchRequest("bad-3");
  req.set_gtin("06901234567809");  // valid GTIN, no such product
  CHECK(code(req) == grpc::NOT_FOUND);
  req.set_gtin("06901234567891");  // bad check digit
  CHECK(code(req) == grpc::INVALID_ARGUMENT);
  req = BatchRequest("");
  CHECK(code(req) == grpc::INVALID_ARGUMENT);
  req = BatchRequest("bad-4");
  req.add_planned_territory("4");
  CHECK(code(req) == grpc::INVALID_ARGUMENT);
  req = BatchRequest("bad-5");
  req.set_kind(youma::v1::BATCH_KIND_UNSPECIFIED);
  CHECK(code(req) == grpc::INVALID_ARGUMENT);
  req = BatchRequest("bad-6");
  req.set_activation(youma::v1::ACTIVATION_POLICY_AT_TIME);  // no time
  CHECK(code(req) == grpc::INVALID_ARGUMENT);
  req.mutable_activate_time()->set_seconds(253402300800);  // 10000-01-01: past what DATETIME holds
  CHECK(code(req) == grpc::INVALID_ARGUMENT);
  CHECK(f.server.QueryInt("SELECT COUNT(*) FROM batches") == before);
}

TEST_CASE("streamed codes are the brand's genuine codes, in order, with set structure") {
  Fixture f;
  const youma::v1::Batch set = MakeBatch(f.alpha, youma::v1::BATCH_KIND_SET, 4, 3);
  const auto codes = StreamAll(f.alpha, set.batch_id());
  REQUIRE(codes.size() == 16);
  const codegen::CodeVerifier verifier = f.server.verifier("alpha");
  for (size_t i = 0; i < codes.size(); ++i) {
    const auto& c = codes[i];
    CHECK(c.code_id() == set.first_code_id() + i);
    const codegen::Verification v = verifier.Verify(c.url());
    CHECK(v.verdict == codegen::Verdict::kGenuine);
    CHECK(v.code_id == c.code_id());
    CHECK(c.is_case() == (i % 4 == 0));
    CHECK(v.scheme == (c.is_case() ? codegen::Scheme::kSigned : codegen::Scheme::kCompact));
    if (!c.is_case()) CHECK(c.case_code_id() == set.first_code_id() + (i / 4) * 4);
  }
  // Another brand's keys call them counterfeit.
  CHECK(f.server.verifier("beta").Verify(codes[1].url()).verdict == codegen::Verdict::kCounterfeit);
  // A sub-range, and one outside the batch.
  const auto part = StreamAll(f.alpha, set.batch_id(), set.first_code_id() + 5, set.first_code_id() + 9);
  REQUIRE(part.size() == 5);
  CHECK(part[0].url() == codes[5].url());
  grpc::Status st;
  StreamAll(f.alpha, set.batch_id(), set.first_code_id(), set.first_code_id() + 16, &st);
  CHECK(st.error_code() == grpc::OUT_OF_RANGE);
}

TEST_CASE("a token never reaches another brand's data") {
  Fixture f;
  const youma::v1::Batch b = MakeBatch(f.alpha, youma::v1::BATCH_KIND_CASE, 3);
  youma::v1::GetBatchRequest get;
  get.set_batch_id(b.batch_id());
  youma::v1::Batch out;
  CHECK(f.beta.Call(&Stub::GetBatch, get, &out).error_code() == grpc::NOT_FOUND);
  get.set_brand("alpha");
  CHECK(f.beta.Call(&Stub::GetBatch, get, &out).error_code() == grpc::PERMISSION_DENIED);
  get.clear_brand();
  CHECK(f.alpha.Call(&Stub::GetBatch, get, &out).ok());

  youma::v1::ListBatchesRequest list;
  list.set_page_size(1000);
  youma::v1::ListBatchesResponse listed;
  REQUIRE(f.beta.Call(&Stub::ListBatches, list, &listed).ok());
  for (const auto& x : listed.batches()) CHECK(x.brand() == "beta");

  grpc::Status st;
  StreamAll(f.beta, b.batch_id(), 0, 0, &st);
  CHECK(st.error_code() == grpc::NOT_FOUND);

  youma::v1::RangeChangeRequest freeze;
  freeze.set_batch_id(b.batch_id());
  freeze.set_reason("not yours");
  youma::v1::RangeChange change;
  CHECK(f.beta.Call(&Stub::FreezeRange, freeze, &change).error_code() == grpc::NOT_FOUND);

  youma::v1::BeginExportRequest exp;
  exp.set_batch_id(b.batch_id());
  exp.set_format("csv");
  youma::v1::ExportRecord rec;
  CHECK(f.beta.Call(&Stub::BeginExport, exp, &rec).error_code() == grpc::NOT_FOUND);

  youma::v1::GetProductRequest product;
  product.set_gtin(kGtin);
  product.set_brand("alpha");
  youma::v1::Product p;
  CHECK(f.beta.Call(&Stub::GetProduct, product, &p).error_code() == grpc::PERMISSION_DENIED);

  // Aggregating or shipping alpha's codes with beta's token is refused by name.
  const auto codes = StreamAll(f.alpha, b.batch_id());
  youma::v1::AggregationReport report;
  auto* c = report.add_cases();
  c->set_case_code(codes[0].url());
  c->add_bottle_codes(codes[1].url());
  youma::v1::AggregationResult agg;
  st = f.beta.Call(&Stub::ReportAggregation, report, &agg);
  CHECK(st.error_code() == grpc::INVALID_ARGUMENT);
  CHECK(st.error_message().find("issued by another brand") != std::string::npos);
  CHECK(f.server.QueryInt("SELECT COUNT(*) FROM range_changes WHERE action = 2 AND brand = 'beta' "
                          "AND batch_id = " + std::to_string(b.batch_id())) == 0);
}

TEST_CASE("tokens: missing, wrong, revoked and under-privileged callers are refused") {
  Fixture f;
  youma::v1::ListBatchesRequest list;
  youma::v1::ListBatchesResponse out;
  CHECK(f.server.ConnectWithToken("").Call(&Stub::ListBatches, list, &out).error_code() ==
        grpc::UNAUTHENTICATED);
  CHECK(f.server.ConnectWithToken("ym_0000000000000000_nope").Call(&Stub::ListBatches, list, &out)
            .error_code() == grpc::UNAUTHENTICATED);
  std::string forged = f.alpha.token;
  forged.back() = forged.back() == 'A' ? 'B' : 'A';
  CHECK(f.server.ConnectWithToken(forged).Call(&Stub::ListBatches, list, &out).error_code() ==
        grpc::UNAUTHENTICATED);

  TestClient auditor = f.server.Connect("alpha", youma::v1::ROLE_AUDITOR);
  CHECK(auditor.Call(&Stub::ListBatches, list, &out).ok());
  youma::v1::Batch b;
  const grpc::Status denied = auditor.Call(&Stub::CreateBatch, BatchRequest("aud-1"), &b);
  CHECK(denied.error_code() == grpc::PERMISSION_DENIED);
  CHECK(denied.error_message().find("auditor") != std::string::npos);
  TestClient scanner = f.server.Connect("alpha", youma::v1::ROLE_SCANNER);
  CHECK(scanner.Call(&Stub::ListBatches, list, &out).error_code() == grpc::PERMISSION_DENIED);

  // Admin tokens: a brand admin makes tokens for its brand only.
  TestClient admin = f.server.Connect("alpha", youma::v1::ROLE_ADMIN);
  youma::v1::CreateTokenRequest create;
  create.set_role(youma::v1::ROLE_FACTORY);
  youma::v1::CreateTokenResponse made;
  REQUIRE(admin.Call(&youma::v1::AdminService::Stub::CreateToken, create, &made).ok());
  CHECK(made.info().brand() == "alpha");
  CHECK(made.token().rfind("ym_", 0) == 0);
  create.set_brand("beta");
  CHECK(admin.Call(&youma::v1::AdminService::Stub::CreateToken, create, &made).error_code() ==
        grpc::PERMISSION_DENIED);
  create.set_brand("alpha");
  REQUIRE(admin.Call(&youma::v1::AdminService::Stub::CreateToken, create, &made).ok());
  TestClient fresh = f.server.ConnectWithToken(made.token());
  CHECK(fresh.Call(&Stub::ListBatches, list, &out).ok());
  youma::v1::RevokeTokenRequest revoke;
  revoke.set_token_id(made.info().token_id());
  youma::v1::TokenInfo info;
  TestClient beta_admin = f.server.Connect("beta", youma::v1::ROLE_ADMIN);
  CHECK(beta_admin.Call(&youma::v1::AdminService::Stub::RevokeToken, revoke, &info).error_code() ==
        grpc::NOT_FOUND);
  REQUIRE(admin.Call(&youma::v1::AdminService::Stub::RevokeToken, revoke, &info).ok());
  CHECK(info.revoked());
  CHECK(fresh.Call(&Stub::ListBatches, list, &out).error_code() == grpc::UNAUTHENTICATED);
  // Tokens are stored hashed: the secret is nowhere in the table.
  const std::string secret = made.token().substr(made.token().rfind('_') + 1);
  CHECK(f.server.QueryInt("SELECT COUNT(*) FROM api_tokens WHERE secret_hash = '" + secret + "'") == 0);
}

TEST_CASE("ranges freeze, revoke and activate with reasons; revoked codes stay revoked") {
  Fixture f;
  const youma::v1::Batch b = MakeBatch(f.alpha, youma::v1::BATCH_KIND_BOTTLE, 100);
  youma::v1::RangeChangeRequest req;
  req.set_batch_id(b.batch_id());
  req.set_first_code_id(b.first_code_id() + 10);
  req.set_last_code_id(b.first_code_id() + 19);
  youma::v1::RangeChange change;
  CHECK(f.alpha.Call(&Stub::FreezeRange, req, &change).error_code() == grpc::INVALID_ARGUMENT);
  req.set_reason("labels smeared on line 3");
  REQUIRE(f.alpha.Call(&Stub::FreezeRange, req, &change).ok());
  CHECK(change.action() == youma::v1::RANGE_ACTION_FREEZE);
  CHECK(change.actor().rfind("token:", 0) == 0);
  REQUIRE(f.alpha.Call(&Stub::RevokeRange, req, &change).ok());
  req.clear_reason();
  const grpc::Status again = f.alpha.Call(&Stub::ActivateRange, req, &change);
  CHECK(again.error_code() == grpc::FAILED_PRECONDITION);
  CHECK(again.error_message().find("revoked") != std::string::npos);
  req.set_last_code_id(b.first_code_id() + 100);  // one past the batch
  req.set_reason("x");
  CHECK(f.alpha.Call(&Stub::FreezeRange, req, &change).error_code() == grpc::OUT_OF_RANGE);
  // An activation time no DATETIME holds is refused by name, and nothing is written.
  const int64_t changes = f.server.QueryInt("SELECT COUNT(*) FROM range_changes");
  req.set_last_code_id(b.first_code_id() + 29);
  req.mutable_effective_time()->set_seconds(-1);
  const grpc::Status before_1970 = f.alpha.Call(&Stub::ActivateRange, req, &change);
  CHECK(before_1970.error_code() == grpc::INVALID_ARGUMENT);
  CHECK(before_1970.error_message().find("effective_time") != std::string::npos);
  CHECK(f.server.QueryInt("SELECT COUNT(*) FROM range_changes") == changes);
}

TEST_CASE("aggregation links bottles to cases in one transaction and refuses line errors") {
  Fixture f;
  const youma::v1::Batch cases = MakeBatch(f.alpha, youma::v1::BATCH_KIND_CASE, 3);
  const youma::v1::Batch bottles = MakeBatch(f.alpha, youma::v1::BATCH_KIND_BOTTLE, 12);
  const auto c = StreamAll(f.alpha, cases.batch_id());
  const auto b = StreamAll(f.alpha, bottles.batch_id());
  youma::v1::AggregationReport report;
  report.set_production_line("L3");
  for (int i = 0; i < 2; ++i) {
    auto* rc = report.add_cases();
    rc->set_case_code(c[i].url());
    for (int j = 0; j < 6; ++j) rc->add_bottle_codes(b[i * 6 + j].url());
  }
  youma::v1::AggregationResult result;
  REQUIRE(f.alpha.Call(&Stub::ReportAggregation, report, &result).ok());
  CHECK(result.links() == 12);
  const std::string count_links = absl::StrCat(
      "SELECT COUNT(*) FROM aggregation_links WHERE case_code_id IN (", c[0].code_id(), ",",
      c[1].code_id(), ",", c[2].code_id(), ")");
  CHECK(f.server.QueryInt(count_links) == 12);
  // The same report again is a harmless repeat.
  REQUIRE(f.alpha.Call(&Stub::ReportAggregation, report, &result).ok());
  CHECK(f.server.QueryInt(count_links) == 12);

  // A bottle already in another case: refused, listed, nothing written.
  youma::v1::AggregationReport conflict;
  auto* rc = conflict.add_cases();
  rc->set_case_code(c[2].url());
  rc->add_bottle_codes(b[0].url());
  std::string forged = b[1].url();
  forged[forged.size() - 4] = forged[forged.size() - 4] == 'A' ? 'B' : 'A';
  grpc::Status st = f.alpha.Call(&Stub::ReportAggregation, conflict, &result);
  CHECK(st.error_code() == grpc::FAILED_PRECONDITION);
  CHECK(st.error_message().find(b[0].url() + ": already in case " +
                                std::to_string(c[0].code_id())) != std::string::npos);
  rc->add_bottle_codes(forged);
  rc->add_bottle_codes(c[1].url());  // a case where a bottle should be
  st = f.alpha.Call(&Stub::ReportAggregation, conflict, &result);
  CHECK(st.error_code() == grpc::INVALID_ARGUMENT);
  CHECK(st.error_message().find(forged + ": counterfeit") != std::string::npos);
  CHECK(st.error_message().find(c[1].url() + ": is a case code, not a bottle") != std::string::npos);
  youma::v1::AggregationReport not_case;
  auto* nc = not_case.add_cases();
  nc->set_case_code(b[11].url());
  nc->add_bottle_codes(b[10].url());
  st = f.alpha.Call(&Stub::ReportAggregation, not_case, &result);
  CHECK(st.error_code() == grpc::INVALID_ARGUMENT);
  CHECK(st.error_message().find("is a bottle code, not a case code") != std::string::npos);
  CHECK(f.server.QueryInt(count_links) == 12);

  // Line correction: unlink, then relink into the third case.
  youma::v1::UnlinkRequest unlink;
  unlink.add_bottle_codes(b[0].url());
  youma::v1::UnlinkResult unlinked;
  CHECK(f.alpha.Call(&Stub::UnlinkAggregation, unlink, &unlinked).error_code() ==
        grpc::INVALID_ARGUMENT);  // no reason
  unlink.set_reason("vision system misread");
  REQUIRE(f.alpha.Call(&Stub::UnlinkAggregation, unlink, &unlinked).ok());
  CHECK(unlinked.unlinked() == 1);
  youma::v1::AggregationReport relink;
  auto* rl = relink.add_cases();
  rl->set_case_code(c[2].url());
  rl->add_bottle_codes(b[0].url());
  REQUIRE(f.alpha.Call(&Stub::ReportAggregation, relink, &result).ok());
  CHECK(f.server.QueryInt(absl::StrCat("SELECT case_code_id FROM aggregation_links WHERE "
                                       "bottle_code_id = ", b[0].code_id())) ==
        static_cast<int64_t>(c[2].code_id()));
  CHECK(f.server.QueryInt(absl::StrCat("SELECT COUNT(*) FROM aggregation_unlinks WHERE "
                                       "bottle_code_id = ", b[0].code_id())) == 1);
}

TEST_CASE("shipments give cases and their bottles a dealer and activate on shipment") {
  Fixture f;
  youma::v1::CreateDealerRequest dealer;
  dealer.set_dealer_id(absl::StrCat("gz-", ::getpid()));
  dealer.set_name("广州经销商");
  dealer.add_territory("4401");
  youma::v1::Dealer d;
  REQUIRE(f.alpha.Call(&Stub::CreateDealer, dealer, &d).ok());
  CHECK(f.alpha.Call(&Stub::CreateDealer, dealer, &d).error_code() == grpc::ALREADY_EXISTS);
  dealer.set_dealer_id("bad-territory");
  dealer.set_territory(0, "4401x");
  CHECK(f.alpha.Call(&Stub::CreateDealer, dealer, &d).error_code() == grpc::INVALID_ARGUMENT);

  const auto cases = MakeBatch(f.alpha, youma::v1::BATCH_KIND_CASE, 2, 0,
                               youma::v1::ACTIVATION_POLICY_ON_SHIPMENT);
  const auto bottles = MakeBatch(f.alpha, youma::v1::BATCH_KIND_BOTTLE, 4, 0,
                                 youma::v1::ACTIVATION_POLICY_ON_SHIPMENT);
  const auto c = StreamAll(f.alpha, cases.batch_id());
  const auto b = StreamAll(f.alpha, bottles.batch_id());
  youma::v1::AggregationReport report;
  auto* rc = report.add_cases();
  rc->set_case_code(c[0].url());
  for (const auto& x : b) rc->add_bottle_codes(x.url());
  youma::v1::AggregationResult agg;
  REQUIRE(f.alpha.Call(&Stub::ReportAggregation, report, &agg).ok());

  youma::v1::ShipmentReport ship;
  ship.set_dealer_id("nobody");
  ship.add_case_codes(c[0].url());
  youma::v1::Shipment s;
  CHECK(f.alpha.Call(&Stub::ReportShipment, ship, &s).error_code() == grpc::NOT_FOUND);
  ship.set_dealer_id(d.dealer_id());
  ship.set_request_id(absl::StrCat("ship-", ::getpid()));
  REQUIRE(f.alpha.Call(&Stub::ReportShipment, ship, &s).ok());
  CHECK(s.cases() == 1);
  CHECK(s.codes() == 5);
  CHECK(s.activated() == 5);
  CHECK(s.territory(0) == "4401");
  youma::v1::Shipment again;
  REQUIRE(f.alpha.Call(&Stub::ReportShipment, ship, &again).ok());
  CHECK(again.shipment_id() == s.shipment_id());
  CHECK(f.server.QueryInt(absl::StrCat("SELECT COUNT(*) FROM range_changes WHERE batch_id = ",
                                       bottles.batch_id(), " AND action = 1")) == 1);
  // A bottle is not a shipping unit.
  youma::v1::ShipmentReport bad;
  bad.set_dealer_id(d.dealer_id());
  bad.add_case_codes(b[0].url());
  CHECK(f.alpha.Call(&Stub::ReportShipment, bad, &s).error_code() == grpc::INVALID_ARGUMENT);
}

TEST_CASE("shipments of one brand sent at once are written in turn: each code carries the latest that holds it") {
  Fixture f;
  const youma::v1::Dealer d = MakeDealer(f.alpha, absl::StrCat("turns-", ::getpid()), "Foshan dealer", {"4406"});
  const auto batch = MakeBatch(f.alpha, youma::v1::BATCH_KIND_BOTTLE, 2'000);
  const uint64_t first = batch.batch_id();
  // Eight senders, three shipments each of overlapping ranges; senders 0 and
  // 1 send the same requests (a retry racing its original).
  struct Sent {
    uint64_t shipment_id = 0;
    std::vector<std::pair<uint64_t, uint64_t>> ranges;
  };
  std::vector<std::vector<Sent>> sent(8);
  std::vector<std::thread> senders;
  for (int t = 0; t < 8; ++t) {
    senders.emplace_back([&, t] {
      for (int k = 0; k < 3; ++k) {
        youma::v1::ShipmentReport report;
        report.set_dealer_id(d.dealer_id());
        const int who = t < 2 ? 0 : t;
        report.set_request_id(absl::StrCat("turns-", ::getpid(), "-", who, "-", k));
        Sent s;
        for (int r = 0; r < 3; ++r) {
          const uint64_t from = first + (who * 97 + k * 301 + r * 613) % 1'900;
          const uint64_t to = from + (who * 31 + k * 17 + r * 59) % 100;
          auto* range = report.add_ranges();
          range->set_first_code_id(from);
          range->set_last_code_id(to);
          s.ranges.push_back({from, to});
        }
        youma::v1::Shipment out;
        const grpc::Status st = f.alpha.Call(&Stub::ReportShipment, report, &out);
        CHECK_MESSAGE(st.ok(), st.error_message());
        s.shipment_id = out.shipment_id();
        sent[t].push_back(s);
      }
    });
  }
  for (auto& s : senders) s.join();
  for (int k = 0; k < 3; ++k) CHECK(sent[0][k].shipment_id == sent[1][k].shipment_id);
  // Shipments are written one at a time in id order, so the latest is the highest id.
  std::map<uint64_t, uint64_t> want;
  for (const auto& per_sender : sent) {
    for (const Sent& s : per_sender) {
      for (const auto& [from, to] : s.ranges) {
        for (uint64_t code = from; code <= to; ++code) want[code] = std::max(want[code], s.shipment_id);
      }
    }
  }
  std::map<uint64_t, uint64_t> got;
  const std::string rows = f.server.QueryString(absl::StrCat(
      "SELECT GROUP_CONCAT(CONCAT(first_code_id, ' ', last_code_id, ' ', shipment_id) SEPARATOR ' ') "
      "FROM shipment_territories WHERE first_code_id BETWEEN ", first, " AND ", first + 1'999));
  std::istringstream in(rows);
  for (uint64_t from, to, shipment; in >> from >> to >> shipment;) {
    for (uint64_t code = from; code <= to; ++code) CHECK(got.emplace(code, shipment).second);  // no overlaps
  }
  CHECK(got == want);
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST_CASE("exports are recorded with their digest and limited per batch") {
  Fixture f;
  const auto b = MakeBatch(f.alpha, youma::v1::BATCH_KIND_BOTTLE, 10);
  youma::v1::BeginExportRequest begin;
  begin.set_batch_id(b.batch_id());
  begin.set_format("csv");
  youma::v1::ExportRecord rec;
  for (int i = 0; i < 3; ++i) {
    REQUIRE(f.alpha.Call(&Stub::BeginExport, begin, &rec).ok());
    CHECK(rec.exports_used() == i + 1);
  }
  const grpc::Status limit = f.alpha.Call(&Stub::BeginExport, begin, &rec);
  CHECK(limit.error_code() == grpc::RESOURCE_EXHAUSTED);
  youma::v1::FinishExportRequest finish;
  finish.set_export_id(rec.export_id());
  finish.set_sha256("nothex");
  CHECK(f.alpha.Call(&Stub::FinishExport, finish, &rec).error_code() == grpc::INVALID_ARGUMENT);
  finish.set_sha256(std::string(64, 'a'));
  finish.set_codes(10);
  REQUIRE(f.alpha.Call(&Stub::FinishExport, finish, &rec).ok());
  CHECK(rec.sha256() == std::string(64, 'a'));
  CHECK(f.alpha.Call(&Stub::FinishExport, finish, &rec).error_code() == grpc::FAILED_PRECONDITION);
  begin.set_format("docx");
  CHECK(f.alpha.Call(&Stub::BeginExport, begin, &rec).error_code() == grpc::INVALID_ARGUMENT);
}

TEST_CASE("PNG exports decode to exactly the streamed codes; packs open only with their key") {
  Fixture f;
  const auto set = MakeBatch(f.alpha, youma::v1::BATCH_KIND_SET, 2, 3);
  const auto codes = StreamAll(f.alpha, set.batch_id());
  const std::string dir = f.server.dir() + "/export-png";
  youma::v1::CodeChunk chunk;
  for (const auto& c : codes) *chunk.add_codes() = c;
  {
    printer::ExportOptions png;
    png.format = "png";
    png.path = dir;
    png.threads = 2;
    ASSIGN_OR_FAIL(auto writer, printer::OpenExport(png));
    REQUIRE_OK(writer->Write(chunk));
    ASSIGN_OR_FAIL(printer::ExportSummary s, writer->Finish());
    CHECK(s.codes == codes.size());
  }
  for (const auto& c : codes) {
    ASSIGN_OR_FAIL(std::string text,
                   printer::DecodePng(Slurp(dir + "/" + std::to_string(c.code_id()) + ".png")));
    CHECK(text == c.url());
  }
  const printer::PrinterKeys house = printer::NewPrinterKeys();
  const printer::PrinterKeys other = printer::NewPrinterKeys();
  const std::string pack = f.server.dir() + "/b.pack";
  const std::string csv = f.server.dir() + "/b.csv";
  {
    ASSIGN_OR_FAIL(auto writer, printer::OpenExport({.format = "pack", .path = pack, .set_size = 3,
                                                     .recipient_public_key_hex = house.public_hex}));
    REQUIRE_OK(writer->Write(chunk));
    REQUIRE_OK(writer->Finish().status());
    printer::ExportOptions plain_options;
    plain_options.format = "csv";
    plain_options.path = csv;
    plain_options.set_size = 3;
    ASSIGN_OR_FAIL(auto plain, printer::OpenExport(plain_options));
    REQUIRE_OK(plain->Write(chunk));
    REQUIRE_OK(plain->Finish().status());
  }
  CHECK(Slurp(pack).find(codes[1].url()) == std::string::npos);
  CHECK(printer::OpenPack(pack, other.secret_hex, pack + ".wrong").code() ==
        absl::StatusCode::kPermissionDenied);
  REQUIRE_OK(printer::OpenPack(pack, house.secret_hex, pack + ".csv"));
  CHECK(Slurp(pack + ".csv") == Slurp(csv));
  const std::string text = Slurp(csv);
  CHECK(text.rfind("case_code_id,case_url,bottle_urls\n", 0) == 0);
  CHECK(text.find(absl::StrCat(codes[0].code_id(), ",", codes[0].url(), ",", codes[1].url())) !=
        std::string::npos);
  std::string tampered = Slurp(pack);
  tampered[tampered.size() - 5] ^= 1;
  std::ofstream(pack, std::ios::binary | std::ios::trunc) << tampered;
  CHECK(printer::OpenPack(pack, house.secret_hex, pack + ".csv").code() ==
        absl::StatusCode::kPermissionDenied);
}

TEST_CASE("products and dealers: create, get, list with paging") {
  Fixture f;
  TestClient admin = f.server.Connect("beta", youma::v1::ROLE_ADMIN);
  for (const char* gtin : {"00000000000017", "00000000000024", "00000000000031"}) {
    youma::v1::CreateProductRequest req;
    req.set_gtin(gtin);
    req.set_name(std::string("p") + gtin);
    youma::v1::Product p;
    const grpc::Status st = admin.Call(&Stub::CreateProduct, req, &p);
    CHECK((st.ok() || st.error_code() == grpc::ALREADY_EXISTS));
  }
  youma::v1::ListProductsRequest list;
  list.set_page_size(2);
  youma::v1::ListProductsResponse page;
  REQUIRE(admin.Call(&Stub::ListProducts, list, &page).ok());
  CHECK(page.products_size() == 2);
  REQUIRE_FALSE(page.next_page_token().empty());
  list.set_page_token(page.next_page_token());
  youma::v1::ListProductsResponse page2;
  REQUIRE(admin.Call(&Stub::ListProducts, list, &page2).ok());
  CHECK(page2.products_size() >= 1);
  CHECK(page2.products(0).gtin() > page.products(1).gtin());
  youma::v1::CreateProductRequest no_name;
  no_name.set_gtin("00000000000048");
  youma::v1::Product p;
  CHECK(admin.Call(&Stub::CreateProduct, no_name, &p).error_code() == grpc::INVALID_ARGUMENT);
}

}  // namespace
}  // namespace youma::testing

namespace youma::testing {
namespace {

// Every call, made with beta's token but naming brand alpha, is refused before
// it reads anything; calls naming alpha's rows by id find nothing.
TEST_CASE("every IssuerService call refuses another brand's name, and ids of its rows") {
  Fixture f;
  const auto denied = [](const grpc::Status& st) { return st.error_code() == grpc::PERMISSION_DENIED; };
  const TestClient& b = f.beta;
  {
    youma::v1::CreateProductRequest r; r.set_brand("alpha"); r.set_gtin(kGtin); r.set_name("x");
    youma::v1::Product o; CHECK(denied(b.Call(&Stub::CreateProduct, r, &o)));
  }
  {
    youma::v1::ListProductsRequest r; r.set_brand("alpha");
    youma::v1::ListProductsResponse o; CHECK(denied(b.Call(&Stub::ListProducts, r, &o)));
  }
  {
    youma::v1::CreateDealerRequest r; r.set_brand("alpha"); r.set_dealer_id("d"); r.set_name("d");
    r.add_territory("44");
    youma::v1::Dealer o; CHECK(denied(b.Call(&Stub::CreateDealer, r, &o)));
  }
  {
    youma::v1::GetDealerRequest r; r.set_brand("alpha"); r.set_dealer_id("d");
    youma::v1::Dealer o; CHECK(denied(b.Call(&Stub::GetDealer, r, &o)));
  }
  {
    youma::v1::ListDealersRequest r; r.set_brand("alpha");
    youma::v1::ListDealersResponse o; CHECK(denied(b.Call(&Stub::ListDealers, r, &o)));
  }
  {
    auto r = BatchRequest("cross-1"); r.set_brand("alpha");
    youma::v1::Batch o; CHECK(denied(b.Call(&Stub::CreateBatch, r, &o)));
  }
  {
    youma::v1::ListBatchesRequest r; r.set_brand("alpha");
    youma::v1::ListBatchesResponse o; CHECK(denied(b.Call(&Stub::ListBatches, r, &o)));
  }
  for (auto method : {&Stub::ActivateRange, &Stub::FreezeRange, &Stub::UnfreezeRange, &Stub::RevokeRange}) {
    youma::v1::RangeChangeRequest r; r.set_brand("alpha"); r.set_batch_id(1); r.set_reason("x");
    youma::v1::RangeChange o; CHECK(denied(b.Call(method, r, &o)));
  }
  {
    youma::v1::AggregationReport r; r.set_brand("alpha"); r.add_cases()->set_case_code("x");
    youma::v1::AggregationResult o; CHECK(denied(b.Call(&Stub::ReportAggregation, r, &o)));
  }
  {
    youma::v1::UnlinkRequest r; r.set_brand("alpha"); r.add_bottle_codes("x"); r.set_reason("x");
    youma::v1::UnlinkResult o; CHECK(denied(b.Call(&Stub::UnlinkAggregation, r, &o)));
  }
  {
    youma::v1::ShipmentReport r; r.set_brand("alpha"); r.set_dealer_id("d"); r.add_batch_ids(1);
    youma::v1::Shipment o; CHECK(denied(b.Call(&Stub::ReportShipment, r, &o)));
  }
  {
    youma::v1::BeginExportRequest r; r.set_brand("alpha"); r.set_batch_id(1); r.set_format("csv");
    youma::v1::ExportRecord o; CHECK(denied(b.Call(&Stub::BeginExport, r, &o)));
  }
  {
    youma::v1::FinishExportRequest r; r.set_brand("alpha"); r.set_export_id(1);
    r.set_sha256(std::string(64, 'a'));
    youma::v1::ExportRecord o; CHECK(denied(b.Call(&Stub::FinishExport, r, &o)));
  }
  {
    youma::v1::StreamCodesRequest r; r.set_brand("alpha"); r.set_batch_id(1);
    auto ctx = b.Context();
    auto reader = b.issuer->StreamCodes(ctx.get(), r);
    youma::v1::CodeChunk chunk;
    CHECK_FALSE(reader->Read(&chunk));
    CHECK(denied(reader->Finish()));
  }

  // Rows of alpha, named by id or code with beta's own brand: nothing found.
  youma::v1::CreateDealerRequest dealer;
  dealer.set_dealer_id(absl::StrCat("alpha-only-", ::getpid()));
  dealer.set_name("alpha dealer");
  dealer.add_territory("31");
  youma::v1::Dealer d;
  REQUIRE(f.alpha.Call(&Stub::CreateDealer, dealer, &d).ok());
  youma::v1::GetDealerRequest get_dealer;
  get_dealer.set_dealer_id(d.dealer_id());
  CHECK(b.Call(&Stub::GetDealer, get_dealer, &d).error_code() == grpc::NOT_FOUND);
  const auto batch = MakeBatch(f.alpha, youma::v1::BATCH_KIND_CASE, 2);
  youma::v1::BeginExportRequest begin;
  begin.set_batch_id(batch.batch_id());
  begin.set_format("csv");
  youma::v1::ExportRecord rec;
  REQUIRE(f.alpha.Call(&Stub::BeginExport, begin, &rec).ok());
  youma::v1::FinishExportRequest finish;
  finish.set_export_id(rec.export_id());
  finish.set_sha256(std::string(64, 'b'));
  CHECK(b.Call(&Stub::FinishExport, finish, &rec).error_code() == grpc::NOT_FOUND);
  const auto codes = StreamAll(f.alpha, batch.batch_id());
  youma::v1::UnlinkRequest unlink;
  unlink.add_bottle_codes(codes[0].url());
  unlink.set_reason("x");
  youma::v1::UnlinkResult unlinked;
  CHECK(b.Call(&Stub::UnlinkAggregation, unlink, &unlinked).error_code() == grpc::INVALID_ARGUMENT);
  youma::v1::ShipmentReport ship;
  ship.set_dealer_id(d.dealer_id());
  ship.add_case_codes(codes[0].url());
  youma::v1::Shipment s;
  CHECK(b.Call(&Stub::ReportShipment, ship, &s).error_code() == grpc::NOT_FOUND);  // no such dealer for beta
  CHECK(f.server.QueryInt(absl::StrCat("SELECT COUNT(*) FROM shipments WHERE brand = 'beta' AND dealer_id = '",
                                       d.dealer_id(), "'")) == 0);
}

}  // namespace
}  // namespace youma::testing
