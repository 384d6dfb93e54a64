// `youma stores …`: a thin client of the StoreService (the store-owner
// program): register, show with verification and flags, list, leaderboard,
// and the brand's store policy.
#include <iostream>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "services/cli/cli_util.h"
#include "services/cli/client.h"
#include "services/cli/commands.h"
#include "services/common/status_macros.h"
#include "services/common/time_util.h"
#include "youma/v1/store.grpc.pb.h"

namespace youma::cli {
namespace {

using StoreStub = youma::v1::StoreService::Stub;

// Calls one StoreService method with `req` and prints the answer as JSON.
template <typename Req, typename Resp>
absl::Status CallAndPrint(const ClientFlags& f,
                          grpc::Status (StoreStub::*method)(grpc::ClientContext*, const Req&, Resp*),
                          const Req& req) {
  YOUMA_ASSIGN_OR_RETURN(auto client, Client::Connect(f));
  auto stub = youma::v1::StoreService::NewStub(client->channel());
  YOUMA_ASSIGN_OR_RETURN(Resp resp, client->Call(*stub, method, req));
  std::cout << ToJson(resp);
  return absl::OkStatus();
}

void PrintStore(const youma::v1::Store& s) {
  std::cout << absl::StrFormat("store %d  %s  region %s  owner %s\n", s.store_id(), s.name(), s.region(),
                               s.owner_user_id());
  std::cout << absl::StrFormat("  %s: %s\n",
                               s.verification() == youma::v1::STORE_VERIFICATION_VERIFIED ? "verified" : "unverified",
                               s.verification_reason());
  std::cout << absl::StrFormat("  cases opened %d, consumer scans %d, rebates %d.%02d yuan\n",
                               s.stats().cases_opened(), s.stats().consumer_scans(), s.stats().rebate_fen() / 100,
                               s.stats().rebate_fen() % 100);
  for (const auto& flag : s.flags()) std::cout << "  FLAG " << flag.rule() << ": " << flag.reason() << "\n";
}

}  // namespace

void AddStoreCommands(CLI::App& root) {
  auto* stores = root.add_subcommand("stores", "Store owners: register, verify, flags, leaderboard, policy");
  stores->require_subcommand(1);
  {
    auto* cmd = stores->add_subcommand("register", "Register a store (pays the registration bonus once)");
    struct Opts {
      ClientFlags f;
      std::string owner, name, region, phone, device;
      double lat = 0, lng = 0;
    };
    auto o = std::make_shared<Opts>();
    o->f.Add(cmd);
    cmd->add_option("--owner", o->owner, "the owner's openid")->required();
    cmd->add_option("--name", o->name, "store name")->required();
    cmd->add_option("--region", o->region, "6-digit GB/T 2260 adcode of the shop")->required();
    cmd->add_option("--lat", o->lat, "latitude of the shop");
    cmd->add_option("--lng", o->lng, "longitude of the shop");
    cmd->add_option("--phone", o->phone, "phone number")->required();
    cmd->add_option("--device", o->device, "the registering phone's device id")->required();
    cmd->footer("Example:\n  youma stores register --token-file scanner.token --owner oS1 --name '城东烟酒行' "
                "--region 440106 --lat 23.13 --lng 113.36 --phone 13800000000 --device dev-1");
    cmd->callback([o] {
      Run([&]() -> absl::Status {
        youma::v1::RegisterStoreRequest req;
        req.set_brand(o->f.brand);
        req.set_owner_user_id(o->owner);
        req.set_name(o->name);
        req.set_region(o->region);
        req.set_latitude(o->lat);
        req.set_longitude(o->lng);
        req.set_phone(o->phone);
        req.set_device_id(o->device);
        YOUMA_ASSIGN_OR_RETURN(auto client, Client::Connect(o->f));
        auto stub = youma::v1::StoreService::NewStub(client->channel());
        YOUMA_ASSIGN_OR_RETURN(auto resp, client->Call(*stub, &StoreStub::RegisterStore, req));
        PrintStore(resp.store());
        for (const auto& r : resp.rewards()) {
          std::cout << absl::StrFormat("  registration bonus %d.%02d yuan (award %s)\n", r.amount_fen() / 100,
                                       r.amount_fen() % 100, r.award_id());
        }
        if (!resp.no_bonus_reason().empty()) std::cout << "  no bonus: " << resp.no_bonus_reason() << "\n";
        return absl::OkStatus();
      });
    });
  }
  {
    auto* cmd = stores->add_subcommand("get", "A store with its verification (门店验真), flags and totals");
    auto f = std::make_shared<ClientFlags>();
    auto id = std::make_shared<uint64_t>(0);
    auto json = std::make_shared<bool>(false);
    f->Add(cmd);
    cmd->add_option("--id", *id, "store id")->required();
    cmd->add_flag("--json", *json, "print JSON");
    cmd->footer("Example:\n  youma stores get --id 4183920571");
    cmd->callback([f, id, json] {
      Run([&]() -> absl::Status {
        youma::v1::StoreRef req;
        req.set_brand(f->brand);
        req.set_store_id(*id);
        if (*json) return CallAndPrint(*f, &StoreStub::GetStore, req);
        YOUMA_ASSIGN_OR_RETURN(auto client, Client::Connect(*f));
        auto stub = youma::v1::StoreService::NewStub(client->channel());
        YOUMA_ASSIGN_OR_RETURN(auto s, client->Call(*stub, &StoreStub::GetStore, req));
        PrintStore(s);
        return absl::OkStatus();
      });
    });
  }
  {
    auto* cmd = stores->add_subcommand("list", "Stores of a brand (with --flagged: suspected fake stores, 假门店)");
    auto f = std::make_shared<ClientFlags>();
    auto region = std::make_shared<std::string>();
    auto flagged = std::make_shared<bool>(false);
    f->Add(cmd);
    cmd->add_option("--region", *region, "GB/T 2260 prefix (44, 4401, 440106)");
    cmd->add_flag("--flagged", *flagged, "only stores with flags");
    cmd->footer("Example:\n  youma stores list --flagged --region 44");
    cmd->callback([f, region, flagged] {
      Run([&]() -> absl::Status {
        YOUMA_ASSIGN_OR_RETURN(auto client, Client::Connect(*f));
        auto stub = youma::v1::StoreService::NewStub(client->channel());
        youma::v1::ListStoresRequest req;
        req.set_brand(f->brand);
        req.set_region_prefix(*region);
        req.set_flagged_only(*flagged);
        int shown = 0;
        do {
          YOUMA_ASSIGN_OR_RETURN(auto page, client->Call(*stub, &StoreStub::ListStores, req));
          for (const auto& s : page.stores()) {
            PrintStore(s);
            ++shown;
          }
          req.set_page_token(page.next_page_token());
        } while (!req.page_token().empty());
        std::cout << shown << " store" << (shown == 1 ? "" : "s") << "\n";
        return absl::OkStatus();
      });
    });
  }
  {
    auto* cmd = stores->add_subcommand("leaderboard", "店主排行: stores by cases opened or consumer scans");
    auto f = std::make_shared<ClientFlags>();
    struct Opts {
      std::string region, order = "cases";
      int days = 30;
      uint32_t limit = 20;
    };
    auto o = std::make_shared<Opts>();
    f->Add(cmd);
    cmd->add_option("--region", o->region, "GB/T 2260 prefix");
    cmd->add_option("--days", o->days, "the last N days (China time)")->capture_default_str();
    cmd->add_option("--order", o->order, "cases or scans")->capture_default_str()->check(
        CLI::IsMember({"cases", "scans"}));
    cmd->add_option("--limit", o->limit, "entries (at most 100)")->capture_default_str();
    cmd->footer("Example:\n  youma stores leaderboard --region 4401 --days 7 --order scans");
    cmd->callback([f, o] {
      Run([&]() -> absl::Status {
        youma::v1::LeaderboardRequest req;
        req.set_brand(f->brand);
        req.set_region_prefix(o->region);
        const absl::Time now = absl::Now();
        *req.mutable_to_time() = common::ToProtoTime(now);
        *req.mutable_from_time() = common::ToProtoTime(now - absl::Hours(24) * std::max(0, o->days - 1));
        req.set_order(o->order == "scans" ? youma::v1::LEADERBOARD_ORDER_CONSUMER_SCANS
                                          : youma::v1::LEADERBOARD_ORDER_CASES_OPENED);
        req.set_limit(o->limit);
        YOUMA_ASSIGN_OR_RETURN(auto client, Client::Connect(*f));
        auto stub = youma::v1::StoreService::NewStub(client->channel());
        YOUMA_ASSIGN_OR_RETURN(auto board, client->Call(*stub, &StoreStub::Leaderboard, req));
        std::cout << absl::StrFormat("%s .. %s\n%4s  %-12s %-24s %-7s %6s %8s %10s\n", board.from_day(),
                                     board.to_day(), "rank", "store", "name", "region", "cases", "scans", "rebates");
        for (const auto& e : board.entries()) {
          std::cout << absl::StrFormat("%4d  %-12d %-24s %-7s %6d %8d %7d.%02d\n", e.rank(), e.store_id(), e.name(),
                                       e.region(), e.stats().cases_opened(), e.stats().consumer_scans(),
                                       e.stats().rebate_fen() / 100, e.stats().rebate_fen() % 100);
        }
        return absl::OkStatus();
      });
    });
  }
  {
    auto* cmd = stores->add_subcommand("policy", "Show or set the brand's store rules (setting needs admin)");
    auto f = std::make_shared<ClientFlags>();
    auto p = std::make_shared<youma::v1::StorePolicy>();
    auto set = std::make_shared<bool>(false);
    f->Add(cmd);
    cmd->add_flag("--set", *set, "change the policy (fields not given go back to their defaults)");
    cmd->add_option_function<int>("--max-stores-per-owner", [p](int v) { p->set_max_stores_per_owner(v); },
                                  "stores one owner may register (default 1)");
    cmd->add_option_function<int>("--max-stores-per-device", [p](int v) { p->set_max_stores_per_device(v); },
                                  "stores one device may register before it is flagged (default 1)");
    cmd->add_option_function<int>("--duplicate-radius-m", [p](int v) { p->set_duplicate_radius_m(v); },
                                  "two stores closer than this are one place (default 30)");
    cmd->add_option_function<int>("--verify-min-cases", [p](int v) { p->set_verify_min_cases(v); },
                                  "GPS case opens in its city to verify a store (default 3)");
    cmd->add_option_function<int>("--verify-min-days", [p](int v) { p->set_verify_min_days(v); },
                                  "on this many days (default 2)");
    cmd->add_option_function<int>("--far-scan-km", [p](int v) { p->set_far_scan_km(v); },
                                  "case opens farther than this from the store are suspicious (default 20)");
    cmd->footer("Example:\n  youma stores policy --set --max-stores-per-owner 3 --max-stores-per-device 3");
    cmd->callback([f, p, set] {
      Run([&]() -> absl::Status {
        if (*set) {
          p->set_brand(f->brand);
          return CallAndPrint(*f, &StoreStub::SetStorePolicy, *p);
        }
        youma::v1::StorePolicyRef req;
        req.set_brand(f->brand);
        return CallAndPrint(*f, &StoreStub::GetStorePolicy, req);
      });
    });
  }
}

}  // namespace youma::cli
