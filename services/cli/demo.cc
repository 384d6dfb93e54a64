// `youma demo`: a guided tour of what a brand does with youma, step by step,
// using the same library calls as the real commands.
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "codegen/code_format.h"
#include "codegen/gs1.h"
#include "codegen/keyset.h"
#include "codegen/keyset_file.h"
#include "codegen/set_layout.h"
#include "printer-export/qr.h"
#include "services/app/app.h"
#include "services/audit/auditor.h"
#include "services/cli/client.h"
#include "services/cli/commands.h"
#include "services/common/rpc.h"
#include "services/common/time_util.h"
#include "youma/v1/audit.grpc.pb.h"
#include "youma/v1/payout.grpc.pb.h"
#include "youma/v1/rules.grpc.pb.h"
#include "youma/v1/scan.grpc.pb.h"
#include "youma/v1/store.grpc.pb.h"
#include "services/common/files.h"
#include "services/common/status_macros.h"

namespace youma::cli {
namespace {

using common::LoadKeyset;
using common::LoadMasterKey;
using common::ReadFile;
using common::SaveKeyset;
using common::WriteFileAtomic;

using codegen::CodeMinter;
using codegen::CodeVerifier;
using codegen::Keyset;
using codegen::Scheme;

void Step(int n, absl::string_view title) {
  std::cout << "\n== " << n << ". " << title << " ==\n";
}

std::string Show(const codegen::Verification& v) {
  if (v.verdict == codegen::Verdict::kGenuine) {
    return absl::StrFormat("GENUINE (%s, code id %d, key 0x%08x)", codegen::SchemeName(v.scheme),
                           v.code_id, v.key_id);
  }
  if (v.verdict == codegen::Verdict::kCounterfeit) return "COUNTERFEIT";
  return absl::StrCat(codegen::VerdictName(v.verdict), ": ", v.problem);
}

absl::Status OfflineDemo(const DemoOptions& options) {
  namespace fs = std::filesystem;
  fs::create_directories(options.dir);
  const std::string master_path = (fs::path(options.dir) / "master.key").string();
  const std::string keyset_path = (fs::path(options.dir) / "demo-baijiu.keyset").string();
  const std::string public_path = (fs::path(options.dir) / "demo-baijiu.pub.json").string();
  fs::remove(master_path);
  fs::remove(keyset_path);

  std::cout << "youma demo: a brand gets keys, issues codes, prints them as QR and verifies\n"
               "scans. Files go to "
            << options.dir << "/.\n";

  Step(1, "A master key encrypts every keyset at rest");
  const codegen::MasterKey master = codegen::NewMasterKey();
  YOUMA_RETURN_IF_ERROR(WriteFileAtomic(
      master_path, codegen::MasterKeyText(master, codegen::SecretKeyAccess::Grant())));
  std::cout << "wrote " << master_path << " (32 random bytes, hex, mode 0600).\n"
            << "In production it lives in a Kubernetes Secret, passed as --master-key-file or "
               "YOUMA_MASTER_KEY.\n";

  Step(2, "The brand's keyset: one primary key per code scheme");
  YOUMA_ASSIGN_OR_RETURN(Keyset ks, Keyset::Create({.brand = "Demo Baijiu 示例白酒"}, absl::Now()));
  YOUMA_RETURN_IF_ERROR(SaveKeyset(keyset_path, ks, master));
  std::cout << "wrote " << keyset_path << ", sealed with libsodium secretbox:\n";
  for (const auto& k : ks.List()) {
    std::cout << absl::StrFormat("  key 0x%08x  %-7s  %s%s\n", k.key_id,
                                 codegen::SchemeName(k.scheme), codegen::KeyStatusName(k.status),
                                 k.primary ? "  primary" : "");
  }

  Step(3, "Codes: each is a URL whose token carries a code id and a tag or signature");
  YOUMA_ASSIGN_OR_RETURN(CodeMinter compact, CodeMinter::Create(ks, Scheme::kCompact));
  YOUMA_ASSIGN_OR_RETURN(CodeMinter signed_, CodeMinter::Create(ks, Scheme::kSigned));
  std::string gtin = "0690123456789";
  gtin.push_back(codegen::GtinCheckDigit(gtin));
  YOUMA_ASSIGN_OR_RETURN(CodeMinter gs1, CodeMinter::Create(ks, Scheme::kGs1, {.prefix = std::nullopt, .gtin = gtin}));
  // One pre-associated set (套标): a case and its 6 bottles, ids computed, never stored.
  const codegen::SetLayout set(/*first_code_id=*/1001, /*bottles_per_case=*/6);
  YOUMA_ASSIGN_OR_RETURN(std::string case_url, signed_.Url(set.CaseId(0)));
  std::vector<std::string> bottle_urls;
  for (uint32_t b = 0; b < set.bottles_per_case(); ++b) {
    YOUMA_ASSIGN_OR_RETURN(std::string url, compact.Url(set.BottleId(0, b)));
    bottle_urls.push_back(url);
  }
  YOUMA_ASSIGN_OR_RETURN(std::string gs1_url, gs1.Url(2001));
  std::cout << "compact bottle code (keyed BLAKE2b, 64-bit tag, 28 base32 characters):\n  "
            << bottle_urls[0] << "\n"
            << "signed case code (Ed25519, verifiable offline with public keys):\n  " << case_url
            << "\n"
            << "gs1 code (GS1 Digital Link for POS scanners; GTIN " << gtin << "):\n  " << gs1_url
            << "\n"
            << "a set of 1 case + 6 bottles: case id " << set.CaseId(0) << ", bottles "
            << set.BottleId(0, 0) << ".." << set.BottleId(0, 5) << "; bottle "
            << set.BottleId(0, 3) << " belongs to case ";
  YOUMA_ASSIGN_OR_RETURN(uint64_t case_of, set.CaseOf(set.BottleId(0, 3), 1));
  std::cout << case_of << " (computed, not stored).\n";

  Step(4, "QR images: small, alphanumeric-mode symbols; read back with ZXing");
  struct Image {
    std::string name;
    std::string text;
  };
  for (const Image& img : {Image{"bottle.png", bottle_urls[0]}, Image{"case.png", case_url},
                           Image{"gs1.png", gs1_url}}) {
    YOUMA_ASSIGN_OR_RETURN(printer::QrSymbol qr, printer::EncodeQr(img.text));
    YOUMA_ASSIGN_OR_RETURN(std::string png, printer::RenderPng(qr, 8));
    const std::string path = (fs::path(options.dir) / img.name).string();
    YOUMA_RETURN_IF_ERROR(WriteFileAtomic(path, png, 0644));
    YOUMA_ASSIGN_OR_RETURN(std::string read_back, printer::DecodePng(png));
    std::cout << absl::StrFormat("  %-28s QR version %d-M (%dx%d modules), read back %s\n", path,
                                 qr.version(), qr.size(), qr.size(),
                                 read_back == img.text ? "exactly" : "WRONG");
  }
  YOUMA_ASSIGN_OR_RETURN(printer::QrSymbol svg_qr, printer::EncodeQr(bottle_urls[0]));
  const std::string svg_path = (fs::path(options.dir) / "bottle.svg").string();
  YOUMA_RETURN_IF_ERROR(WriteFileAtomic(svg_path, printer::RenderSvg(svg_qr), 0644));
  std::cout << "  " << svg_path << " (vector, for the print house)\n";

  Step(5, "Verification: arithmetic only, no database");
  const CodeVerifier verifier = CodeVerifier::ForKeyset(ks);
  std::string tampered = bottle_urls[0];
  char& c = tampered[tampered.size() - 5];
  c = c == 'A' ? 'B' : 'A';
  std::string lower = bottle_urls[0];
  for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  std::cout << "  the bottle code         -> " << Show(verifier.Verify(bottle_urls[0])) << "\n"
            << "  typed in lower case     -> " << Show(verifier.Verify(lower)) << "\n"
            << "  the case code           -> " << Show(verifier.Verify(case_url)) << "\n"
            << "  the gs1 code            -> " << Show(verifier.Verify(gs1_url)) << "\n"
            << "  one character changed   -> " << Show(verifier.Verify(tampered)) << "\n"
            << "  cut short               -> "
            << Show(verifier.Verify(absl::string_view(bottle_urls[0]).substr(0, 40))) << "\n";

  Step(6, "Offline dealers verify case codes with public keys only");
  YOUMA_RETURN_IF_ERROR(
      WriteFileAtomic(public_path, codegen::PublicKeysetToJson(ks.ToPublicProto()), 0644));
  YOUMA_ASSIGN_OR_RETURN(CodeVerifier offline, CodeVerifier::ForPublicKeyset(ks.ToPublicProto()));
  std::cout << "wrote " << public_path << "\n"
            << "  the case code           -> " << Show(offline.Verify(case_url)) << "\n"
            << "  a bottle code           -> " << Show(offline.Verify(bottle_urls[0])) << "\n";

  Step(7, "Key rotation: old codes stay valid until their key is destroyed");
  const uint32_t old_key = compact.key_id();
  YOUMA_ASSIGN_OR_RETURN(uint32_t new_key, ks.Rotate(Scheme::kCompact, absl::Now()));
  YOUMA_ASSIGN_OR_RETURN(CodeMinter rotated, CodeMinter::Create(ks, Scheme::kCompact));
  YOUMA_ASSIGN_OR_RETURN(std::string new_url, rotated.Url(5001));
  std::cout << absl::StrFormat("rotated: new compact primary 0x%08x (old 0x%08x)\n", new_key,
                               old_key)
            << "  new code " << new_url << " -> "
            << Show(CodeVerifier::ForKeyset(ks).Verify(new_url)) << "\n"
            << "  old bottle code         -> "
            << Show(CodeVerifier::ForKeyset(ks).Verify(bottle_urls[0])) << "\n";
  YOUMA_RETURN_IF_ERROR(ks.Destroy(old_key));
  YOUMA_RETURN_IF_ERROR(SaveKeyset(keyset_path, ks, master));
  std::cout << absl::StrFormat("destroyed 0x%08x (say, its print house leaked it):\n", old_key)
            << "  old bottle code         -> "
            << Show(CodeVerifier::ForKeyset(ks).Verify(bottle_urls[0])) << "\n";

  Step(8, "A wrong master key opens nothing");
  const absl::StatusOr<Keyset> wrong = LoadKeyset(keyset_path, codegen::NewMasterKey());
  std::cout << "  " << (wrong.ok() ? "UNEXPECTEDLY OPENED" : wrong.status().message()) << "\n";

  return absl::OkStatus();
}

template <typename Resp>
absl::StatusOr<Resp> OrExisting(absl::StatusOr<Resp> created,
                                const std::function<absl::StatusOr<Resp>()>& get) {
  if (absl::IsAlreadyExists(created.status())) return get();
  return created;
}

absl::Status IssuerDemo(const DemoOptions& options) {
  namespace fs = std::filesystem;
  using Stub = youma::v1::IssuerService::Stub;
  std::cout << "\n\n#### Part 2: the issuer service, as a factory's packaging line uses it ####\n";

  Step(9, "A youma server");
  std::unique_ptr<app::App> local;
  ClientFlags flags;
  flags.server = options.server;
  const std::string admin_token_file = options.data_dir + "/admin.token";
  YOUMA_ASSIGN_OR_RETURN(codegen::MasterKey master,
                         ServerMasterKey("", options.data_dir, /*embedded=*/true));
  const std::string brand = "demo-baijiu";
  const std::string keyset_path = options.data_dir + "/keysets/" + brand + ".keyset";
  if (!fs::exists(keyset_path)) {
    YOUMA_ASSIGN_OR_RETURN(Keyset ks, Keyset::Create({.brand = brand}, absl::Now()));
    fs::create_directories(options.data_dir + "/keysets");
    YOUMA_RETURN_IF_ERROR(SaveKeyset(keyset_path, ks, master));
    std::cout << "created " << keyset_path << " (sealed under the server's master key)\n";
  } else {
    std::cout << "using " << keyset_path << "\n";
  }
  {
    flags.token_file = "/dev/null";
    YOUMA_ASSIGN_OR_RETURN(auto probe, Client::Connect(flags));
    if (probe->Healthy(absl::Seconds(1))) {
      std::cout << "using the server already running on " << options.server << "\n";
    } else {
      app::AppOptions app_options;
      app_options.listen = options.server;
      app_options.metrics_listen = "";
      app_options.data_dir = options.data_dir;
      app_options.master_key = master;
      app_options.web.listen = options.http;
      app_options.web.regions_file = YOUMA_WEB_ASSETS "/regions.tsv";
      app_options.web.console_dir = YOUMA_WEB_ASSETS "/console";
      std::cout << "no server on " << options.server << ": starting one on the embedded default "
                << "(MariaDB under " << options.data_dir << "/mariadb)...\n";
      YOUMA_ASSIGN_OR_RETURN(local, app::App::Start(std::move(app_options)));
      flags.server = local->address();
      std::cout << "serving on " << local->address() << " (HTTP front on " << local->http_address()
                << "), database " << local->database() << "\n";
    }
  }
  if (!fs::exists(admin_token_file)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the server's admin token is not in ", admin_token_file,
        "; run the demo from the folder `youma serve` was started in"));
  }

