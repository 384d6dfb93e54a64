// `youma serve`, `youma migrate`, and the thin clients: tokens, products,
// dealers, batch, export, printer-keys.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "printer-export/export.h"
#include "services/app/app.h"
#include "services/cli/client.h"
#include "services/cli/cli_util.h"
#include "services/cli/config_file.h"
#include "services/cli/commands.h"
#include "services/common/auth.h"
#include "services/common/event_log.h"
#include "services/common/files.h"
#include "services/common/status_macros.h"
#include "services/common/time_util.h"
#include "services/storage/migrations.h"

namespace youma::cli {
namespace {

using common::ReadFile;
using common::WriteFileAtomic;

// How a command reaches an external MySQL: --mysql and its password and TLS files.
struct MySqlFlags {
  std::string url, password_file, ca, cert, key;

  // `required`: the command has no embedded default to fall back on.
  void Add(CLI::App* cmd, bool required) {
    auto* opt = cmd->add_option("--mysql", url,
                                required ? "mysql://USER@HOST:PORT/DB"
                                         : "use this MySQL instead of the embedded MariaDB: "
                                           "mysql://USER@HOST:PORT/DB");
    if (required) opt->required();
    cmd->add_option("--mysql-password-file", password_file, "MySQL password file (default $YOUMA_MYSQL_PASSWORD)");
    cmd->add_option("--mysql-ca", ca,
                    "CA certificate (PEM) of the MySQL server: the connection is then TLS only, and the "
                    "server's certificate must chain to it and name the host");
    cmd->add_option("--mysql-cert", cert, "client certificate (PEM) for MySQL, with --mysql-key");
    cmd->add_option("--mysql-key", key, "client certificate's private key (PEM) for MySQL");
  }

