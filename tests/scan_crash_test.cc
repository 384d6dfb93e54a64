// The server is killed with SIGKILL under scan load and started again: every
// scan a client saw answered is in the database, and the budget invariants hold.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <atomic>
#include <functional>
#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "codegen/keyset_file.h"
#include "services/common/files.h"
#include "services/common/time_util.h"
#include "services/storage/local_mariadb.h"
#include "services/storage/mysql.h"
#include "tests/harness.h"
#include "tests/scan_fixture.h"

namespace youma::testing {
namespace {

using ScanStub = youma::v1::ScanService::Stub;

struct ServerProcess {
  pid_t pid = -1;
  std::vector<std::string> args;
  void Start() {
    pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      const int fd = ::open("/dev/null", O_WRONLY);
      dup2(fd, 2);
      execv(argv[0], argv.data());
      _exit(127);
    }
  }
  void Kill() {
    ::kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
  // SIGTERM, then waits; returns the exit status (or -signal) and how long it took.
  int Term(double* seconds = nullptr) {
    const absl::Time start = absl::Now();
    ::kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);
    if (seconds != nullptr) *seconds = absl::ToDoubleSeconds(absl::Now() - start);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  }
};

// `youma serve` as a separate process on a private MariaDB, with an admin
// token of brand alpha and its product kGtin; connect, kill and restart it.
struct KilledServer {
  std::string dir;
  std::unique_ptr<storage::LocalMariaDb> db;
  ServerProcess server;
  std::string address;
  std::string token;  // alpha admin
  TestClient admin;

  explicit KilledServer(std::vector<std::string> extra_args = {}) {
    REQUIRE(sodium_init() >= 0);
    char tmpl[] = "/tmp/youma-crash-XXXXXX";
    dir = mkdtemp(tmpl);
    auto started = storage::LocalMariaDb::Start({.data_dir = dir + "/db", .buffer_pool = "64M"});
    REQUIRE_OK(started.status());
    db = *std::move(started);
    const codegen::MasterKey master = codegen::NewMasterKey();
    REQUIRE_OK(common::WriteFileAtomic(dir + "/master.key",
                                       codegen::MasterKeyText(master, codegen::SecretKeyAccess::Grant())));
    std::filesystem::create_directories(dir + "/keysets");
    ASSIGN_OR_FAIL(codegen::Keyset ks, codegen::Keyset::Create({.brand = "alpha"}, absl::Now()));
    REQUIRE_OK(common::SaveKeyset(dir + "/keysets/alpha.keyset", ks, master));
    address = absl::StrCat("127.0.0.1:", 20000 + (::getpid() % 20000));
    server.args = {YOUMA_BINARY, "serve", "--mysql", "mysql://root@unix(" + db->socket_path() + ")/youma",
                   "--master-key-file", dir + "/master.key", "--keyset-dir", dir + "/keysets", "--data-dir",
                   dir + "/data", "--listen", address, "--metrics-listen", ""};
    server.args.insert(server.args.end(), extra_args.begin(), extra_args.end());
    server.Start();
    WaitUp();
    for (int i = 0; i < 100 && !std::filesystem::exists(dir + "/data/admin.token"); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSIGN_OR_FAIL(std::string root_token, common::ReadFile(dir + "/data/admin.token"));
    root_token.pop_back();
    youma::v1::CreateTokenRequest treq;
    treq.set_brand("alpha");
    treq.set_role(youma::v1::ROLE_ADMIN);
    youma::v1::CreateTokenResponse tresp;
    REQUIRE(Connect(root_token).Call(&youma::v1::AdminService::Stub::CreateToken, treq, &tresp).ok());
    token = tresp.token();
    admin = Connect(token);
    youma::v1::CreateProductRequest preq;
    preq.set_gtin(kGtin);
    preq.set_name("p");
    youma::v1::Product p;
    REQUIRE(admin.Call(&youma::v1::IssuerService::Stub::CreateProduct, preq, &p).ok());
  }
  ~KilledServer() {
    if (server.pid > 0) server.Term();
    db.reset();
    std::filesystem::remove_all(dir);
  }
  void WaitUp() const {
    auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
    REQUIRE(channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(60)));
  }
  void Restart() {
    server.Start();
    WaitUp();
  }
  TestClient Connect(const std::string& t) const { return ClientAt(address, t); }

