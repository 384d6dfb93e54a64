// `youma scan`, `youma campaigns …` and `youma audit …`: thin clients of the
// ScanService and RulesService.
#include <google/protobuf/util/json_util.h>

#include <filesystem>
#include <fstream>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "services/cli/client.h"
#include "services/cli/cli_util.h"
#include "services/cli/commands.h"
#include "services/common/files.h"
#include "services/common/status_macros.h"
#include "services/common/rpc.h"
#include "services/common/time_util.h"
#include "services/audit/auditor.h"
#include "youma/v1/audit.grpc.pb.h"
#include "youma/v1/rules.grpc.pb.h"
#include "youma/v1/scan.grpc.pb.h"

namespace youma::cli {
namespace {

using RulesStub = youma::v1::RulesService::Stub;

absl::StatusOr<youma::v1::CampaignSpec> SpecFromFile(const std::string& path) {
  YOUMA_ASSIGN_OR_RETURN(std::string json, common::ReadFile(path));
  youma::v1::CampaignSpec spec;
  const auto st = google::protobuf::util::JsonStringToMessage(json, &spec);
  if (!st.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is not a campaign spec (JSON of youma.v1.CampaignSpec): ",
                     st.message().as_string()));
  }
  return spec;
}

}  // namespace

void AddScanCommands(CLI::App& root) {
  {
    auto* cmd = root.add_subcommand("scan", "Scan a code as a mini-program backend would");
    struct Opts {
      ClientFlags f;
      std::string code, role = "consumer", user, device, ip, region, source = "gps", scan_id;
      double lat = 0, lng = 0;
      uint64_t store = 0;
    };
    auto o = std::make_shared<Opts>();
    o->f.Add(cmd);
    cmd->add_option("code", o->code, "the code as scanned (URL or token)")->required();
    cmd->add_option("--role", o->role, "consumer, store-owner or inspector")->capture_default_str();
    cmd->add_option("--user", o->user, "user id (WeChat openid)")->required();
    cmd->add_option("--device", o->device, "device id");
    cmd->add_option("--ip", o->ip, "client IP");
    cmd->add_option("--region", o->region, "6-digit GB/T 2260 adcode, e.g. 440106");
    cmd->add_option("--region-source", o->source, "gps or ip")->capture_default_str();
    cmd->add_option("--scan-id", o->scan_id, "client scan id (default: new); retries reuse it");
    cmd->add_option("--lat", o->lat, "latitude (GPS)");
    cmd->add_option("--lng", o->lng, "longitude (GPS)");
    cmd->add_option("--store", o->store, "store owners with several stores: the store opening the case");
    cmd->footer("Example:\n  youma scan --token-file scanner.token --user oX1 --region 440106 "
                "HTTPS://YM.EXAMPLE.CN/CB3F...");
    cmd->callback([o] {
      Run([&]() -> absl::Status {
        youma::v1::ScanRequest req;
        req.set_brand(o->f.brand);
        req.set_code(o->code);
        req.set_role(o->role == "consumer"      ? youma::v1::SCAN_ROLE_CONSUMER
                     : o->role == "store-owner" ? youma::v1::SCAN_ROLE_STORE_OWNER
                     : o->role == "inspector"   ? youma::v1::SCAN_ROLE_DEALER_INSPECTION
                                                : youma::v1::SCAN_ROLE_UNSPECIFIED);
        req.set_user_id(o->user);
        req.set_device_id(o->device);
        req.set_client_ip(o->ip);
        req.set_region(o->region);
        req.set_latitude(o->lat);
        req.set_longitude(o->lng);
        req.set_store_id(o->store);
        if (!o->region.empty()) {
          req.set_region_source(o->source == "ip" ? youma::v1::REGION_SOURCE_IP : youma::v1::REGION_SOURCE_GPS);
        }
        req.set_client_scan_id(o->scan_id.empty() ? absl::StrCat("cli-", absl::ToUnixMicros(absl::Now()))
                                                  : o->scan_id);
        YOUMA_ASSIGN_OR_RETURN(auto client, Client::Connect(o->f));
        auto stub = youma::v1::ScanService::NewStub(client->channel());
        YOUMA_ASSIGN_OR_RETURN(youma::v1::ScanAnswer a,
                               client->Call(*stub, &youma::v1::ScanService::Stub::Scan, req));
        std::cout << a.message() << "\n";
        if (!a.territory_warning().empty()) std::cout << "territory: " << a.territory_warning() << "\n";
        if (a.store().opened_now()) {
          std::cout << "case opened for store " << a.store().store_id() << " (" << a.store().store_name() << ")\n";
        }
        if (a.rewards().empty() && !a.no_reward_reason().empty()) {
          std::cout << "no reward: " << a.no_reward_reason() << "\n";
        }
        std::cout << ToJson(a);
        return absl::OkStatus();
      });
    });
  }

  auto* campaigns = root.add_subcommand("campaigns", "Create, launch, change and end campaigns");
  campaigns->require_subcommand(1);
  {
    auto* cmd = campaigns->add_subcommand("create", "Create a campaign (DRAFT) from a JSON spec");
    auto f = std::make_shared<ClientFlags>();
    auto file = std::make_shared<std::string>();
    f->Add(cmd);
    cmd->add_option("--file", *file, "JSON of youma.v1.CampaignSpec")->required();
    cmd->footer(
        "Example spec:\n"
        "  {\"name\": \"Spring red packets\", \"budget_fen\": 1000000,\n"
        "   \"tiers\": [{\"name\": \"1 yuan\", \"amount_fen\": 100, \"probability_ppm\": 200000}],\n"
        "   \"start_time\": \"2026-12-01T00:00:00Z\", \"end_time\": \"2027-01-01T00:00:00Z\",\n"
        "   \"per_user_daily_limit\": 3}\n"
        "  youma campaigns create --file spring.json && youma campaigns launch --id 1");
    cmd->callback([f, file] {
      Run([&]() -> absl::Status {
        YOUMA_ASSIGN_OR_RETURN(auto spec, SpecFromFile(*file));
        youma::v1::CreateCampaignRequest req;
        req.set_brand(f->brand);
        *req.mutable_spec() = spec;
        YOUMA_ASSIGN_OR_RETURN(auto client, Client::Connect(*f));
        auto stub = youma::v1::RulesService::NewStub(client->channel());
        YOUMA_ASSIGN_OR_RETURN(auto c, client->Call(*stub, &RulesStub::CreateCampaign, req));
        std::cout << ToJson(c);
        return absl::OkStatus();
      });
    });
  }
  {
    auto* cmd = campaigns->add_subcommand("update", "Change a campaign (live: only in consumers' favour)");
    auto f = std::make_shared<ClientFlags>();
    auto file = std::make_shared<std::string>();
    auto id = std::make_shared<uint64_t>(0);
    f->Add(cmd);
    cmd->add_option("--id", *id, "campaign id")->required();
    cmd->add_option("--file", *file, "JSON of youma.v1.CampaignSpec")->required();
    cmd->footer("Example:\n  youma campaigns update --id 1 --file spring-more-budget.json");
    cmd->callback([f, file, id] {
      Run([&]() -> absl::Status {
        YOUMA_ASSIGN_OR_RETURN(auto spec, SpecFromFile(*file));
        youma::v1::UpdateCampaignRequest req;
        req.set_brand(f->brand);
        req.set_campaign_id(*id);
        *req.mutable_spec() = spec;
        YOUMA_ASSIGN_OR_RETURN(auto client, Client::Connect(*f));
        auto stub = youma::v1::RulesService::NewStub(client->channel());
        YOUMA_ASSIGN_OR_RETURN(auto c, client->Call(*stub, &RulesStub::UpdateCampaign, req));
        std::cout << ToJson(c);
        return absl::OkStatus();
      });
    });
  }
  using RefMethod = grpc::Status (RulesStub::*)(grpc::ClientContext*, const youma::v1::CampaignRef&,
                                                youma::v1::Campaign*);
  struct RefCmd {
    const char* name;
    const char* help;
    RefMethod method;
  };
  for (const RefCmd& rc : {RefCmd{"launch", "Launch: fix the draw seed and publish its hash",
                                  &RulesStub::LaunchCampaign},
                           RefCmd{"end", "End: stop awards and reveal the seed", &RulesStub::EndCampaign},
                           RefCmd{"get", "Status: spent, left, awards per tier, seed hash",
                                  &RulesStub::GetCampaign}}) {
    auto* cmd = campaigns->add_subcommand(rc.name, rc.help);
    auto f = std::make_shared<ClientFlags>();
    auto id = std::make_shared<uint64_t>(0);
    f->Add(cmd);
    cmd->add_option("--id", *id, "campaign id")->required();
    cmd->footer(absl::StrCat("Example:\n  youma campaigns ", rc.name, " --id 1"));
    const RefMethod method = rc.method;
    cmd->callback([f, id, method] {
      Run([&]() -> absl::Status {
        youma::v1::CampaignRef req;
        req.set_brand(f->brand);
        req.set_campaign_id(*id);
        YOUMA_ASSIGN_OR_RETURN(auto client, Client::Connect(*f));
        auto stub = youma::v1::RulesService::NewStub(client->channel());
        YOUMA_ASSIGN_OR_RETURN(auto c, client->Call(*stub, method, req));
        std::cout << ToJson(c);
        return absl::OkStatus();
      });
    });
  }

  auto* audit = root.add_subcommand("audit", "Audits: draws and diversion");
  audit->require_subcommand(1);
  {
    auto* cmd = audit->add_subcommand(
        "verify-draws", "Recompute every award of an ended campaign from its revealed seed");
    auto f = std::make_shared<ClientFlags>();
    auto id = std::make_shared<uint64_t>(0);
    f->Add(cmd);
    cmd->add_option("--campaign", *id, "campaign id")->required();
    cmd->footer("Exit status 0 when every award matches its draw, 1 otherwise.\n"
                "Example:\n  youma audit verify-draws --campaign 1");
    cmd->callback([f, id] {
      Run([&]() -> absl::Status {
        youma::v1::CampaignRef req;
        req.set_brand(f->brand);
        req.set_campaign_id(*id);
        YOUMA_ASSIGN_OR_RETURN(auto client, Client::Connect(*f));
        auto stub = youma::v1::RulesService::NewStub(client->channel());
        YOUMA_ASSIGN_OR_RETURN(auto audit_result, client->Call(*stub, &RulesStub::VerifyDraws, req));
        std::cout << absl::StrFormat("campaign %d: %d awards recomputed from the revealed seed, %d mismatches\n",
                                     *id, audit_result.awards_checked(), audit_result.mismatches());
        for (const auto& d : audit_result.mismatch_details()) std::cout << "  " << d << "\n";
        if (audit_result.mismatches() > 0) throw CLI::RuntimeError(1);
        return absl::OkStatus();
      });
    });
  }
  {
    auto* cmd = audit->add_subcommand("diversion", "Diversion (窜货) report: flags, evidence, totals");
    struct Opts {
      ClientFlags f;
      std::string dealer, region, gtin, csv;
    };
    auto o = std::make_shared<Opts>();
    o->f.Add(cmd);
    cmd->add_option("--dealer", o->dealer, "only this dealer's flags");
    cmd->add_option("--region", o->region, "only scans in this GB/T 2260 prefix");
    cmd->add_option("--gtin", o->gtin, "only this product");
    cmd->add_option("--csv", o->csv, "also write one row per evidence scan to this CSV file");
    cmd->footer("Example:\n  youma audit diversion --dealer gz-001 --csv gz-001.csv");
    cmd->callback([o] {
      Run([&]() -> absl::Status {
        youma::v1::DiversionReportRequest req;
        req.set_brand(o->f.brand);
        req.set_dealer_id(o->dealer);
        req.set_region_prefix(o->region);
        req.set_gtin(o->gtin);
        YOUMA_ASSIGN_OR_RETURN(auto client, Client::Connect(o->f));
        auto stub = youma::v1::AuditService::NewStub(client->channel());
        YOUMA_ASSIGN_OR_RETURN(auto report, audit::WholeDiversionReport(req, [&](const auto& page) {
                                 return client->Call(*stub, &youma::v1::AuditService::Stub::DiversionReport, page);
                               }));
        std::cout << audit::DiversionTotalsText(report);
        if (!o->csv.empty()) {
          const std::string out = audit::DiversionCsv(report);
          YOUMA_RETURN_IF_ERROR(common::WriteFileAtomic(o->csv, out, 0644));
          std::cout << "wrote " << o->csv << "\n";
        } else {
          std::cout << ToJson(report);
        }
        return absl::OkStatus();
      });
    });
  }
  {
    auto* cmd = audit->add_subcommand(
        "scan-log", "Append the scan log since the last run to a JSONL file (resumable)");
    struct Opts {
      ClientFlags f;
      std::string cursor_file, out;
    };
    auto o = std::make_shared<Opts>();
    o->f.Add(cmd);
    cmd->add_option("--cursor-file", o->cursor_file, "where the cursor is kept between runs")->required();
    cmd->add_option("--out", o->out, "JSONL file to append rows to")->required();
    cmd->footer("Example (e.g. hourly from cron, into the data warehouse):\n"
                "  youma audit scan-log --cursor-file scans.cursor --out scans.jsonl");
    cmd->callback([o] {
      Run([&]() -> absl::Status {
        std::string cursor;
        if (std::filesystem::exists(o->cursor_file)) {
          YOUMA_ASSIGN_OR_RETURN(cursor, common::ReadFile(o->cursor_file));
          while (!cursor.empty() && cursor.back() == '\n') cursor.pop_back();
        }
        YOUMA_ASSIGN_OR_RETURN(auto client, Client::Connect(o->f));
        auto stub = youma::v1::AuditService::NewStub(client->channel());
        youma::v1::ExportScanLogRequest req;
        req.set_brand(o->f.brand);
        req.set_cursor(cursor);
        auto ctx = client->Context(absl::Hours(2));
        auto reader = stub->ExportScanLog(ctx.get(), req);
        std::ofstream out(o->out, std::ios::app);
        if (!out) return absl::PermissionDeniedError(absl::StrCat("cannot write ", o->out));
        youma::v1::ScanLogChunk chunk;
        int64_t rows = 0;
        google::protobuf::util::JsonPrintOptions json;
        json.preserve_proto_field_names = true;
        while (reader->Read(&chunk)) {
          for (const auto& row : chunk.rows()) {
            std::string line;
            (void)google::protobuf::util::MessageToJsonString(row, &line, json);
            out << line << "\n";
            ++rows;
          }
          out.flush();
          // The cursor moves only once the rows before it are on disk.
          YOUMA_RETURN_IF_ERROR(common::WriteFileAtomic(o->cursor_file, chunk.next_cursor() + "\n", 0644));
        }
        YOUMA_RETURN_IF_ERROR(common::FromGrpcStatus(reader->Finish()));
        std::cout << "appended " << rows << " scans to " << o->out << "\n";
        return absl::OkStatus();
      });
    });
  }
  {
    auto* cmd = audit->add_subcommand("history", "A code's or case's history as EPCIS 2.0 JSON (GS1)");
    auto f = std::make_shared<ClientFlags>();
    auto code = std::make_shared<std::string>();
    auto id = std::make_shared<uint64_t>(0);
    auto out = std::make_shared<std::string>();
    f->Add(cmd);
    cmd->add_option("code", *code, "the code as printed (URL or token)");
    cmd->add_option("--id", *id, "or the code id");
    cmd->add_option("--out", *out, "write the document here (default: standard output)");
    cmd->footer("Example:\n  youma audit history --out case.epcis.json 'HTTPS://YM.EXAMPLE.CN/C7...'");
    cmd->callback([f, code, id, out] {
      Run([&]() -> absl::Status {
        youma::v1::CodeHistoryRequest req;
        req.set_brand(f->brand);
        req.set_code(*code);
        req.set_code_id(*id);
        YOUMA_ASSIGN_OR_RETURN(auto client, Client::Connect(*f));
        auto stub = youma::v1::AuditService::NewStub(client->channel());
        YOUMA_ASSIGN_OR_RETURN(auto h, client->Call(*stub, &youma::v1::AuditService::Stub::CodeHistory, req));
        if (out->empty()) {
          std::cout << h.epcis_json() << "\n";
        } else {
          YOUMA_RETURN_IF_ERROR(common::WriteFileAtomic(*out, h.epcis_json() + "\n", 0644));
          std::cerr << (h.is_case() ? "case " : "code ") << h.code_id() << ": " << h.events()
                    << " EPCIS events written to " << *out << "\n";
        }
        return absl::OkStatus();
      });
    });
  }
  {
    auto* cmd = audit->add_subcommand("counterfeit-map", "Counterfeit scans per region and day");
    auto f = std::make_shared<ClientFlags>();
    f->Add(cmd);
    cmd->footer("Example:\n  youma audit counterfeit-map");
    cmd->callback([f] {
      Run([&]() -> absl::Status {
        youma::v1::CounterfeitMapRequest req;
        req.set_brand(f->brand);
        YOUMA_ASSIGN_OR_RETURN(auto client, Client::Connect(*f));
        auto stub = youma::v1::AuditService::NewStub(client->channel());
        YOUMA_ASSIGN_OR_RETURN(auto map, client->Call(*stub, &youma::v1::AuditService::Stub::CounterfeitMap, req));
        for (const auto& c : map.cells()) {
          std::cout << absl::StrFormat("%s  %s  %d\n", c.day(), c.region(), c.scans());
        }
        std::cout << "total " << map.total() << "\n";
        return absl::OkStatus();
      });
    });
  }
}

}  // namespace youma::cli