  Step(10, "A factory token for the brand, made with the server's admin token");
  flags.token_file = admin_token_file;
  flags.brand = brand;
  YOUMA_ASSIGN_OR_RETURN(auto admin, Client::Connect(flags));
  youma::v1::CreateTokenRequest token_req;
  token_req.set_brand(brand);
  token_req.set_role(youma::v1::ROLE_FACTORY);
  token_req.set_description("youma demo: packaging line");
  YOUMA_ASSIGN_OR_RETURN(auto token, admin->Call(admin->admin(),
                                                 &youma::v1::AdminService::Stub::CreateToken, token_req));
  const std::string token_file = (fs::path(options.dir) / "factory.token").string();
  YOUMA_RETURN_IF_ERROR(WriteFileAtomic(token_file, token.token() + "\n", 0600));
  std::cout << "factory token " << token.info().token_id() << " for " << brand << " -> "
            << token_file << " (stored hashed on the server; shown only once)\n";
  flags.token_file = token_file;
  flags.brand.clear();  // a brand token acts on its own brand
  YOUMA_ASSIGN_OR_RETURN(auto line, Client::Connect(flags));

  Step(11, "Product and dealer");
  youma::v1::CreateProductRequest product_req;
  product_req.set_gtin("06901234567892");
  product_req.set_name("示例白酒 52% 500ml");
  YOUMA_ASSIGN_OR_RETURN(
      youma::v1::Product product,
      OrExisting<youma::v1::Product>(
          line->Call(line->issuer(), &Stub::CreateProduct, product_req), [&] {
            youma::v1::GetProductRequest get;
            get.set_gtin(product_req.gtin());
            return line->Call(line->issuer(), &Stub::GetProduct, get);
          }));
  youma::v1::CreateDealerRequest dealer_req;
  dealer_req.set_dealer_id("gz-001");
  dealer_req.set_name("广州天河经销商");
  dealer_req.add_territory("4401");
  YOUMA_ASSIGN_OR_RETURN(
      youma::v1::Dealer dealer,
      OrExisting<youma::v1::Dealer>(
          line->Call(line->issuer(), &Stub::CreateDealer, dealer_req), [&] {
            youma::v1::GetDealerRequest get;
            get.set_dealer_id("gz-001");
            return line->Call(line->issuer(), &Stub::GetDealer, get);
          }));
  std::cout << "product " << product.gtin() << " " << product.name() << "; dealer "
            << dealer.dealer_id() << " (" << dealer.name() << "), territory " << dealer.territory(0)
            << " (Guangzhou)\n";

