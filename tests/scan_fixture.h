// Scans and campaigns for end-to-end tests: requests with fresh client scan
// ids, a fixture with factory, scanner and admin clients of brand "alpha",
// and campaigns launched in one call.
#pragma once

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <thread>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "services/common/time_util.h"
#include "tests/harness.h"

namespace youma::testing {

using youma::v1::ScanAnswer;
using youma::v1::ScanRequest;
using IssuerStub = youma::v1::IssuerService::Stub;
using ScanStub = youma::v1::ScanService::Stub;
using RulesStub = youma::v1::RulesService::Stub;

inline std::atomic<int> g_scan_counter{0};

// The value of a counter in the server's metrics: `family` with `label` =
// `value`, or every series of `family` when `label` is empty.
inline double CounterValue(TestServer& server, const std::string& family, const std::string& label = "",
                           const std::string& value = "") {
  double total = 0;
  for (const auto& f : server.app().registry().Collect()) {
    if (f.name != family) continue;
    for (const auto& m : f.metric) {
      if (label.empty()) total += m.counter.value;
      for (const auto& l : m.label) {
        if (l.name == label && l.value == value) total += m.counter.value;
      }
    }
  }
  return total;
}

// The value of an unlabelled gauge in the server's metrics (-1 when missing).
inline double GaugeValue(TestServer& server, const std::string& family) {
  for (const auto& f : server.app().registry().Collect()) {
    if (f.name == family && !f.metric.empty()) return f.metric[0].gauge.value;
  }
  return -1.0;
}

// A name no other test or run uses (users, owners).
inline std::string Unique(const std::string& prefix) {
  return absl::StrCat(prefix, "-", ::getpid(), "-", g_scan_counter++);
}

inline ScanRequest Req(const std::string& code, youma::v1::ScanRole role = youma::v1::SCAN_ROLE_CONSUMER,
                const std::string& user = "openid-1", const std::string& region = "440106",
                youma::v1::RegionSource source = youma::v1::REGION_SOURCE_GPS) {
  ScanRequest r;
  r.set_code(code);
  r.set_role(role);
  r.set_user_id(user);
  r.set_device_id("device-" + user);
  r.set_client_ip("203.0.113.7");
  r.set_region(region);
  r.set_region_source(source);
  r.set_client_scan_id(absl::StrCat("scan-", ::getpid(), "-", g_scan_counter++));
  return r;
}

inline ScanAnswer MustScan(const TestClient& c, const ScanRequest& r) {
  ScanAnswer a;
  const grpc::Status st = c.Call(&ScanStub::Scan, r, &a);
  INFO(st.error_message());
  REQUIRE(st.ok());
  return a;
}

// Sends `requests` on one StreamScans call (so they can share a group commit)
// and returns the answers in the order they came.
inline std::vector<ScanAnswer> StreamScanAll(const TestClient& c, const std::vector<ScanRequest>& requests) {
  auto ctx = c.Context();
  auto stream = c.scan->StreamScans(ctx.get());
  for (const ScanRequest& r : requests) REQUIRE(stream->Write(r));
  stream->WritesDone();
  std::vector<ScanAnswer> answers;
  for (ScanAnswer a; stream->Read(&a);) answers.push_back(a);
  const grpc::Status st = stream->Finish();
  INFO(st.error_message());
  REQUIRE(st.ok());
  return answers;
}

struct Fixture {
  TestServer& server;
  TestClient factory = server.Connect("alpha", youma::v1::ROLE_FACTORY);
  TestClient scanner = server.Connect("alpha", youma::v1::ROLE_SCANNER);
  TestClient admin = server.Connect("alpha", youma::v1::ROLE_ADMIN);
  explicit Fixture(TestServer& on = TestServer::Shared()) : server(on) { server.EnsureProduct("alpha"); }

  // Codes of a new batch of product `gtin` (made if missing).
  // `active_since`, when given: active from then, not from now.
  std::vector<youma::v1::Code> CodesOf(const std::string& gtin, youma::v1::BatchKind kind, int n,
                                       uint32_t set_size = 0, std::optional<absl::Time> active_since = std::nullopt) {
    server.EnsureProduct("alpha", gtin);
    youma::v1::CreateBatchRequest req;
    req.set_gtin(gtin);
    req.set_kind(kind);
    req.set_quantity(n);
    req.set_set_size(set_size);
    if (active_since.has_value()) ActiveSince(req, *active_since);
    req.set_request_id(absl::StrCat("codes-of-", gtin, "-", ::getpid(), "-", g_scan_counter++));
    youma::v1::Batch batch;
    const grpc::Status st = factory.Call(&IssuerStub::CreateBatch, req, &batch);
    INFO(st.error_message());
    REQUIRE(st.ok());
    return StreamAll(factory, batch.batch_id());
  }

  // A new dealer of brand alpha selling in `territory` (GB/T 2260 prefixes).
  youma::v1::Dealer Dealer(const std::string& id, const std::string& name, std::vector<std::string> territory) {
    return MakeDealer(factory, id, name, territory);
  }