  // 32 clients scanning `codes` once each (client scan ids "<prefix>-<i>")
  // until Stop(); `seen` gets every scan with its outcome, from their threads.
  struct Load {
    std::atomic<int> next{0};
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    void Stop() {
      stop = true;
      for (auto& th : threads) th.join();
    }
  };
  using Seen = std::function<void(const youma::v1::ScanRequest&, const grpc::Status&, const youma::v1::ScanAnswer&)>;
  std::unique_ptr<Load> StartLoad(const std::vector<youma::v1::Code>& codes, const std::string& prefix,
                                  int deadline_seconds, Seen seen) const {
    auto load = std::make_unique<Load>();
    for (int t = 0; t < 32; ++t) {
      load->threads.emplace_back([this, &codes, prefix, deadline_seconds, seen, l = load.get()] {
        TestClient c = Connect(token);
        for (int i; !l->stop && (i = l->next++) < static_cast<int>(codes.size());) {
          youma::v1::ScanRequest r;
          r.set_code(codes[i].url());
          r.set_role(youma::v1::SCAN_ROLE_CONSUMER);
          r.set_user_id(absl::StrCat("u", i));
          r.set_client_scan_id(absl::StrCat(prefix, "-", i));
          youma::v1::ScanAnswer a;
          auto ctx = c.Context();
          ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(deadline_seconds));
          const grpc::Status st = c.scan->Scan(ctx.get(), r, &a);
          seen(r, st, a);
        }
      });
    }
    return load;
  }
  // A live campaign where every scan of kGtin wins 1 yuan, within `budget`.
  youma::v1::Campaign Campaign(int64_t budget) const { return Launch(admin, Spec(budget, 100, 1'000'000)); }
  // A single value from the database, read directly (the server may be down).
  int64_t Query(const std::string& sql) const {
    storage::ConnectionPool pool(db->config(), {});
    absl::StatusOr<int64_t> v = pool.WithConnection([&](sql::Connection& c) -> absl::StatusOr<int64_t> {
      std::unique_ptr<sql::Statement> st(c.createStatement());
      std::unique_ptr<sql::ResultSet> rs(st->executeQuery(sql));
      if (!rs->next()) return int64_t{0};
      return static_cast<int64_t>(rs->getInt64(1));
    });
    REQUIRE_OK(v.status());
    return *v;
  }
};

TEST_CASE("SIGKILL under scan load: acknowledged scans survive, the budget is never overspent") {
  KilledServer k;
  // More codes than the load gets through before the kill, on any machine.
  const auto codes = StreamAll(k.admin, MakeBatch(k.admin, youma::v1::BATCH_KIND_BOTTLE, 20000).batch_id());
  const youma::v1::Campaign campaign = k.Campaign(20000);

  struct Acked {
    std::string scan_id;
    std::string award_id;
  };
  std::mutex mu;
  std::vector<Acked> acked;
  std::vector<youma::v1::ScanRequest> unanswered;
  auto load = k.StartLoad(codes, "crash", 5, [&](const youma::v1::ScanRequest& r, const grpc::Status& st,
                                                 const youma::v1::ScanAnswer& a) {
    std::lock_guard<std::mutex> lock(mu);
    if (st.ok()) {
      acked.push_back({r.client_scan_id(), a.rewards().empty() ? "" : a.rewards(0).award_id()});
    } else {
      unanswered.push_back(r);
    }
  });
  // SIGKILL once the load is well under way (and far from done).
  for (int i = 0; i < 500; ++i) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (acked.size() >= 1000) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  k.server.Kill();
  load->Stop();
  INFO("acknowledged ", acked.size(), ", unanswered ", unanswered.size());
  CHECK(acked.size() >= 1000);
  CHECK(acked.size() + unanswered.size() < codes.size());  // killed in the middle of the load

  auto query = [&](const std::string& sql) { return k.Query(sql); };

  // Durable before answered: every acknowledged scan and award is there.
  for (const Acked& a : acked) {
    REQUIRE(query("SELECT COUNT(*) FROM scans WHERE client_scan_id = '" + a.scan_id + "'") == 1);
    if (!a.award_id.empty()) {
      REQUIRE(query("SELECT COUNT(*) FROM awards WHERE award_id = '" + a.award_id + "'") == 1);
    }
  }
  const std::string c_id = std::to_string(campaign.campaign_id());
  auto check_books = [&] {
    const int64_t awarded = query("SELECT COALESCE(SUM(amount_fen), 0) FROM awards WHERE campaign_id = " + c_id);
    const int64_t left = query("SELECT SUM(remaining_fen) FROM budget_shards WHERE campaign_id = " + c_id);
    CHECK(awarded <= 20000);
    CHECK(awarded + left == 20000);
    CHECK(query("SELECT COUNT(*) FROM awards WHERE campaign_id = " + c_id) ==
          query("SELECT COUNT(DISTINCT code_id, role) FROM awards WHERE campaign_id = " + c_id));
    return awarded;
  };
  check_books();

  // Started again: retries of the unanswered scans are recorded once each.
  k.Restart();
  TestClient again = k.Connect(k.token);
  // A connection made before the restart fails its first call (UNAVAILABLE).
  auto scan_again = [&](const youma::v1::ScanRequest& r, youma::v1::ScanAnswer* a) {
    grpc::Status st = again.Call(&ScanStub::Scan, r, a);
    if (st.error_code() == grpc::UNAVAILABLE) st = again.Call(&ScanStub::Scan, r, a);
    INFO(st.error_message());
    REQUIRE(st.ok());
  };
  for (const auto& r : unanswered) {
    youma::v1::ScanAnswer a;
    scan_again(r, &a);
  }
  // Acknowledged scans retried: their first answers, nothing counted twice.
  const int64_t scans_before = query("SELECT COUNT(*) FROM scans");
  for (size_t i = 0; i < std::min<size_t>(acked.size(), 50); ++i) {
    youma::v1::ScanRequest r;
    const int index = std::stoi(acked[i].scan_id.substr(6));
    r.set_code(codes[index].url());
    r.set_role(youma::v1::SCAN_ROLE_CONSUMER);
    r.set_user_id(absl::StrCat("u", index));
    r.set_client_scan_id(acked[i].scan_id);
    youma::v1::ScanAnswer a;
    scan_again(r, &a);
    CHECK((a.rewards().empty() ? "" : a.rewards(0).award_id()) == acked[i].award_id);
  }
  CHECK(query("SELECT COUNT(*) FROM scans") == scans_before);
  CHECK(query("SELECT COUNT(*) FROM scans") == static_cast<int64_t>(acked.size() + unanswered.size()));
  CHECK(check_books() == std::min<int64_t>(20000, 100 * static_cast<int64_t>(acked.size() + unanswered.size())));
}