  absl::StatusOr<storage::MySqlConfig> Config() const {
    YOUMA_ASSIGN_OR_RETURN(storage::MySqlConfig config, storage::ParseMySqlUrl(url));
    if (!password_file.empty()) {
      YOUMA_ASSIGN_OR_RETURN(std::string pw, ReadFile(password_file));
      while (!pw.empty() && (pw.back() == '\n' || pw.back() == '\r')) pw.pop_back();
      config.password = pw;
    } else if (const char* env = std::getenv("YOUMA_MYSQL_PASSWORD")) {
      config.password = env;
    }
    YOUMA_RETURN_IF_ERROR(storage::SetMySqlTls(config, ca, cert, key));
    return config;
  }
};

youma::v1::CodeScheme SchemeFlag(const std::string& s) {
  if (s == "compact") return youma::v1::CODE_SCHEME_COMPACT;
  if (s == "signed") return youma::v1::CODE_SCHEME_SIGNED;
  if (s == "gs1") return youma::v1::CODE_SCHEME_GS1;
  return youma::v1::CODE_SCHEME_UNSPECIFIED;
}

std::string RandomRequestId() {
  return absl::StrCat("cli-", absl::ToUnixMicros(absl::Now()), "-", ::getpid());
}

// A whole-seconds flag for `*target`, its default shown as `*target` is now.
void AddSecondsOption(CLI::App* cmd, const std::string& name, absl::Duration* target, int min, int max,
                      const std::string& help) {
  cmd->add_option_function<int>(name, [target](int s) { *target = absl::Seconds(s); }, help)
      ->default_str(std::to_string(absl::ToInt64Seconds(*target)))
      ->check(CLI::Range(min, max));
}

// ------------------------------------------------------------------ serve

struct ServeFlags {
  app::AppOptions options;
  MySqlFlags mysql;
  std::string master_key_file;
  std::string services = "issuer,scan,audit";
  bool no_migrate = false;
  int grace_seconds = 20;
  std::string http_listen = "127.0.0.1:8080";
  std::string web_assets = YOUMA_WEB_ASSETS;
  std::string config;
  bool print_config = false;
};

void AddServeCommand(CLI::App& root) {
  auto* cmd = root.add_subcommand("serve", "Run the youma server (gRPC services and metrics)");
  auto f = std::make_shared<ServeFlags>();
  cmd->add_option("--listen", f->options.listen, "gRPC address")->capture_default_str();
  cmd->add_option("--metrics-listen", f->options.metrics_listen,
                  "Prometheus /metrics address (empty: off)")
      ->capture_default_str();
  cmd->add_option("--data-dir", f->options.data_dir,
                  "state: embedded MariaDB, admin token, keysets")
      ->capture_default_str();
  f->mysql.Add(cmd, /*required=*/false);
  cmd->add_option("--keyset-dir", f->options.keyset_dir,
                  "folder of brand keysets (default <data-dir>/keysets)");
  cmd->add_option("--master-key-file", f->master_key_file,
                  "master key (default $YOUMA_MASTER_KEY; embedded mode: <data-dir>/master.key)");
  cmd->add_option("--tls-cert", f->options.tls_cert_file, "TLS certificate chain (PEM)");
  cmd->add_option("--tls-key", f->options.tls_key_file, "TLS private key (PEM)");
  cmd->add_option("--health-listen", f->options.health_listen,
                  "plaintext port serving only gRPC health checks (for probes when gRPC uses TLS)");
  cmd->add_option("--services", f->services, "comma-separated services to run")
      ->capture_default_str();
  cmd->add_flag("--no-migrate", f->no_migrate,
                "do not apply schema migrations (run `youma migrate` once instead)");
  cmd->add_option("--grace-seconds", f->grace_seconds,
                  "on SIGTERM, how long running calls may finish")
      ->capture_default_str();
  cmd->add_option("--db-connections", f->options.db_connections, "database connections of this server")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  cmd->add_option("--executor-threads", f->options.executor_threads, "threads for calls that wait on the database")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  cmd->add_option("--scan-writers", f->options.scan.writers,
                  "group-commit writers: each commits one group of scans at a time, while the "
                  "next gathers (more help when the database is far away)")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  cmd->add_option("--scan-batch-scheduling", f->options.scan.batch_scheduling,
                  "run the scan writers and answerers under SCHED_BATCH: woken by the database or a committed "
                  "group, they wait for the thread on the core to finish its turn instead of preempting it "
                  "(larger groups and about 10% less CPU per scan on a busy core; false: the default policy)")
      ->default_str(f->options.scan.batch_scheduling ? "true" : "false");
  cmd->add_option("--scan-max-queued", f->options.scan.max_queued,
                  "scans waiting for the database beyond this many are refused at once with UNAVAILABLE "
                  "(callers retry with the same client scan id), so that a stalled database costs bounded "
                  "memory and waits")
      ->capture_default_str()
      ->check(CLI::Range(1, 10'000'000));
  AddSecondsOption(cmd, "--scan-log-hold-back-seconds", &f->options.audit.scan_log_hold_back, 1, 3600,
                   "the scan-log export leaves out scans recorded this recently, so that a server whose clock is "
                   "behind is not passed (exports wait for groups still committing in any case); scan groups that "
                   "commit later than this are counted in youma_scan_slow_commits_total (the same on every server)");
  AddSecondsOption(cmd, "--scan-log-gate-wait-seconds", &f->options.audit.scan_log_gate_wait, 1, 60,
                   "how long a scan-log export read waits for the scan groups still committing before it answers "
                   "UNAVAILABLE (scan groups that start meanwhile wait for it as long)");
  AddSecondsOption(cmd, "--upgrade-catch-up-seconds", &f->options.upgrade_catch_up, 0, 3600,
                   "how often to look for what an older youma recorded during a rolling upgrade: shipments and "
                   "range changes (issuer on; scans see them once caught up), awards and payout states (scan service on; "
                   "counted into the campaigns' totals); 0: never");
  AddSecondsOption(cmd, "--scan-hours-rollup-seconds", &f->options.scan_hours_rollup, 0, 3600,
                   "with the scan service on: how often to count the scans of hours past per brand and province "
                   "for the console's map (it reads the hours not counted yet from the scan log; 0: never)");
  cmd->add_option("--personal-data-days", f->options.audit.personal_data_days,
                  "with the scan service on: clear who scanned (user, device, IP, coordinates) from scans this many "
                  "days old, hourly, and users' last positions and first IPs; 0: keep them (the fraud limits' per-day "
                  "counters are kept two days in any case)")
      ->capture_default_str()
      ->check(CLI::Range(0, 36500));
  AddSecondsOption(cmd, "--max-connection-age-seconds", &f->options.max_connection_age, 0, 86400,
                   "clients reconnect after this long, spreading them over new servers (0: never)");
  cmd->add_option("--http-listen", f->http_listen,
                  "HTTP front: the scan page, the JSON API and the console (empty: off)")
      ->capture_default_str();
  cmd->add_option("--web-assets", f->web_assets, "region names and the built console (from the build)")
      ->capture_default_str();
  AddSecondsOption(cmd, "--web-record-timeout-seconds", &f->options.web.record_timeout, 1, 300,
                   "how long the scan page waits for a scan to be recorded before it asks the phone to try again "
                   "(with the same scan id: a scan that reached the database meanwhile keeps its first answer)");
  cmd->add_option("--miniprogram-url", f->options.web.miniprogram_url,
                  "where the scan page's \"continue in the mini-program\" button leads")
      ->capture_default_str();
  cmd->add_option("--region-header", f->options.web.region_header,
                  "header the edge sets to the client's adcode from geo-IP (used without GPS)")
      ->capture_default_str();
  cmd->add_flag("--trust-forwarded-for", f->options.web.trust_forwarded_for,
                "behind a proxy: the client IP is the first X-Forwarded-For entry");
  cmd->add_flag("--secure-cookies", f->options.web.secure_cookies,
                "the HTTP front is reached over HTTPS (cookies get the Secure attribute)");
  cmd->add_option("--config", f->config,
                  "settings from a TOML file: the long flag names without dashes (listen = \"0.0.0.0:7443\"); "
                  "flags given here win")
      ->envname("YOUMA_CONFIG")
      ->configurable(false);
  cmd->add_flag("--print-config", f->print_config,
                "print the settings this command would run with, as a config file, and exit")
      ->configurable(false);
  cmd->footer(
      "Examples:\n"
      "  youma serve                       # embedded MariaDB under ./var, 127.0.0.1:7443\n"
      "  youma serve --print-config > youma.toml   # every setting with its default, to edit\n"
      "  youma serve --config youma.toml --listen 127.0.0.1:7444\n"
      "  youma serve --mysql mysql://youma@db:3306/youma --mysql-password-file /run/secrets/pw \\\n"
      "      --master-key-file /run/secrets/master.key --keyset-dir /run/secrets/keysets \\\n"
      "      --listen 0.0.0.0:7443 --tls-cert tls.crt --tls-key tls.key");
  cmd->callback([f, cmd] {
    Run([&]() -> absl::Status {
      if (!f->config.empty()) YOUMA_RETURN_IF_ERROR(ApplyConfigFile(*cmd, f->config));
      if (f->print_config) {
        std::cout << ConfigFileText(*cmd);
        return absl::OkStatus();
      }
      app::AppOptions options = f->options;
      options.services.clear();
      for (absl::string_view s : absl::StrSplit(f->services, ',', absl::SkipEmpty())) {
        options.services.insert(std::string(s));
      }
      options.migrate = !f->no_migrate;
      options.web.listen = f->http_listen;
      options.web.regions_file = f->web_assets + "/regions.tsv";
      options.web.console_dir = f->web_assets + "/console";
      if (!f->mysql.url.empty()) {
        YOUMA_ASSIGN_OR_RETURN(options.mysql, f->mysql.Config());
      } else if (!f->mysql.ca.empty() || !f->mysql.cert.empty() || !f->mysql.key.empty()) {
        return absl::InvalidArgumentError("--mysql-ca, --mysql-cert and --mysql-key are for an external --mysql");
      }
      common::EventLog log(&std::cerr);
      options.log = &log;
      // Signals go to sigwait below, not to the server's threads.
      sigset_t signals;
      sigemptyset(&signals);
      sigaddset(&signals, SIGINT);
      sigaddset(&signals, SIGTERM);
      pthread_sigmask(SIG_BLOCK, &signals, nullptr);
      YOUMA_ASSIGN_OR_RETURN(options.master_key,
                             ServerMasterKey(f->master_key_file, options.data_dir,
                                             /*embedded=*/f->mysql.url.empty()));
      std::cerr << "youma serve: starting (" << (f->mysql.url.empty() ? "embedded MariaDB under " +
                                                                        options.data_dir + "/mariadb"
                                                                  : f->mysql.url)
                << ")\n";
      YOUMA_ASSIGN_OR_RETURN(std::unique_ptr<app::App> server, app::App::Start(options));
      if (!server->http_address().empty()) {
        std::cerr << "youma serve: HTTP front (scan page, JSON API, console) on http://" << server->http_address()
                  << "/console/\n";
      }
      std::cerr << "youma serve: " << f->services << " on " << server->address()
                << (options.tls_cert_file.empty() ? " (plaintext)" : " (TLS)")
                << ", metrics on "
                << (options.metrics_listen.empty() ? "(off)" : options.metrics_listen + "/metrics")
                << ", database " << server->database() << "\n";
      if (!server->admin_token_file().empty()) {
        std::cerr << "youma serve: first start: an admin token for every brand is in "
                  << server->admin_token_file()
                  << " (mode 0600); use it to create brand tokens:\n"
                  << "  youma tokens create --token-file " << server->admin_token_file()
                  << " --brand BRAND --role factory\n";
      }
      std::cerr << "youma serve: ready; SIGTERM or Ctrl-C stops it\n";
      log.Info("serve_started", {{"services", f->services},
                                 {"address", server->address()},
                                 {"tls", !options.tls_cert_file.empty()},
                                 {"database", server->database()},
                                 {"http", server->http_address()},
                                 {"metrics", options.metrics_listen}});
      int sig = 0;
      sigwait(&signals, &sig);
      log.Info("serve_stopping", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"},
                                  {"grace_seconds", f->grace_seconds}});
      std::cerr << "youma serve: " << (sig == SIGTERM ? "SIGTERM" : "SIGINT")
                << ": finishing running calls (up to " << f->grace_seconds << " s)\n";
      server->Shutdown(absl::Seconds(f->grace_seconds));
      server.reset();
      log.Info("serve_stopped");
      std::cerr << "youma serve: stopped\n";
      return absl::OkStatus();
    });
  });