  std::vector<youma::v1::Code> Codes(youma::v1::BatchKind kind, int n, uint32_t set_size = 0,
                                     youma::v1::ActivationPolicy a = youma::v1::ACTIVATION_POLICY_IMMEDIATE,
                                     std::optional<absl::Time> active_since = std::nullopt) {
    return StreamAll(factory, MakeBatch(factory, kind, n, set_size, a, active_since).batch_id());
  }
};

inline youma::v1::CampaignSpec Spec(int64_t budget_fen, int64_t prize_fen, uint32_t ppm) {
  youma::v1::CampaignSpec s;
  s.set_name("test campaign");
  s.set_budget_fen(budget_fen);
  auto* t = s.add_tiers();
  t->set_name("red packet");
  t->set_amount_fen(prize_fen);
  t->set_probability_ppm(ppm);
  *s.mutable_start_time() = common::ToProtoTime(absl::Now() - absl::Hours(1));
  *s.mutable_end_time() = common::ToProtoTime(absl::Now() + absl::Hours(24));
  s.add_gtins(kGtin);
  return s;
}

inline youma::v1::Campaign Launch(const TestClient& admin, const youma::v1::CampaignSpec& spec) {
  youma::v1::CreateCampaignRequest create;
  *create.mutable_spec() = spec;
  youma::v1::Campaign c;
  REQUIRE(admin.Call(&RulesStub::CreateCampaign, create, &c).ok());
  CHECK(c.state() == youma::v1::CAMPAIGN_STATE_DRAFT);
  youma::v1::CampaignRef ref;
  ref.set_campaign_id(c.campaign_id());
  REQUIRE(admin.Call(&RulesStub::LaunchCampaign, ref, &c).ok());
  CHECK(c.state() == youma::v1::CAMPAIGN_STATE_ACTIVE);
  CHECK(c.seed_sha256().size() == 64);
  CHECK(c.seed_hex().empty());
  return c;
}

// The campaign with its report (state, spent and left, awards per tier).
inline youma::v1::Campaign Report(const TestClient& admin, uint64_t campaign_id) {
  youma::v1::CampaignRef ref;
  ref.set_campaign_id(campaign_id);
  youma::v1::Campaign c;
  REQUIRE(admin.Call(&RulesStub::GetCampaign, ref, &c).ok());
  return c;
}

inline void End(const TestClient& admin, uint64_t campaign_id) {
  youma::v1::CampaignRef ref;
  ref.set_campaign_id(campaign_id);
  youma::v1::Campaign c;
  REQUIRE(admin.Call(&RulesStub::EndCampaign, ref, &c).ok());
}

// Polls `done` for up to 30 s.
inline bool WaitFor(const std::function<bool()>& done) {
  for (int i = 0; i < 3000 && !done(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return done();
}

// Stalls a one-writer server's group commits: another session locks the
// history row of `code` (scanned once first, so that the row exists), a
// second scan of it starts, and the writer's group waits on the lock until
// Release() (or the end of this object's scope).
class StalledWriter {
 public:
  StalledWriter(Fixture& f, const youma::v1::Code& code) : server_(f.server) {
    MustScan(f.scanner, Req(code.url()));
    std::promise<void> locked;
    holder_ = std::thread([&, id = code.code_id()] {
      REQUIRE_OK(server_.app().pool().WithConnection([&](sql::Connection& c) -> absl::Status {
        storage::Execute(c, "BEGIN");
        std::unique_ptr<sql::Statement> st(c.createStatement());
        std::unique_ptr<sql::ResultSet> rs(st->executeQuery(
            absl::StrCat("SELECT scan_count FROM code_scans WHERE code_id = ", id, " FOR UPDATE")));
        locked.set_value();
        release_.get_future().wait();
        storage::Execute(c, "ROLLBACK");
        return absl::OkStatus();
      }));
    });
    locked.get_future().wait();
    stalled_ = std::async(std::launch::async, [&f, url = code.url()] { return MustScan(f.scanner, Req(url)); });
    // The writer's first statement waits on the row (seen in the server's
    // process list; InnoDB's transaction table can lag under load).
    writer_waits_ = WaitFor([&] {
      return server_.QueryInt("SELECT COUNT(*) FROM information_schema.processlist WHERE INFO LIKE "
                              "'INSERT INTO code_scans%'") == 1;
    });
  }
  ~StalledWriter() { Release(); }
  // Whether the stall took: the writer is waiting on the row.
  bool WriterWaits() const { return writer_waits_; }
  void Release() {
    if (released_) return;
    released_ = true;
    release_.set_value();
    holder_.join();
  }
  // The stalled scan's answer, once released.
  ScanAnswer StalledAnswer() {
    Release();
    return stalled_.get();
  }

 private:
  TestServer& server_;
  std::promise<void> release_;
  std::thread holder_;
  bool released_ = false;
  std::future<ScanAnswer> stalled_;
  bool writer_waits_ = false;
};

}  // namespace youma::testing