  Step(12, "A SET batch: 3 cases of 6 bottles, pre-associated, written as one row");
  youma::v1::CreateBatchRequest set_req;
  set_req.set_gtin(product.gtin());
  set_req.set_kind(youma::v1::BATCH_KIND_SET);
  set_req.set_set_size(6);
  set_req.set_quantity(3);
  set_req.add_planned_territory("44");
  set_req.set_production_line("L3");
  set_req.set_request_id(absl::StrCat("demo-set-", absl::ToUnixMicros(absl::Now())));
  YOUMA_ASSIGN_OR_RETURN(youma::v1::Batch set, line->Call(line->issuer(), &Stub::CreateBatch, set_req));
  YOUMA_ASSIGN_OR_RETURN(youma::v1::Batch retry, line->Call(line->issuer(), &Stub::CreateBatch, set_req));
  std::cout << "batch " << set.batch_id() << ": codes " << set.first_code_id() << ".."
            << set.first_code_id() + set.code_count() - 1 << " (cases signed, bottles compact)\n"
            << "the line retried with the same request id -> batch " << retry.batch_id()
            << (retry.batch_id() == set.batch_id() ? " (the same one, nothing new issued)" : " (WRONG)")
            << "\n";

  Step(13, "Printer files: CSV and PNG images, each export recorded with its digest");
  ExportRequest csv;
  csv.batch_id = set.batch_id();
  csv.format = "csv";
  csv.out = (fs::path(options.dir) / absl::StrCat("batch-", set.batch_id(), ".csv")).string();
  csv.progress = false;
  YOUMA_ASSIGN_OR_RETURN(ExportResult csv_result, ExportBatch(*line, csv));
  ExportRequest png = csv;
  png.format = "png";
  png.out = (fs::path(options.dir) / absl::StrCat("batch-", set.batch_id(), "-png")).string();
  YOUMA_ASSIGN_OR_RETURN(ExportResult png_result, ExportBatch(*line, png));
  std::cout << csv.out << ": " << csv_result.codes << " codes, one set per row, sha256 "
            << csv_result.sha256.substr(0, 16) << "…\n"
            << png.out << "/: " << png_result.codes << " QR images; export "
            << png_result.record.exports_used() << " of " << png_result.record.export_limit()
            << " allowed for this batch\n";
  {
    std::ifstream in(fs::path(png.out) / absl::StrCat(set.first_code_id(), ".png"), std::ios::binary);
    std::stringstream buf;
    buf << in.rdbuf();
    YOUMA_ASSIGN_OR_RETURN(std::string text, printer::DecodePng(buf.str()));
    std::cout << "the first image reads back as " << text.substr(0, 40) << "… (the case code)\n";
  }