  auto* migrate = root.add_subcommand("migrate", "Apply schema migrations to a MySQL database");
  auto m = std::make_shared<MySqlFlags>();
  m->Add(migrate, /*required=*/true);
  migrate->footer("Example (a helm hook Job runs this once per release):\n"
                  "  youma migrate --mysql mysql://youma@db:3306/youma --mysql-password-file pw");
  migrate->callback([m] {
    Run([&]() -> absl::Status {
      YOUMA_ASSIGN_OR_RETURN(storage::MySqlConfig config, m->Config());
      storage::ConnectionPool pool(config, {.max_connections = 1});
      YOUMA_ASSIGN_OR_RETURN(int applied, storage::ApplyMigrations(pool));
      std::cout << "applied " << applied << " migration(s); schema is at version "
                << storage::AllMigrations().back().version << "\n";
      return absl::OkStatus();
    });
  });
}

// ----------------------------------------------------------------- tokens

void AddTokenCommands(CLI::App& root) {
  auto* tokens = root.add_subcommand("tokens", "Create, list and revoke API tokens");
  tokens->require_subcommand(1);
  {
    auto* cmd = tokens->add_subcommand("create", "Create a token for a brand and role");
    auto f = std::make_shared<ClientFlags>();
    auto role = std::make_shared<std::string>();
    auto desc = std::make_shared<std::string>();
    f->Add(cmd);
    cmd->add_option("--role", *role, "factory, scanner, auditor or admin")->required();
    cmd->add_option("--description", *desc, "what the token is for (a line, a mini-program)");
    cmd->footer("Example:\n  youma tokens create --token-file var/admin.token --brand moutai "
                "--role factory --description 'line 3'\nThe token is printed once; store it.");
    cmd->callback([f, role, desc] {
      Run([&]() -> absl::Status {
        YOUMA_ASSIGN_OR_RETURN(youma::v1::Role r, common::ParseRole(*role));
        YOUMA_ASSIGN_OR_RETURN(auto client, Client::Connect(*f));
        youma::v1::CreateTokenRequest req;
        req.set_brand(f->brand);
        req.set_role(r);
        req.set_description(*desc);
        YOUMA_ASSIGN_OR_RETURN(auto resp, client->Call(client->admin(),
                                                       &youma::v1::AdminService::Stub::CreateToken, req));
        std::cout << resp.token() << "\n";
        std::cerr << "token " << resp.info().token_id() << " for " << resp.info().brand() << ", role "
                  << common::RoleName(resp.info().role()) << "; this is the only time it is shown\n";
        return absl::OkStatus();
      });
    });
  }
  {
    // Kubernetes and other fresh installs: no server has written admin.token
    // anywhere an operator can read, so the first token comes from the database.
    auto* cmd = tokens->add_subcommand(
        "bootstrap", "Create a token directly in the database (first admin token of an installation)");
    struct Opts {
      MySqlFlags mysql;
      std::string brand = "*", role = "admin", description = "bootstrap", out;
    };
    auto o = std::make_shared<Opts>();
    o->mysql.Add(cmd, /*required=*/true);
    cmd->add_option("--brand", o->brand, "a brand, or * for every brand")->capture_default_str();
    cmd->add_option("--role", o->role, "factory, scanner, auditor or admin")->capture_default_str();
    cmd->add_option("--description", o->description, "what the token is for")->capture_default_str();
    cmd->add_option("--out", o->out, "write the token to this file (mode 0600) instead of standard output");
    cmd->footer("Example (once, from a pod that can reach the database):\n"
                "  youma tokens bootstrap --mysql mysql://youma@db:3306/youma --mysql-password-file pw \\\n"
                "      --out /tmp/admin.token");
    cmd->callback([o] {
      Run([&]() -> absl::Status {
        YOUMA_ASSIGN_OR_RETURN(youma::v1::Role r, common::ParseRole(o->role));
        YOUMA_ASSIGN_OR_RETURN(storage::MySqlConfig config, o->mysql.Config());
        storage::ConnectionPool pool(config, {.max_connections = 1});
        common::TokenStore store(&pool);
        YOUMA_ASSIGN_OR_RETURN(common::TokenStore::Created t, store.Create(o->brand, r, o->description));
        if (o->out.empty()) {
          std::cout << t.token << "\n";
        } else {
          YOUMA_RETURN_IF_ERROR(common::WriteFileAtomic(o->out, t.token + "\n", 0600));
        }
        std::cerr << "token " << t.info.token_id() << " for " << t.info.brand() << ", role "
                  << common::RoleName(t.info.role()) << (o->out.empty() ? "" : " written to " + o->out)
                  << "; this is the only time it is shown\n";
        return absl::OkStatus();
      });
    });
  }
  {
    auto* cmd = tokens->add_subcommand("list", "List a brand's tokens (never their secrets)");
    auto f = std::make_shared<ClientFlags>();
    f->Add(cmd);
    cmd->footer("Example:\n  youma tokens list --brand moutai");
    cmd->callback([f] {
      Run([&]() -> absl::Status {
        YOUMA_ASSIGN_OR_RETURN(auto client, Client::Connect(*f));
        youma::v1::ListTokensRequest req;
        req.set_brand(f->brand);
        YOUMA_ASSIGN_OR_RETURN(auto resp, client->Call(client->admin(),
                                                       &youma::v1::AdminService::Stub::ListTokens, req));
        std::cout << ToJson(resp);
        return absl::OkStatus();
      });
    });
  }
  {
    auto* cmd = tokens->add_subcommand("revoke", "Revoke a token (within 30 s on every server)");
    auto f = std::make_shared<ClientFlags>();
    auto id = std::make_shared<std::string>();
    f->Add(cmd);
    cmd->add_option("--token-id", *id, "the token's id (the hex after ym_)")->required();
    cmd->footer("Example:\n  youma tokens revoke --token-id 3f2a9c0d11e2b4a7");
    cmd->callback([f, id] {
      Run([&]() -> absl::Status {
        YOUMA_ASSIGN_OR_RETURN(auto client, Client::Connect(*f));
        youma::v1::RevokeTokenRequest req;
        req.set_token_id(*id);
        YOUMA_ASSIGN_OR_RETURN(auto resp, client->Call(client->admin(),
                                                       &youma::v1::AdminService::Stub::RevokeToken, req));
        std::cout << ToJson(resp);
        return absl::OkStatus();
      });
    });
  }
}

// ------------------------------------------------------- products, dealers

void AddCatalogCommands(CLI::App& root) {
  auto* products = root.add_subcommand("products", "Create and list a brand's products (GTINs)");
  products->require_subcommand(1);
  {
    auto* cmd = products->add_subcommand("create", "Register a product");
    auto f = std::make_shared<ClientFlags>();
    auto req = std::make_shared<youma::v1::CreateProductRequest>();
    f->Add(cmd);
    cmd->add_option("--gtin", *req->mutable_gtin(), "GTIN-8/12/13/14")->required();
    cmd->add_option("--name", *req->mutable_name(), "product name")->required();
    cmd->footer("Example:\n  youma products create --gtin 06901234567892 --name '飞天 53% 500ml'");
    cmd->callback([f, req] {
      Run([&]() -> absl::Status {
        YOUMA_ASSIGN_OR_RETURN(auto client, Client::Connect(*f));
        req->set_brand(f->brand);
        YOUMA_ASSIGN_OR_RETURN(auto resp, client->Call(client->issuer(),
                                                       &youma::v1::IssuerService::Stub::CreateProduct, *req));
        std::cout << ToJson(resp);
        return absl::OkStatus();
      });
    });
  }
  {
    auto* cmd = products->add_subcommand("list", "List products");
    auto f = std::make_shared<ClientFlags>();
    f->Add(cmd);
    cmd->footer("Example:\n  youma products list");
    cmd->callback([f] {
      Run([&]() -> absl::Status {
        YOUMA_ASSIGN_OR_RETURN(auto client, Client::Connect(*f));
        youma::v1::ListProductsRequest req;
        req.set_brand(f->brand);
        req.set_page_size(1000);
        YOUMA_ASSIGN_OR_RETURN(auto resp, client->Call(client->issuer(),
                                                       &youma::v1::IssuerService::Stub::ListProducts, req));
        std::cout << ToJson(resp);
        return absl::OkStatus();
      });
    });
  }
  auto* dealers = root.add_subcommand("dealers", "Create and list dealers and their territories");
  dealers->require_subcommand(1);
  {
    auto* cmd = dealers->add_subcommand("create", "Register a dealer");
    auto f = std::make_shared<ClientFlags>();
    auto req = std::make_shared<youma::v1::CreateDealerRequest>();
    auto territory = std::make_shared<std::string>();
    f->Add(cmd);
    cmd->add_option("--id", *req->mutable_dealer_id(), "dealer id")->required();
    cmd->add_option("--name", *req->mutable_name(), "dealer name")->required();
    cmd->add_option("--territory", *territory,
                    "comma-separated GB/T 2260 prefixes, e.g. 4401,4403")->required();
    cmd->footer("Example:\n  youma dealers create --id gz-001 --name '广州一号经销商' --territory 4401");
    cmd->callback([f, req, territory] {
      Run([&]() -> absl::Status {
        YOUMA_ASSIGN_OR_RETURN(auto client, Client::Connect(*f));
        req->set_brand(f->brand);
        req->clear_territory();
        for (absl::string_view t : absl::StrSplit(*territory, ',', absl::SkipEmpty())) {
          req->add_territory(std::string(t));
        }
        YOUMA_ASSIGN_OR_RETURN(auto resp, client->Call(client->issuer(),
                                                       &youma::v1::IssuerService::Stub::CreateDealer, *req));
        std::cout << ToJson(resp);
        return absl::OkStatus();
      });
    });
  }
  {
    auto* cmd = dealers->add_subcommand("list", "List dealers");
    auto f = std::make_shared<ClientFlags>();
    f->Add(cmd);
    cmd->footer("Example:\n  youma dealers list");
    cmd->callback([f] {
      Run([&]() -> absl::Status {
        YOUMA_ASSIGN_OR_RETURN(auto client, Client::Connect(*f));
        youma::v1::ListDealersRequest req;
        req.set_brand(f->brand);
        req.set_page_size(1000);
        YOUMA_ASSIGN_OR_RETURN(auto resp, client->Call(client->issuer(),
                                                       &youma::v1::IssuerService::Stub::ListDealers, req));
        std::cout << ToJson(resp);
        return absl::OkStatus();
      });
    });
  }
}

// ------------------------------------------------------------------ batch

void AddBatchCommands(CLI::App& root) {
  auto* batch = root.add_subcommand("batch", "Create and manage batches of codes");
  batch->require_subcommand(1);
  {
    auto* cmd = batch->add_subcommand("create", "Issue a batch: one row, any size");
    struct Opts {
      ClientFlags f;
      std::string gtin, kind = "bottle", scheme, case_scheme, territory, line, request_id,
                        activation = "immediate", activate_at;
      int64_t quantity = 0;
      uint32_t set_size = 0;
    };
    auto o = std::make_shared<Opts>();
    o->f.Add(cmd);
    cmd->add_option("--gtin", o->gtin, "product GTIN")->required();
    cmd->add_option("--kind", o->kind, "case, bottle or set")->capture_default_str();
    cmd->add_option("--quantity", o->quantity, "codes (sets, for --kind set)")->required();
    cmd->add_option("--set-size", o->set_size, "bottles per case (--kind set)");
    cmd->add_option("--scheme", o->scheme, "compact, signed or gs1 (default by kind)");
    cmd->add_option("--case-scheme", o->case_scheme, "scheme of the cases in sets (default signed)");
    cmd->add_option("--territory", o->territory, "planned territory: GB/T 2260 prefixes, comma-separated");
    cmd->add_option("--line", o->line, "production line");
    cmd->add_option("--request-id", o->request_id,
                    "idempotency key: retries with it return the same batch (default: new)");
    cmd->add_option("--activation", o->activation, "immediate, at or shipment")->capture_default_str();
    cmd->add_option("--activate-at", o->activate_at, "with --activation at: RFC 3339 time");
    cmd->footer("Example:\n  youma batch create --gtin 06901234567892 --kind set --set-size 6 "
                "--quantity 1000 --line L3 --request-id 2026-11-24-L3-001");
    cmd->callback([o] {
      Run([&]() -> absl::Status {
        youma::v1::CreateBatchRequest req;
        req.set_brand(o->f.brand);
        req.set_gtin(o->gtin);
        const std::string kind = o->kind;
        req.set_kind(kind == "case" ? youma::v1::BATCH_KIND_CASE
                     : kind == "bottle" ? youma::v1::BATCH_KIND_BOTTLE
                     : kind == "set"    ? youma::v1::BATCH_KIND_SET
                                        : youma::v1::BATCH_KIND_UNSPECIFIED);
        if (req.kind() == youma::v1::BATCH_KIND_UNSPECIFIED) {
          return absl::InvalidArgumentError("--kind must be case, bottle or set");
        }
        req.set_quantity(o->quantity);
        req.set_set_size(o->set_size);
        req.set_scheme(SchemeFlag(o->scheme));
        req.set_case_scheme(SchemeFlag(o->case_scheme));
        for (absl::string_view t : absl::StrSplit(o->territory, ',', absl::SkipEmpty())) {
          req.add_planned_territory(std::string(t));
        }
        req.set_production_line(o->line);
        req.set_request_id(o->request_id.empty() ? RandomRequestId() : o->request_id);
        if (o->activation == "immediate") {
          req.set_activation(youma::v1::ACTIVATION_POLICY_IMMEDIATE);
        } else if (o->activation == "shipment") {
          req.set_activation(youma::v1::ACTIVATION_POLICY_ON_SHIPMENT);
        } else if (o->activation == "at") {
          req.set_activation(youma::v1::ACTIVATION_POLICY_AT_TIME);
          absl::Time t;
          std::string err;
          if (!absl::ParseTime(absl::RFC3339_full, o->activate_at, &t, &err)) {
            return absl::InvalidArgumentError(absl::StrCat("--activate-at: ", err));
          }
          *req.mutable_activate_time() = common::ToProtoTime(t);
        } else {
          return absl::InvalidArgumentError("--activation must be immediate, at or shipment");
        }
        YOUMA_ASSIGN_OR_RETURN(auto client, Client::Connect(o->f));
        YOUMA_ASSIGN_OR_RETURN(auto resp, client->Call(client->issuer(),
                                                       &youma::v1::IssuerService::Stub::CreateBatch, req));
        std::cout << ToJson(resp);
        return absl::OkStatus();
      });
    });
  }
  {
    auto* cmd = batch->add_subcommand("get", "Show a batch");
    auto f = std::make_shared<ClientFlags>();
    auto id = std::make_shared<uint64_t>(0);
    f->Add(cmd);
    cmd->add_option("--batch", *id, "batch id")->required();
    cmd->footer("Example:\n  youma batch get --batch 1");
    cmd->callback([f, id] {
      Run([&]() -> absl::Status {
        YOUMA_ASSIGN_OR_RETURN(auto client, Client::Connect(*f));
        youma::v1::GetBatchRequest req;
        req.set_brand(f->brand);
        req.set_batch_id(*id);
        YOUMA_ASSIGN_OR_RETURN(auto resp, client->Call(client->issuer(),
                                                       &youma::v1::IssuerService::Stub::GetBatch, req));
        std::cout << ToJson(resp);
        return absl::OkStatus();
      });
    });
  }
  {
    auto* cmd = batch->add_subcommand("list", "List batches, newest first");
    auto f = std::make_shared<ClientFlags>();
    auto size = std::make_shared<int>(50);
    f->Add(cmd);
    cmd->add_option("--limit", *size, "how many")->capture_default_str();
    cmd->footer("Example:\n  youma batch list --limit 10");
    cmd->callback([f, size] {
      Run([&]() -> absl::Status {
        YOUMA_ASSIGN_OR_RETURN(auto client, Client::Connect(*f));
        youma::v1::ListBatchesRequest req;
        req.set_brand(f->brand);
        req.set_page_size(*size);
        YOUMA_ASSIGN_OR_RETURN(auto resp, client->Call(client->issuer(),
                                                       &youma::v1::IssuerService::Stub::ListBatches, req));
        for (const auto& b : resp.batches()) {
          std::cout << absl::StrFormat("batch %d  %s  %d codes (%d..%d)  GTIN %s  %s\n",
                                       b.batch_id(), youma::v1::BatchKind_Name(b.kind()),
                                       b.code_count(), b.first_code_id(),
                                       b.first_code_id() + b.code_count() - 1, b.gtin(),
                                       b.production_line());
        }
        return absl::OkStatus();
      });
    });
  }
  using RangeMethod = grpc::Status (youma::v1::IssuerService::Stub::*)(
      grpc::ClientContext*, const youma::v1::RangeChangeRequest&, youma::v1::RangeChange*);
  struct RangeCmd {
    const char* name;
    const char* help;
    RangeMethod method;
  };
  for (const RangeCmd& rc : {
           RangeCmd{"activate", "Activate a range (codes win rewards only when active)",
                    &youma::v1::IssuerService::Stub::ActivateRange},
           RangeCmd{"freeze", "Freeze a range for now (investigation)",
                    &youma::v1::IssuerService::Stub::FreezeRange},
           RangeCmd{"unfreeze", "Lift a freeze", &youma::v1::IssuerService::Stub::UnfreezeRange},
           RangeCmd{"revoke", "Revoke a range for good (spoiled labels, recalls)",
                    &youma::v1::IssuerService::Stub::RevokeRange},
       }) {
    auto* cmd = batch->add_subcommand(rc.name, rc.help);
    auto f = std::make_shared<ClientFlags>();
    auto req = std::make_shared<youma::v1::RangeChangeRequest>();
    auto ids = std::make_shared<std::array<uint64_t, 3>>();
    f->Add(cmd);
    cmd->add_option("--batch", (*ids)[0], "batch id")->required();
    cmd->add_option("--first", (*ids)[1], "first code id (default: whole batch)");
    cmd->add_option("--last", (*ids)[2], "last code id");
    cmd->add_option("--reason", *req->mutable_reason(), "why (kept in the audit trail)");
    cmd->footer(absl::StrCat("Example:\n  youma batch ", rc.name,
                             " --batch 1 --first 120 --last 180 --reason 'labels smeared on L3'"));
    const RangeMethod method = rc.method;
    cmd->callback([f, req, ids, method] {
      Run([&]() -> absl::Status {
        YOUMA_ASSIGN_OR_RETURN(auto client, Client::Connect(*f));
        req->set_brand(f->brand);
        req->set_batch_id((*ids)[0]);
        req->set_first_code_id((*ids)[1]);
        req->set_last_code_id((*ids)[2]);
        YOUMA_ASSIGN_OR_RETURN(auto resp, client->Call(client->issuer(), method, *req));
        std::cout << ToJson(resp);
        return absl::OkStatus();
      });
    });
  }
  {
    auto* cmd = batch->add_subcommand(
        "aggregate", "Report case -> bottle links from a file (one case per line: case bottles...)");
    auto f = std::make_shared<ClientFlags>();
    auto file = std::make_shared<std::string>();
    auto line = std::make_shared<std::string>();
    f->Add(cmd);
    cmd->add_option("--file", *file, "lines of: CASE_CODE BOTTLE_CODE... (tabs or spaces)")->required();
    cmd->add_option("--line", *line, "production line");
    cmd->footer("Example:\n  youma batch aggregate --file line3-shift1.txt --line L3");
    cmd->callback([f, file, line] {
      Run([&]() -> absl::Status {
        YOUMA_ASSIGN_OR_RETURN(std::string text, ReadFile(*file));
        youma::v1::AggregationReport req;
        req.set_brand(f->brand);
        req.set_production_line(*line);
        for (absl::string_view l : absl::StrSplit(text, '\n', absl::SkipWhitespace())) {
          std::vector<std::string> codes =
              absl::StrSplit(l, absl::ByAnyChar(" \t,"), absl::SkipEmpty());
          if (codes.empty()) continue;
          auto* c = req.add_cases();
          c->set_case_code(codes[0]);
          for (size_t i = 1; i < codes.size(); ++i) c->add_bottle_codes(codes[i]);
        }
        YOUMA_ASSIGN_OR_RETURN(auto client, Client::Connect(*f));
        YOUMA_ASSIGN_OR_RETURN(auto resp,
                               client->Call(client->issuer(),
                                            &youma::v1::IssuerService::Stub::ReportAggregation, req,
                                            absl::Minutes(10)));
        std::cout << "linked " << resp.links() << " bottles into " << resp.cases() << " cases\n";
        return absl::OkStatus();
      });
    });
  }
  {
    auto* cmd = batch->add_subcommand("ship", "Report a shipment (出库) to a dealer");
    auto f = std::make_shared<ClientFlags>();
    auto req = std::make_shared<youma::v1::ShipmentReport>();
    auto cases_file = std::make_shared<std::string>();
    auto batches = std::make_shared<std::vector<uint64_t>>();
    f->Add(cmd);
    cmd->add_option("--dealer", *req->mutable_dealer_id(), "dealer id")->required();
    cmd->add_option("--cases-file", *cases_file, "file of case codes, one per line");
    cmd->add_option("--batch", *batches, "whole batches to ship");
    cmd->add_option("--request-id", *req->mutable_request_id(), "idempotency key");
    cmd->footer("Example:\n  youma batch ship --dealer gz-001 --cases-file pallet-17.txt");
    cmd->callback([f, req, cases_file, batches] {
      Run([&]() -> absl::Status {
        req->set_brand(f->brand);
        if (!cases_file->empty()) {
          YOUMA_ASSIGN_OR_RETURN(std::string text, ReadFile(*cases_file));
          for (absl::string_view l : absl::StrSplit(text, absl::ByAnyChar("\n\t "), absl::SkipEmpty())) {
            req->add_case_codes(std::string(l));
          }
        }
        for (uint64_t b : *batches) req->add_batch_ids(b);
        YOUMA_ASSIGN_OR_RETURN(auto client, Client::Connect(*f));
        YOUMA_ASSIGN_OR_RETURN(auto resp, client->Call(client->issuer(),
                                                       &youma::v1::IssuerService::Stub::ReportShipment, *req));
        std::cout << ToJson(resp);
        return absl::OkStatus();
      });
    });
  }
}

}  // namespace