TEST_CASE("SIGKILL between SENT and the payer's result: the payouts come again under the same ids, paid once") {
  KilledServer k;
  constexpr int kAwards = 20;
  const auto codes = StreamAll(k.admin, MakeBatch(k.admin, youma::v1::BATCH_KIND_BOTTLE, kAwards).batch_id());
  k.Campaign(100 * kAwards);
  for (int i = 0; i < kAwards; ++i) {
    youma::v1::ScanRequest r;
    r.set_code(codes[i].url());
    r.set_role(youma::v1::SCAN_ROLE_CONSUMER);
    r.set_user_id(absl::StrCat("payee-", i));
    r.set_client_scan_id(absl::StrCat("pay-", i));
    youma::v1::ScanAnswer a;
    REQUIRE(k.admin.Call(&ScanStub::Scan, r, &a).ok());
    REQUIRE(a.rewards_size() == 1);
  }
  // The bank: a bill number is paid once, whatever is asked again.
  std::map<std::string, int> bank_pays;  // bill number -> paid (at most once)
  std::map<std::string, int> orders_seen;
  // One payer connection: takes `want` orders, answering them when `answer`.
  struct PayerStream {
    std::unique_ptr<youma::v1::PayoutService::Stub> stub;
    grpc::ClientContext ctx;
    std::unique_ptr<grpc::ClientReaderWriter<youma::v1::PayoutResult, youma::v1::PayoutOrder>> stream;
  };
  auto take = [&](PayerStream& p, size_t want, bool answer) {
    p.stub = youma::v1::PayoutService::NewStub(k.Connect(k.token).channel);
    p.ctx.AddMetadata("authorization", "Bearer " + k.token);
    p.ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    p.stream = p.stub->Payouts(&p.ctx);
    youma::v1::PayoutOrder order;
    for (size_t got = 0; got < want && p.stream->Read(&order); ++got) {
      ++orders_seen[order.payout_id()];
      bank_pays[order.payout_id()] = 1;
      if (!answer) continue;
      youma::v1::PayoutResult r;
      r.set_payout_id(order.payout_id());
      r.set_paid(true);
      r.set_external_id("wx-" + order.payout_id().substr(0, 8));
      REQUIRE(p.stream->Write(r));
    }
  };
  {
    // The payer takes 8 orders and pays them at the bank; the server dies
    // before any result reaches it.
    PayerStream first;
    take(first, 8, /*answer=*/false);
    CHECK(orders_seen.size() == 8);
    for (int i = 0; i < 50 && k.Query("SELECT COUNT(*) FROM payouts WHERE state = 2") < 8; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    k.server.Kill();
    first.ctx.TryCancel();
    (void)first.stream->Finish();
  }
  // The server paces orders out (30 a second), not by what the payer has
  // read: one more may have gone SENT, unread, before the kill.
  const int64_t sent = k.Query("SELECT COUNT(*) FROM payouts WHERE state = 2");
  CHECK(sent >= 8);
  CHECK(sent <= 10);
  k.Restart();
  // The payer reconnects (its first try may still meet the dead connection).
  std::unique_ptr<PayerStream> second;
  for (int attempt = 0; attempt < 5 && orders_seen.size() < kAwards; ++attempt) {
    if (second != nullptr) {
      const grpc::Status st = second->stream->Finish();
      REQUIRE(st.error_code() == grpc::StatusCode::UNAVAILABLE);
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    second = std::make_unique<PayerStream>();
    take(*second, kAwards - (orders_seen.size() - 8), /*answer=*/true);
  }
  for (int i = 0; i < 100 && k.Query("SELECT COUNT(*) FROM payouts WHERE state = 3") < kAwards; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // Every award paid exactly once at the bank; the 8 the payer read before the
  // crash came again under the same payout ids (a second attempt), the rest once.
  CHECK(bank_pays.size() == kAwards);
  int resent = 0;
  for (const auto& [id, n] : orders_seen) {
    CHECK(n <= 2);
    resent += n == 2;
  }
  CHECK(resent == 8);
  CHECK(k.Query("SELECT COUNT(*) FROM payouts WHERE state = 3") == kAwards);
  CHECK(k.Query("SELECT SUM(amount_fen) FROM payouts WHERE state = 3") == 100 * kAwards);
  // Every order SENT before the crash went out again, read or not.
  CHECK(k.Query("SELECT COUNT(*) FROM payouts WHERE attempts = 2") == sent);
  second->stream->WritesDone();
  second->ctx.TryCancel();
  (void)second->stream->Finish();
}

TEST_CASE("SIGTERM under scan load: acknowledged scans are all recorded and the server exits within its grace") {
  KilledServer k({"--grace-seconds", "3"});
  const auto codes = StreamAll(k.admin, MakeBatch(k.admin, youma::v1::BATCH_KIND_BOTTLE, 40000).batch_id());
  std::mutex mu;
  std::vector<std::string> acked;
  std::atomic<int> refused{0};
  auto load = k.StartLoad(codes, "term", 10, [&](const youma::v1::ScanRequest& r, const grpc::Status& st,
                                                const youma::v1::ScanAnswer&) {
    if (!st.ok()) {
      ++refused;
      return;
    }
    std::lock_guard<std::mutex> lock(mu);
    acked.push_back(r.client_scan_id());
  });
  // SIGTERM once the load is well under way (and far from done).
  for (int i = 0; i < 300; ++i) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (acked.size() >= 300) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  double seconds = 0;
  const int exit_code = k.server.Term(&seconds);
  k.server.pid = -1;
  load->Stop();
  INFO("acknowledged ", acked.size(), ", refused ", refused.load(), ", exit after ", seconds, " s");
  CHECK(exit_code == 0);
  CHECK(seconds < 3 + 2);  // the grace, plus stopping the executor and the last group commit
  CHECK(acked.size() > 100);
  CHECK(refused > 0);  // calls after the SIGTERM are turned away
  for (const std::string& id : acked) {
    REQUIRE(k.Query("SELECT COUNT(*) FROM scans WHERE client_scan_id = '" + id + "'") == 1);
  }
}

TEST_CASE("youma tokens bootstrap makes a token in the database that a running server accepts") {
  KilledServer k;
  const std::string out = k.dir + "/bootstrap.token";
  std::string printed;
  const int rc = RunCommand(absl::StrCat(YOUMA_BINARY, " tokens bootstrap --mysql 'mysql://root@unix(",
                                         k.db->socket_path(), ")/youma' --out ", out),
                            &printed);
  INFO(printed);
  REQUIRE(rc == 0);
  CHECK(printed.find("ym_") == std::string::npos);  // the token went to the file only
  ASSIGN_OR_FAIL(std::string token, common::ReadFile(out));
  token.pop_back();
  struct stat st;
  REQUIRE(stat(out.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  // An all-brands admin token: it can make a brand's token.
  youma::v1::CreateTokenRequest req;
  req.set_brand("alpha");
  req.set_role(youma::v1::ROLE_AUDITOR);
  youma::v1::CreateTokenResponse resp;
  const grpc::Status made = k.Connect(token).Call(&youma::v1::AdminService::Stub::CreateToken, req, &resp);
  INFO(made.error_message());
  CHECK(made.ok());
  CHECK(resp.info().brand() == "alpha");
  // A wrong role is refused before anything is written.
  std::string bad;
  CHECK(RunCommand(absl::StrCat(YOUMA_BINARY, " tokens bootstrap --role boss --mysql 'mysql://root@unix(",
                                k.db->socket_path(), ")/youma'"),
                   &bad) != 0);
  CHECK(bad.find("role") != std::string::npos);
}

}  // namespace
}  // namespace youma::testing