  Step(14, "Aggregation: the line's vision system reports which bottles went into which case");
  youma::v1::CreateBatchRequest case_req;
  case_req.set_gtin(product.gtin());
  case_req.set_kind(youma::v1::BATCH_KIND_CASE);
  case_req.set_quantity(2);
  case_req.set_activation(youma::v1::ACTIVATION_POLICY_ON_SHIPMENT);
  case_req.set_request_id(absl::StrCat("demo-cases-", absl::ToUnixMicros(absl::Now())));
  youma::v1::CreateBatchRequest bottle_req = case_req;
  bottle_req.set_kind(youma::v1::BATCH_KIND_BOTTLE);
  bottle_req.set_quantity(12);
  bottle_req.set_request_id(absl::StrCat("demo-bottles-", absl::ToUnixMicros(absl::Now())));
  YOUMA_ASSIGN_OR_RETURN(youma::v1::Batch cases, line->Call(line->issuer(), &Stub::CreateBatch, case_req));
  YOUMA_ASSIGN_OR_RETURN(youma::v1::Batch bottles,
                         line->Call(line->issuer(), &Stub::CreateBatch, bottle_req));
  std::vector<std::string> case_urls, bottle_urls;
  for (auto [batch, urls] : {std::pair{&cases, &case_urls}, std::pair{&bottles, &bottle_urls}}) {
    youma::v1::StreamCodesRequest stream;
    stream.set_batch_id(batch->batch_id());
    auto ctx = line->Context();
    auto reader = line->issuer().StreamCodes(ctx.get(), stream);
    youma::v1::CodeChunk chunk;
    while (reader->Read(&chunk)) {
      for (const auto& c : chunk.codes()) urls->push_back(c.url());
    }
    YOUMA_RETURN_IF_ERROR(common::FromGrpcStatus(reader->Finish()));
  }
  youma::v1::AggregationReport report;
  report.set_production_line("L3");
  for (int c = 0; c < 2; ++c) {
    auto* rc = report.add_cases();
    rc->set_case_code(case_urls[c]);
    for (int b = 0; b < 6; ++b) rc->add_bottle_codes(bottle_urls[c * 6 + b]);
  }
  YOUMA_ASSIGN_OR_RETURN(youma::v1::AggregationResult agg,
                         line->Call(line->issuer(), &Stub::ReportAggregation, report));
  std::cout << "linked " << agg.links() << " bottles into " << agg.cases() << " cases (batch "
            << cases.batch_id() << " cases, batch " << bottles.batch_id() << " bottles)\n";
  youma::v1::AggregationReport mistake;
  auto* mc = mistake.add_cases();
  mc->set_case_code(case_urls[1]);
  mc->add_bottle_codes(bottle_urls[0]);
  const absl::Status refused =
      line->Call(line->issuer(), &Stub::ReportAggregation, mistake).status();
  std::cout << "a misread: bottle 1 reported in case 2 -> " << absl::StatusCodeToString(refused.code())
            << ":\n  " << refused.message().substr(0, 160) << "…\n";