// ----------------------------------------------------------------- export

absl::StatusOr<ExportResult> ExportBatch(Client& client, const ExportRequest& request) {
  youma::v1::GetBatchRequest get;
  get.set_brand(client.brand());
  get.set_batch_id(request.batch_id);
  YOUMA_ASSIGN_OR_RETURN(youma::v1::Batch batch,
                         client.Call(client.issuer(), &youma::v1::IssuerService::Stub::GetBatch, get));
  youma::v1::BeginExportRequest begin;
  begin.set_brand(client.brand());
  begin.set_batch_id(request.batch_id);
  begin.set_first_code_id(request.first_code_id);
  begin.set_last_code_id(request.last_code_id);
  begin.set_format(request.format);
  YOUMA_ASSIGN_OR_RETURN(
      youma::v1::ExportRecord record,
      client.Call(client.issuer(), &youma::v1::IssuerService::Stub::BeginExport, begin));
  printer::ExportOptions options;
  options.format = request.format;
  options.path = request.out;
  options.set_size = batch.kind() == youma::v1::BATCH_KIND_SET ? batch.set_size() : 0;
  options.recipient_public_key_hex = request.recipient_public_key_hex;
  YOUMA_ASSIGN_OR_RETURN(std::unique_ptr<printer::ExportWriter> writer, printer::OpenExport(options));

  youma::v1::StreamCodesRequest stream_req;
  stream_req.set_brand(client.brand());
  stream_req.set_batch_id(request.batch_id);
  stream_req.set_first_code_id(record.first_code_id());
  stream_req.set_last_code_id(record.last_code_id());
  stream_req.set_export_id(record.export_id());
  auto ctx = client.Context(absl::Hours(6));
  auto reader = client.issuer().StreamCodes(ctx.get(), stream_req);
  youma::v1::CodeChunk chunk;
  uint64_t done = 0;
  const auto start = std::chrono::steady_clock::now();
  auto last_print = start;
  const bool tty = request.progress && ::isatty(2);
  while (reader->Read(&chunk)) {
    YOUMA_RETURN_IF_ERROR(writer->Write(chunk));
    done += chunk.codes_size();
    const auto now = std::chrono::steady_clock::now();
    if (tty && (now - last_print > std::chrono::milliseconds(100) || done == chunk.codes_total())) {
      last_print = now;
      const double secs = std::chrono::duration<double>(now - start).count();
      const double rate = secs > 0 ? done / secs : 0;
      const double total = static_cast<double>(chunk.codes_total());
      const int width = 30;
      const int filled = total > 0 ? static_cast<int>(width * done / total) : width;
      std::fprintf(stderr, "\r[%s%s] %5.1f%%  %llu/%llu codes  %.0f/s  ETA %.0f s ",
                   std::string(filled, '#').c_str(), std::string(width - filled, ' ').c_str(),
                   total > 0 ? 100.0 * done / total : 100.0,
                   static_cast<unsigned long long>(done),
                   static_cast<unsigned long long>(chunk.codes_total()), rate,
                   rate > 0 ? (total - done) / rate : 0.0);
    }
  }
  if (tty) std::fprintf(stderr, "\n");
  grpc::Status st = reader->Finish();
  if (!st.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(st.error_code()),
                        absl::StrCat("streaming codes: ", st.error_message()));
  }
  YOUMA_ASSIGN_OR_RETURN(printer::ExportSummary summary, writer->Finish());
  youma::v1::FinishExportRequest finish;
  finish.set_brand(client.brand());
  finish.set_export_id(record.export_id());
  finish.set_sha256(summary.sha256);
  finish.set_codes(summary.codes);
  YOUMA_ASSIGN_OR_RETURN(
      youma::v1::ExportRecord finished,
      client.Call(client.issuer(), &youma::v1::IssuerService::Stub::FinishExport, finish));
  return ExportResult{finished, summary.codes, summary.sha256, summary.bytes};
}

