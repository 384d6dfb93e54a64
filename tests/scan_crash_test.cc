// The server is killed with SIGKILL under scan load and started again: every
// scan a client saw answered is in the database, and the budget invariants hold.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <atomic>
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
  void Term() {
    ::kill(pid, SIGTERM);
    waitpid(pid, nullptr, 0);
  }
};

TEST_CASE("SIGKILL under scan load: acknowledged scans survive, the budget is never overspent") {
  REQUIRE(sodium_init() >= 0);
  char tmpl[] = "/tmp/youma-crash-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  ASSIGN_OR_FAIL(auto db, storage::LocalMariaDb::Start({.data_dir = dir + "/db", .buffer_pool = "64M"}));
  const codegen::MasterKey master = codegen::NewMasterKey();
  REQUIRE_OK(common::WriteFileAtomic(dir + "/master.key",
                                     codegen::MasterKeyText(master, codegen::SecretKeyAccess::Grant())));
  std::filesystem::create_directories(dir + "/keysets");
  ASSIGN_OR_FAIL(codegen::Keyset ks, codegen::Keyset::Create({.brand = "alpha"}, absl::Now()));
  REQUIRE_OK(common::SaveKeyset(dir + "/keysets/alpha.keyset", ks, master));
  const int port = 20000 + (::getpid() % 20000);
  ServerProcess server;
  server.args = {YOUMA_BINARY, "serve", "--mysql",
                 "mysql://root@unix(" + db->socket_path() + ")/youma", "--master-key-file",
                 dir + "/master.key", "--keyset-dir", dir + "/keysets", "--data-dir", dir + "/data",
                 "--listen", absl::StrCat("127.0.0.1:", port), "--metrics-listen", ""};
  server.Start();
  const std::string address = absl::StrCat("127.0.0.1:", port);
  auto wait_up = [&] {
    auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
    REQUIRE(channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(60)));
  };
  wait_up();
  for (int i = 0; i < 100 && !std::filesystem::exists(dir + "/data/admin.token"); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSIGN_OR_FAIL(std::string admin_token, common::ReadFile(dir + "/data/admin.token"));
  admin_token.pop_back();
  auto connect = [&](const std::string& token) {
    TestClient c;
    c.token = token;
    c.channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
    c.issuer = youma::v1::IssuerService::NewStub(c.channel);
    c.admin = youma::v1::AdminService::NewStub(c.channel);
    c.scan = youma::v1::ScanService::NewStub(c.channel);
    c.rules = youma::v1::RulesService::NewStub(c.channel);
    return c;
  };
  TestClient root = connect(admin_token);
  youma::v1::CreateTokenRequest treq;
  treq.set_brand("alpha");
  treq.set_role(youma::v1::ROLE_ADMIN);
  youma::v1::CreateTokenResponse tresp;
  REQUIRE(root.Call(&youma::v1::AdminService::Stub::CreateToken, treq, &tresp).ok());
  TestClient admin = connect(tresp.token());
  youma::v1::CreateProductRequest preq;
  preq.set_gtin(kGtin);
  preq.set_name("p");
  youma::v1::Product p;
  REQUIRE(admin.Call(&youma::v1::IssuerService::Stub::CreateProduct, preq, &p).ok());
  const auto batch = MakeBatch(admin, youma::v1::BATCH_KIND_BOTTLE, 5000);
  const auto codes = StreamAll(admin, batch.batch_id());
  youma::v1::CreateCampaignRequest creq;
  auto* spec = creq.mutable_spec();
  spec->set_name("crash");
  spec->set_budget_fen(20000);
  auto* tier = spec->add_tiers();
  tier->set_name("1 yuan");
  tier->set_amount_fen(100);
  tier->set_probability_ppm(1'000'000);
  *spec->mutable_start_time() = common::ToProtoTime(absl::Now() - absl::Hours(1));
  *spec->mutable_end_time() = common::ToProtoTime(absl::Now() + absl::Hours(1));
  youma::v1::Campaign campaign;
  REQUIRE(admin.Call(&youma::v1::RulesService::Stub::CreateCampaign, creq, &campaign).ok());
  youma::v1::CampaignRef ref;
  ref.set_campaign_id(campaign.campaign_id());
  REQUIRE(admin.Call(&youma::v1::RulesService::Stub::LaunchCampaign, ref, &campaign).ok());

  struct Acked {
    std::string scan_id;
    std::string award_id;
  };
  std::mutex mu;
  std::vector<Acked> acked;
  std::vector<youma::v1::ScanRequest> unanswered;
  std::atomic<int> next{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  for (int t = 0; t < 32; ++t) {
    clients.emplace_back([&] {
      TestClient c = connect(tresp.token());
      for (int i; !stop && (i = next++) < static_cast<int>(codes.size());) {
        youma::v1::ScanRequest r;
        r.set_code(codes[i].url());
        r.set_role(youma::v1::SCAN_ROLE_CONSUMER);
        r.set_user_id(absl::StrCat("u", i));
        r.set_client_scan_id(absl::StrCat("crash-", i));
        youma::v1::ScanAnswer a;
        auto ctx = c.Context();
        ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
        const grpc::Status st = c.scan->Scan(ctx.get(), r, &a);
        std::lock_guard<std::mutex> lock(mu);
        if (st.ok()) {
          acked.push_back({r.client_scan_id(), a.rewards().empty() ? "" : a.rewards(0).award_id()});
        } else {
          unanswered.push_back(r);
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  server.Kill();
  stop = true;
  for (auto& th : clients) th.join();
  INFO("acknowledged ", acked.size(), ", unanswered ", unanswered.size());
  CHECK(acked.size() > 100);

  storage::ConnectionPool pool(db->config(), {});
  auto query = [&](const std::string& sql) {
    absl::StatusOr<int64_t> v = pool.WithConnection([&](sql::Connection& c) -> absl::StatusOr<int64_t> {
      std::unique_ptr<sql::Statement> st(c.createStatement());
      std::unique_ptr<sql::ResultSet> rs(st->executeQuery(sql));
      if (!rs->next()) return int64_t{0};
      return static_cast<int64_t>(rs->getInt64(1));
    });
    REQUIRE_OK(v.status());
    return *v;
  };
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
  server.Start();
  wait_up();
  TestClient again = connect(tresp.token());
  for (const auto& r : unanswered) {
    youma::v1::ScanAnswer a;
    grpc::Status st = again.Call(&ScanStub::Scan, r, &a);
    if (st.error_code() == grpc::UNAVAILABLE) st = again.Call(&ScanStub::Scan, r, &a);
    INFO(st.error_message());
    REQUIRE(st.ok());
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
    REQUIRE(again.Call(&ScanStub::Scan, r, &a).ok());
    CHECK((a.rewards().empty() ? "" : a.rewards(0).award_id()) == acked[i].award_id);
  }
  CHECK(query("SELECT COUNT(*) FROM scans") == scans_before);
  CHECK(query("SELECT COUNT(*) FROM scans") == static_cast<int64_t>(acked.size() + unanswered.size()));
  CHECK(check_books() == std::min<int64_t>(20000, 100 * static_cast<int64_t>(acked.size() + unanswered.size())));
  server.Term();
  db.reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace youma::testing