  Step(15, "Shipment (出库): both cases to the Guangzhou dealer; their codes activate now");
  youma::v1::ShipmentReport ship;
  ship.set_dealer_id(dealer.dealer_id());
  ship.add_case_codes(case_urls[0]);
  ship.add_case_codes(case_urls[1]);
  ship.set_request_id(absl::StrCat("demo-ship-", cases.batch_id()));
  YOUMA_ASSIGN_OR_RETURN(youma::v1::Shipment shipment,
                         line->Call(line->issuer(), &Stub::ReportShipment, ship));
  std::cout << "shipment " << shipment.shipment_id() << " to " << shipment.dealer_id() << ": "
            << shipment.cases() << " cases, " << shipment.codes() << " codes with territory "
            << shipment.territory(0) << ", " << shipment.activated()
            << " codes activated (policy: on shipment)\n";

  // ------------------------------------------------------------ scans and rules
  std::cout << "\n\n#### Part 3: consumers and store owners scan; rewards and diversion ####\n";
  using RulesStub = youma::v1::RulesService::Stub;
  using ScanStub = youma::v1::ScanService::Stub;
  auto rules_stub = youma::v1::RulesService::NewStub(admin->channel());

  Step(16, "A campaign: disclosed odds, a budget, a committed draw seed");
  youma::v1::CreateCampaignRequest campaign_req;
  campaign_req.set_brand(brand);
  auto* spec = campaign_req.mutable_spec();
  spec->set_name("开箱扫码领红包 (demo)");
  spec->set_budget_fen(10000);
  spec->add_gtins(product.gtin());
  auto* small = spec->add_tiers();
  small->set_name("1.88 yuan red packet");
  small->set_amount_fen(188);
  small->set_probability_ppm(500'000);
  auto* big = spec->add_tiers();
  big->set_name("88.88 yuan red packet");
  big->set_amount_fen(8888);
  big->set_probability_ppm(10'000);
  big->set_max_count(1);
  spec->set_per_user_daily_limit(5);
  spec->add_roles(youma::v1::SCAN_ROLE_CONSUMER);
  spec->add_roles(youma::v1::SCAN_ROLE_STORE_OWNER);
  spec->mutable_store()->set_registration_bonus_fen(500);
  spec->mutable_store()->set_rebate_fen(20);
  *spec->mutable_start_time() = common::ToProtoTime(absl::Now() - absl::Minutes(1));
  *spec->mutable_end_time() = common::ToProtoTime(absl::Now() + absl::Hours(24 * 30));
  YOUMA_ASSIGN_OR_RETURN(youma::v1::Campaign campaign,
                         admin->Call(*rules_stub, &RulesStub::CreateCampaign, campaign_req));
  youma::v1::CampaignRef campaign_ref;
  campaign_ref.set_brand(brand);
  campaign_ref.set_campaign_id(campaign.campaign_id());
  YOUMA_ASSIGN_OR_RETURN(campaign, admin->Call(*rules_stub, &RulesStub::LaunchCampaign, campaign_ref));
  std::cout << "campaign " << campaign.campaign_id() << " live: 50% win 1.88 yuan, 1% win 88.88 yuan "
            << "(one of them), budget 100 yuan;\n"
            << "stores: 5 yuan for registering, a draw for each case opened, 0.20 yuan per bottle consumers scan\n"
            << "draw seed committed: sha256 " << campaign.seed_sha256().substr(0, 16)
            << "… (revealed when the campaign ends)\n";

  token_req.set_role(youma::v1::ROLE_SCANNER);
  token_req.set_description("youma demo: mini-program backend");
  YOUMA_ASSIGN_OR_RETURN(auto scan_token, admin->Call(admin->admin(),
                                                      &youma::v1::AdminService::Stub::CreateToken, token_req));
  const std::string scan_token_file = (fs::path(options.dir) / "scanner.token").string();
  YOUMA_RETURN_IF_ERROR(WriteFileAtomic(scan_token_file, scan_token.token() + "\n", 0600));
  flags.token_file = scan_token_file;
  YOUMA_ASSIGN_OR_RETURN(auto backend, Client::Connect(flags));
  auto scan_stub = youma::v1::ScanService::NewStub(backend->channel());
  int scan_no = 0;
  auto scan = [&](const std::string& code, youma::v1::ScanRole role, const std::string& user,
                  const std::string& region) -> absl::StatusOr<youma::v1::ScanAnswer> {
    youma::v1::ScanRequest r;
    r.set_code(code);
    r.set_role(role);
    r.set_user_id(user);
    r.set_device_id("phone-" + user);
    r.set_region(region);
    r.set_region_source(youma::v1::REGION_SOURCE_GPS);
    if (region == "440106") {  // around Tianhe, Guangzhou
      r.set_latitude(23.1291 + 0.0001 * scan_no);
      r.set_longitude(113.3612);
    }
    r.set_client_scan_id(absl::StrCat("demo-", absl::ToUnixMicros(absl::Now()), "-", scan_no++));
    return backend->Call(*scan_stub, &ScanStub::Scan, r);
  };

  Step(17, "A store owner in Guangzhou registers (店主注册领红包) and opens a case (开箱有奖)");
  using StoreStub = youma::v1::StoreService::Stub;
  auto store_stub = youma::v1::StoreService::NewStub(backend->channel());
  // A new owner each run, so the demo can run again on the same server.
  const std::string shop_owner = absl::StrCat("shop-gz-", absl::ToUnixMillis(absl::Now()) % 100'000'000);
  youma::v1::RegisterStoreRequest store_req;
  store_req.set_brand(brand);
  store_req.set_owner_user_id(shop_owner);
  store_req.set_name("天河烟酒行");
  store_req.set_region("440106");
  store_req.set_latitude(23.1291);
  store_req.set_longitude(113.3612);
  store_req.set_phone("020-8888-0001");
  store_req.set_device_id("phone-" + shop_owner);
  YOUMA_ASSIGN_OR_RETURN(youma::v1::RegisterStoreResponse store,
                         backend->Call(*store_stub, &StoreStub::RegisterStore, store_req));
  std::cout << "store " << store.store().store_id() << " (" << store.store().name() << ") registered; "
            << (store.rewards().empty() ? store.no_bonus_reason()
                                        : absl::StrFormat("registration bonus %d.%02d yuan",
                                                          store.rewards(0).amount_fen() / 100,
                                                          store.rewards(0).amount_fen() % 100))
            << "\n";
  const absl::Status twice = backend->Call(*store_stub, &StoreStub::RegisterStore, store_req).status();
  std::cout << "registering again -> " << absl::StatusCodeToString(twice.code()) << ": " << twice.message() << "\n";
  YOUMA_ASSIGN_OR_RETURN(youma::v1::ScanAnswer opened,
                         scan(case_urls[0], youma::v1::SCAN_ROLE_STORE_OWNER, shop_owner, "440106"));
  std::cout << "the owner scans case " << opened.code_id() << ": "
            << (opened.store().opened_now() ? "opened for the store, its 6 bottles now count for it" : "not opened")
            << "; "
            << (opened.rewards().empty() ? absl::StrCat("no prize (", opened.no_reward_reason(), ")")
                                         : absl::StrFormat("open-case prize %d.%02d yuan",
                                                           opened.rewards(0).amount_fen() / 100,
                                                           opened.rewards(0).amount_fen() % 100))
            << "\n";

  Step(18, "Consumers in Guangzhou scan the bottles of that case: prizes for them, a rebate for the store");
  for (int i = 0; i < 6; ++i) {
    YOUMA_ASSIGN_OR_RETURN(youma::v1::ScanAnswer a, scan(bottle_urls[i], youma::v1::SCAN_ROLE_CONSUMER,
                                                         absl::StrCat("openid-", i), "440106"));
    std::cout << "  bottle " << a.code_id() << ": " << a.message()
              << (a.rewards().empty() ? absl::StrCat(" (", a.no_reward_reason(), ")") : "")
              << (a.store().store_id() != 0 ? absl::StrCat(" [from store ", a.store().store_name(), "]") : "")
              << "\n";
  }
  YOUMA_ASSIGN_OR_RETURN(youma::v1::ScanAnswer again,
                         scan(bottle_urls[0], youma::v1::SCAN_ROLE_CONSUMER, "openid-friend", "440104"));
  std::cout << "the first bottle, scanned again by someone else:\n  " << again.message() << " ("
            << again.no_reward_reason() << ")\n";
  std::string forged = bottle_urls[1];
  forged[forged.size() - 3] = forged[forged.size() - 3] == 'A' ? 'B' : 'A';
  YOUMA_ASSIGN_OR_RETURN(youma::v1::ScanAnswer fake,
                         scan(forged, youma::v1::SCAN_ROLE_CONSUMER, "openid-9", "350102"));
  std::cout << "a forged code: " << fake.message() << " (answered from memory, no database row)\n";

  Step(19, "Diversion (窜货): a store owner in Shanghai opens a case shipped to Guangzhou");
  YOUMA_ASSIGN_OR_RETURN(youma::v1::ScanAnswer owner,
                         scan(case_urls[1], youma::v1::SCAN_ROLE_STORE_OWNER, "shop-sh-01", "310101"));
  std::cout << "  " << owner.message() << "\n  warning: " << owner.territory_warning() << "\n";
  youma::v1::ListDiversionFlagsRequest flags_req;
  flags_req.set_brand(brand);
  flags_req.set_dealer_id(dealer.dealer_id());
  YOUMA_ASSIGN_OR_RETURN(auto flags_resp, admin->Call(*rules_stub, &RulesStub::ListDiversionFlags, flags_req));
  for (const auto& flag : flags_resp.flags()) {
    std::cout << "  flag: case " << flag.case_code_id() << ", rule " << flag.rule() << ", dealer "
              << flag.dealer_id() << " (shipment " << flag.shipment_id() << "), "
              << flag.evidence_size() << " scan(s) of evidence\n";
  }

  Step(20, "The store leaderboard (店主排行) and the store's verification (门店验真)");
  youma::v1::LeaderboardRequest board_req;
  board_req.set_brand(brand);
  board_req.set_region_prefix("44");
  YOUMA_ASSIGN_OR_RETURN(auto board, backend->Call(*store_stub, &StoreStub::Leaderboard, board_req));
  for (const auto& e : board.entries()) {
    std::cout << absl::StrFormat("  #%d %s (%s): %d case(s) opened, %d bottles scanned by consumers, "
                                 "rebates %d.%02d yuan\n",
                                 e.rank(), e.name(), e.region(), e.stats().cases_opened(),
                                 e.stats().consumer_scans(), e.stats().rebate_fen() / 100,
                                 e.stats().rebate_fen() % 100);
  }
  youma::v1::StoreRef store_ref;
  store_ref.set_brand(brand);
  store_ref.set_store_id(store.store().store_id());
  YOUMA_ASSIGN_OR_RETURN(auto checked, backend->Call(*store_stub, &StoreStub::GetStore, store_ref));
  std::cout << "  " << checked.name() << ": "
            << (checked.verification() == youma::v1::STORE_VERIFICATION_VERIFIED ? "verified" : "not verified yet")
            << " (" << checked.verification_reason() << "); " << checked.flags_size() << " fake-store flag(s)\n";

  Step(21, "The campaign's books, then its end: the seed is revealed and every draw re-checked");
  YOUMA_ASSIGN_OR_RETURN(campaign, admin->Call(*rules_stub, &RulesStub::GetCampaign, campaign_ref));
  std::cout << absl::StrFormat("  awards %d (of them %d store rebates, %d registration bonus), spent %d.%02d "
                               "yuan, left %d.%02d yuan\n",
                               campaign.awards(), campaign.rebates(), campaign.registration_bonuses(),
                               campaign.spent_fen() / 100, campaign.spent_fen() % 100, campaign.left_fen() / 100,
                               campaign.left_fen() % 100);
  YOUMA_ASSIGN_OR_RETURN(campaign, admin->Call(*rules_stub, &RulesStub::EndCampaign, campaign_ref));
  YOUMA_ASSIGN_OR_RETURN(youma::v1::DrawAudit draw_audit,
                         admin->Call(*rules_stub, &RulesStub::VerifyDraws, campaign_ref));
  std::cout << "  seed " << campaign.seed_hex().substr(0, 16) << "… revealed; "
            << draw_audit.awards_checked() << " awards recomputed from it, "
            << draw_audit.mismatches() << " mismatches\n";

  Step(22, "Payouts: the brand's payer takes the red packets from the outbox");
  token_req.set_role(youma::v1::ROLE_ADMIN);
  token_req.set_description("youma demo: WeChat Pay adapter");
  YOUMA_ASSIGN_OR_RETURN(auto payer_token, admin->Call(admin->admin(),
                                                       &youma::v1::AdminService::Stub::CreateToken, token_req));
  {
    auto payout_stub = youma::v1::PayoutService::NewStub(admin->channel());
    grpc::ClientContext payer_ctx;
    payer_ctx.AddMetadata("authorization", "Bearer " + payer_token.token());
    payer_ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    auto stream = payout_stub->Payouts(&payer_ctx);
    youma::v1::PayoutOrder order;
    int64_t paid = 0, total = 0;
    while (paid < campaign.awards() && stream->Read(&order)) {
      youma::v1::PayoutResult result;
      result.set_payout_id(order.payout_id());
      result.set_paid(true);
      result.set_external_id("demo-" + order.payout_id().substr(0, 8));
      stream->Write(result);
      ++paid;
      total += order.amount_fen();
      std::cout << absl::StrFormat("  paid %d.%02d yuan to %s (bill number %s)\n", order.amount_fen() / 100,
                                   order.amount_fen() % 100, order.user_id(), order.payout_id());
    }
    stream->WritesDone();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    payer_ctx.TryCancel();
    (void)stream->Finish();
    std::cout << absl::StrFormat("%d red packets, %d.%02d yuan, at most 30 a second and 10 per user a day\n",
                                 paid, total / 100, total % 100);
  }

  Step(23, "Audits: the diversion report by dealer and shipment, and a case's history as EPCIS 2.0 (GS1)");
  {
    auto audit_stub = youma::v1::AuditService::NewStub(admin->channel());
    youma::v1::DiversionReportRequest report_req;
    report_req.set_brand(brand);
    YOUMA_ASSIGN_OR_RETURN(auto report,
                           admin->Call(*audit_stub, &youma::v1::AuditService::Stub::DiversionReport, report_req));
    for (absl::string_view line : absl::StrSplit(youma::audit::DiversionTotalsText(report), '\n', absl::SkipEmpty())) {
      std::cout << "  " << line << "\n";
    }
    youma::v1::CodeHistoryRequest history_req;
    history_req.set_brand(brand);
    history_req.set_code(case_urls[0]);
    YOUMA_ASSIGN_OR_RETURN(auto history,
                           admin->Call(*audit_stub, &youma::v1::AuditService::Stub::CodeHistory, history_req));
    const std::string epcis_file = (fs::path(options.dir) / absl::StrCat("case-", history.code_id(), ".epcis.json"))
                                       .string();
    YOUMA_RETURN_IF_ERROR(WriteFileAtomic(epcis_file, history.epcis_json() + "\n", 0644));
    std::cout << "  case " << history.code_id() << ": " << history.events()
              << " EPCIS events (commissioning, packing, shipping, the store's and consumers' scans) -> "
              << epcis_file << "\n";
    const std::string& json = history.epcis_json();
    const size_t first_event = json.find("\"eventList\"");
    std::cout << "  " << json.substr(first_event, std::min<size_t>(json.find("}", first_event) - first_event + 1, 420))
              << " …\n";
  }

  // The brand console's login: an auditor token of the brand.
  token_req.set_role(youma::v1::ROLE_AUDITOR);
  token_req.set_description("youma demo: brand console");
  YOUMA_ASSIGN_OR_RETURN(auto auditor_token, admin->Call(admin->admin(),
                                                         &youma::v1::AdminService::Stub::CreateToken, token_req));
  const std::string auditor_token_file = (fs::path(options.dir) / "auditor.token").string();
  YOUMA_RETURN_IF_ERROR(WriteFileAtomic(auditor_token_file, auditor_token.token() + "\n", 0600));
  const std::string http = local ? local->http_address() : options.http;
  auto page = [&](const std::string& url) { return absl::StrCat("http://", http, url.substr(url.rfind('/'))); };
  std::cout << "\nOpen in a browser (`youma serve` serves them; the quick start keeps it running):\n"
            << "  the brand console:      http://" << http << "/console/  (log in with the token in "
            << auditor_token_file << ")\n"
            << "  a bottle never scanned: " << page(bottle_urls[6]) << "\n"
            << "  a bottle scanned twice: " << page(bottle_urls[0]) << "\n"
            << "  a forged code:          " << page(forged) << "\n";

  std::cout << "\nTry it yourself (the server "
            << (local ? "stops with this demo; `youma serve` keeps one running" : "is running")
            << "):\n"
            << "  youma batch list --token-file " << token_file << "\n"
            << "  youma export --token-file " << token_file << " --batch " << set.batch_id()
            << " --format jsonl --out batch.jsonl\n"
            << "  youma verify --keyset " << keyset_path << " --master-key-file " << options.data_dir
            << "/master.key '" << case_urls[0] << "'\n"
            << "  youma scan --token-file " << scan_token_file << " --user me --region 440106 '"
            << bottle_urls[6] << "'\n"
            << "  youma audit diversion --token-file " << admin_token_file << " --brand " << brand << "\n"
            << "  youma stores leaderboard --token-file " << scan_token_file << "\n"
            << "  youma audit history --token-file " << admin_token_file << " --brand " << brand << " '"
            << case_urls[1] << "'\n"
            << "  youma backup --data-dir " << options.data_dir << " --out " << options.data_dir
            << "-backup   (hot, while a server runs)\n";
  if (local) local->Shutdown(absl::Seconds(5));
  return absl::OkStatus();
}

absl::Status Demo(const DemoOptions& options) {
  YOUMA_RETURN_IF_ERROR(OfflineDemo(options));
  if (options.offline_only) return absl::OkStatus();
  return IssuerDemo(options);
}

}  // namespace

int RunDemo(const DemoOptions& options) {
  if (absl::Status st = Demo(options); !st.ok()) {
    std::cerr << "youma demo: " << st.message() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace youma::cli