namespace {

void AddExportCommands(CLI::App& root) {
  auto* cmd = root.add_subcommand("export", "Export a batch to printer files (recorded, limited)");
  struct Opts {
    ClientFlags f;
    ExportRequest req;
    std::string recipient_file;
  };
  auto o = std::make_shared<Opts>();
  o->f.Add(cmd);
  cmd->add_option("--batch", o->req.batch_id, "batch id");
  cmd->add_option("--format", o->req.format, "csv, txt, jsonl, png, svg or pack");
  cmd->add_option("--out", o->req.out, "file (csv, txt, jsonl, pack) or folder (png, svg)");
  cmd->add_option("--first", o->req.first_code_id, "first code id (default: whole batch)");
  cmd->add_option("--last", o->req.last_code_id, "last code id");
  cmd->add_option("--recipient", o->recipient_file,
                  "pack: the print house's public key file (youma printer-keys create)");
  cmd->footer(
      "Examples:\n"
      "  youma export --batch 1 --format csv --out batch-1.csv\n"
      "  youma export --batch 1 --format png --out batch-1-png/\n"
      "  youma export --batch 1 --format pack --recipient printhouse.pub --out batch-1.pack\n"
      "  youma export open --key printhouse.key --in batch-1.pack --out batch-1.csv");
  auto* open = cmd->add_subcommand("open", "Decrypt a code pack with the print house's key");
  auto pack = std::make_shared<std::array<std::string, 3>>();
  open->add_option("--key", (*pack)[0], "the print house's secret key file")->required();
  open->add_option("--in", (*pack)[1], "the pack")->required();
  open->add_option("--out", (*pack)[2], "where to write the CSV")->required();
  open->footer("Example:\n  youma export open --key printhouse.key --in batch-1.pack --out batch-1.csv");
  open->callback([pack] {
    Run([&]() -> absl::Status {
      YOUMA_ASSIGN_OR_RETURN(std::string key, ReadFile((*pack)[0]));
      YOUMA_RETURN_IF_ERROR(printer::OpenPack((*pack)[1], key, (*pack)[2]));
      std::cout << "wrote " << (*pack)[2] << "\n";
      return absl::OkStatus();
    });
  });
  cmd->callback([o, cmd] {
    if (cmd->got_subcommand("open")) return;
    Run([&]() -> absl::Status {
      if (o->req.batch_id == 0 || o->req.format.empty() || o->req.out.empty()) {
        return absl::InvalidArgumentError("export needs --batch, --format and --out");
      }
      if (!o->recipient_file.empty()) {
        YOUMA_ASSIGN_OR_RETURN(o->req.recipient_public_key_hex, ReadFile(o->recipient_file));
      }
      YOUMA_ASSIGN_OR_RETURN(auto client, Client::Connect(o->f));
      YOUMA_ASSIGN_OR_RETURN(ExportResult r, ExportBatch(*client, o->req));
      std::cout << absl::StrFormat(
          "exported %d codes of batch %d to %s (%s, %d bytes, sha256 %s); export %d of %d "
          "allowed\n",
          r.codes, o->req.batch_id, o->req.out, o->req.format, r.bytes, r.sha256,
          r.record.exports_used(), r.record.export_limit());
      return absl::OkStatus();
    });
  });

  auto* keys = root.add_subcommand("printer-keys", "Key pairs for print houses' code packs");
  keys->require_subcommand(1);
  auto* create = keys->add_subcommand("create", "Write NAME.pub (give to the brand) and NAME.key");
  auto name = std::make_shared<std::string>();
  create->add_option("--out", *name, "path prefix: writes PREFIX.pub and PREFIX.key (0600)")->required();
  create->footer("Example:\n  youma printer-keys create --out printhouse");
  create->callback([name] {
    Run([&]() -> absl::Status {
      if (std::filesystem::exists(*name + ".key")) {
        return absl::AlreadyExistsError(absl::StrCat(*name, ".key already exists"));
      }
      const printer::PrinterKeys k = printer::NewPrinterKeys();
      YOUMA_RETURN_IF_ERROR(WriteFileAtomic(*name + ".key", k.secret_hex + "\n", 0600));
      YOUMA_RETURN_IF_ERROR(WriteFileAtomic(*name + ".pub", k.public_hex + "\n", 0644));
      std::cout << "wrote " << *name << ".pub (for the brand) and " << *name
                << ".key (keep it at the print house)\n";
      return absl::OkStatus();
    });
  });
}

}  // namespace

absl::StatusOr<codegen::MasterKey> ServerMasterKey(const std::string& master_key_file,
                                                   const std::string& data_dir, bool embedded) {
  if (!master_key_file.empty() || std::getenv(common::kMasterKeyEnv) != nullptr || !embedded) {
    return common::LoadMasterKey(master_key_file);
  }
  // The embedded default keeps its own master key beside its database.
  const std::string path = data_dir + "/master.key";
  if (!std::filesystem::exists(path)) {
    std::error_code ec;
    std::filesystem::create_directories(data_dir, ec);
    YOUMA_RETURN_IF_ERROR(WriteFileAtomic(
        path, codegen::MasterKeyText(codegen::NewMasterKey(), codegen::SecretKeyAccess::Grant()),
        0600));
    std::cerr << "youma: made a master key for the embedded default at " << path
              << "; in production pass your own (--master-key-file or YOUMA_MASTER_KEY)\n";
  }
  return common::LoadMasterKey(path);
}

void AddServerCommands(CLI::App& root) {
  AddServeCommand(root);
  AddTokenCommands(root);
  AddCatalogCommands(root);
  AddBatchCommands(root);
  AddExportCommands(root);
}

}  // namespace youma::cli
