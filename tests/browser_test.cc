// The web front in Debian's headless Chromium (driven by playwright-core from
// the npm registry; tests/browser/): a genuine code's page with its prize, a
// second scan's history, a forged code, and the brand console showing the
// budget move after a scan and a diverted case with its evidence. This file
// makes the data with the real server, then runs the browser scripts against
// its HTTP front; screenshots land in build/screenshots/.
#include <filesystem>

#include "tests/harness.h"
#include "tests/scan_fixture.h"

namespace youma::testing {
namespace {

// Runs a browser script with `env`; returns its exit code and fills `output`.
int RunNode(const std::string& script, const std::vector<std::pair<std::string, std::string>>& env,
            std::string* output) {
  std::string command;
  for (const auto& [k, v] : env) absl::StrAppend(&command, k, "='", v, "' ");
  absl::StrAppend(&command, "SCREENSHOT_DIR='", YOUMA_SCREENSHOT_DIR, "' node ", YOUMA_SOURCE_DIR,
                  "/tests/browser/", script);
  return RunCommand(command, output);
}

TEST_CASE("in Chromium: the scan page (genuine with a prize, history, counterfeit) and the console (budget, diversion)") {
  REQUIRE_MESSAGE(std::filesystem::exists(std::string(YOUMA_SOURCE_DIR) + "/tests/browser/node_modules/playwright-core"),
                  "run `npm ci --prefix tests/browser` first (scripts/test.sh does)");
  Fixture f;
  // A product whose name a careless page would run as markup.
  const std::string gtin = "06901234500059";
  f.server.EnsureProduct("alpha", gtin, "飞天 53%vol <img src=x onerror=alert(1)>");
  auto spec = Spec(10'000, 188, 1'000'000);
  spec.set_name("开箱扫码领红包 <script>alert(2)</script>");
  spec.clear_gtins();
  spec.add_gtins(gtin);
  const auto campaign = Launch(f.admin, spec);
  const auto codes = f.CodesOf(gtin, youma::v1::BATCH_KIND_BOTTLE, 3);
  std::string forged = codes[2].url();
  forged[forged.size() - 2] = forged[forged.size() - 2] == 'A' ? 'B' : 'A';

  // A case shipped to Guangzhou, opened by a store owner in Shanghai.
  const youma::v1::Dealer d = f.Dealer("gz-browser", "Guangzhou", {"4401"});
  const auto set = f.CodesOf(gtin, youma::v1::BATCH_KIND_SET, 1, 2);
  youma::v1::ShipmentReport ship;
  ship.set_dealer_id(d.dealer_id());
  ship.add_case_codes(set[0].url());
  youma::v1::Shipment shipment;
  REQUIRE(f.factory.Call(&youma::v1::IssuerService::Stub::ReportShipment, ship, &shipment).ok());
  const ScanAnswer diverted = MustScan(f.scanner, Req(set[0].url(), youma::v1::SCAN_ROLE_STORE_OWNER, "shop-sh", "310101"));
  REQUIRE_FALSE(diverted.territory_warning().empty());

  // More diversion flags than the console's first page (500), after the
  // case above: as the scan groups of a busy brand would have flagged them.
  REQUIRE_OK(f.server.app().pool().WithConnection([&](sql::Connection& c) -> absl::Status {
    storage::Execute(c, absl::StrCat("INSERT INTO diversion_flags (brand, case_code_id, rule, parameters, dealer_id, "
                                     "shipment_id, territory, flag_time) SELECT 'alpha', 7000000000 + seq, "
                                     "'consumers_out_of_territory', 'min_users=2', 'gz-browser', 0, '4401', "
                                     "TIMESTAMPADD(SECOND, seq, '", common::SqlTime(absl::Now() + absl::Minutes(1)),
                                     "') FROM seq_1_to_600"));
    return absl::OkStatus();
  }));
  const int64_t flags = f.server.QueryInt("SELECT COUNT(*) FROM diversion_flags WHERE brand = 'alpha'");
  REQUIRE(flags > 500);
  // More batches than the console shows on its first page (20).
  for (int i = 0; i < 20; ++i) MakeBatch(f.factory, youma::v1::BATCH_KIND_BOTTLE, 1);
  const int64_t batches = f.server.QueryInt("SELECT COUNT(*) FROM batches WHERE brand = 'alpha'");
  REQUIRE(batches > 20);

  const std::string http = "http://" + f.server.http();
  std::string out;
  const int scan_rc = RunNode("scan_page.spec.js",
                              {{"YOUMA_HTTP", http},
                               {"YOUMA_GENUINE_PATH", codes[0].url().substr(codes[0].url().rfind('/'))},
                               {"YOUMA_FORGED_PATH", forged.substr(forged.rfind('/'))}},
                              &out);
  INFO(out);
  CHECK(scan_rc == 0);
  CHECK(out.find("passed, 0 failed") != std::string::npos);

  // The page's prize is spent; the console shows it, then a second prize won
  // through the JSON API while the console is open.
  TestClient auditor = f.server.Connect("alpha", youma::v1::ROLE_AUDITOR);
  std::string console_out;
  const int console_rc =
      RunNode("console.spec.js",
              {{"YOUMA_HTTP", http},
               {"YOUMA_ADMIN_TOKEN", auditor.token},
               {"YOUMA_CAMPAIGN_ID", std::to_string(campaign.campaign_id())},
               {"YOUMA_EXPECT_SPENT_FEN", "188"},
               {"YOUMA_SCANNER_TOKEN", f.scanner.token},
               {"YOUMA_PRIZE_CODE", codes[1].url()},
               {"YOUMA_EXPECT_SPENT_AFTER_FEN", "376"},
               {"YOUMA_DIVERSION_CASE", std::to_string(set[0].code_id())},
               {"YOUMA_DIVERSION_PROVINCE", "上海市"},
               {"YOUMA_EXPECT_BATCHES", std::to_string(batches)},
               {"YOUMA_EXPECT_FLAGS", std::to_string(flags)}},
              &console_out);
  INFO(console_out);
  CHECK(console_rc == 0);
  CHECK(console_out.find("passed, 0 failed") != std::string::npos);
  CHECK(std::filesystem::exists(std::string(YOUMA_SCREENSHOT_DIR) + "/scan-page-genuine.png"));
  CHECK(std::filesystem::exists(std::string(YOUMA_SCREENSHOT_DIR) + "/console.png"));
  End(f.admin, campaign.campaign_id());
}

}  // namespace
}  // namespace youma::testing
