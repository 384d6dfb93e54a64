// `youma backup` and `youma restore`: a data directory on the embedded
// default database to a backup folder and back (services/app/backup.h).
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "services/app/backup.h"
#include "services/cli/cli_util.h"
#include "services/cli/commands.h"
#include "services/common/files.h"
#include "services/common/status_macros.h"

namespace youma::cli {
namespace {

void Progress(const std::string& line) { std::cerr << "youma: " << line << "\n"; }

std::string Counts(const app::DataCounts& n) {
  return absl::StrFormat("%d batches (%d codes), %d scans, %d awards", n.batches, n.codes, n.scans, n.awards);
}

std::string Brands(const std::vector<std::string>& brands) {
  return brands.empty() ? std::string("none") : absl::StrJoin(brands, ", ");
}

}  // namespace

void AddBackupCommands(CLI::App& root) {
  {
    auto* cmd = root.add_subcommand(
        "backup", "Back up a data directory on the embedded default: its database (hot) and keysets");
    auto o = std::make_shared<app::BackupOptions>();
    o->data_dir = "var";
    auto master_key_file = std::make_shared<std::string>();
    cmd->add_option("--data-dir", o->data_dir, "youma serve's data directory")->capture_default_str();
    cmd->add_option("--keyset-dir", o->keyset_dir, "folder of brand keysets (default <data-dir>/keysets)");
    cmd->add_option("--master-key-file", *master_key_file,
                    "the keysets' master key, to check them (default $YOUMA_MASTER_KEY, else <data-dir>/master.key)");
    cmd->add_option("--out", o->out, "a new folder for the backup")->required();
    cmd->add_flag("--with-secrets", o->with_secrets,
                  "also copy <data-dir>/master.key and admin.token (keep such a backup as you keep the key)");
    cmd->footer(
        "The database is copied hot with mariabackup while youma serve runs (or started for the copy when it\n"
        "does not); the keysets stay sealed. The master key is left out unless --with-secrets: keep it apart.\n"
        "With an external --mysql, back that database up with its own tools and copy the keyset folder.\n\n"
        "Example (nightly from cron):\n"
        "  youma backup --data-dir /srv/youma --out /backups/youma-$(date +%F)");
    cmd->callback([o, master_key_file] {
      Run([&]() -> absl::Status {
        const std::string own = o->data_dir + "/master.key";
        if (master_key_file->empty() && std::getenv(common::kMasterKeyEnv) == nullptr) {
          if (!std::filesystem::exists(own)) {
            return absl::InvalidArgumentError(absl::StrCat(
                "no master key: give --master-key-file (or YOUMA_MASTER_KEY), the key youma serve was given"));
          }
          *master_key_file = own;
        }
        YOUMA_ASSIGN_OR_RETURN(o->master_key, common::LoadMasterKey(*master_key_file));
        o->progress = Progress;
        YOUMA_ASSIGN_OR_RETURN(app::BackupSummary s, app::BackUp(*o));
        std::cout << absl::StrFormat("backed up %s to %s (%.1f MB, %s copy, schema version %d)\n", o->data_dir, o->out,
                                     s.bytes / 1e6, s.hot ? "hot" : "offline", s.schema_version);
        std::cout << "  database: " << Counts(s.counts) << " as the copy started\n";
        std::cout << "  keysets: " << Brands(s.brands) << " (sealed under the master key)\n";
        if (o->with_secrets) {
          std::cout << "  the master key and the admin token are in it: keep this backup as you keep the key\n";
        } else {
          std::cout << "  the master key is not in it: keep " << *master_key_file
                    << " apart from your backups; restoring needs it\n";
        }
        std::cout << "restore with: youma restore --from " << o->out << " --data-dir <a new folder>"
                  << (o->with_secrets ? "" : " --master-key-file <that key>") << "\n";
        return absl::OkStatus();
      });
    });
  }
  {
    auto* cmd = root.add_subcommand("restore", "Restore a backup into a new data directory");
    auto o = std::make_shared<app::RestoreOptions>();
    o->data_dir = "var";
    auto master_key_file = std::make_shared<std::string>();
    cmd->add_option("--from", o->from, "a folder youma backup wrote")->required();
    cmd->add_option("--data-dir", o->data_dir, "the data directory to restore into (no database in it yet)")
        ->capture_default_str();
    cmd->add_option("--keyset-dir", o->keyset_dir, "where the keysets go (default <data-dir>/keysets)");
    cmd->add_option("--master-key-file", *master_key_file,
                    "the master key the backup's keysets are sealed with (default $YOUMA_MASTER_KEY, else the "
                    "backup's own, when made --with-secrets)");
    cmd->footer(
        "The backup is checked first (manifest, keyset digests, the master key opens every keyset); nothing is\n"
        "written when a check fails. The restored database is started once to count what it holds.\n\n"
        "Example:\n"
        "  youma restore --from /backups/youma-2026-12-07 --data-dir /srv/youma --master-key-file master.key\n"
        "  youma serve --data-dir /srv/youma --master-key-file master.key");
    cmd->callback([o, master_key_file] {
      Run([&]() -> absl::Status {
        if (!master_key_file->empty() || std::getenv(common::kMasterKeyEnv) != nullptr) {
          YOUMA_ASSIGN_OR_RETURN(o->master_key, common::LoadMasterKey(*master_key_file));
        }
        o->progress = Progress;
        YOUMA_ASSIGN_OR_RETURN(app::RestoreSummary s, app::Restore(*o));
        std::cout << absl::StrFormat("restored %s into %s (schema version %d)\n", o->from, o->data_dir,
                                     s.schema_version);
        std::cout << "  database: " << Counts(s.counts) << "\n";
        std::cout << "  keysets: " << Brands(s.brands) << "\n";
        std::cout << "start it with: youma serve --data-dir " << o->data_dir
                  << (master_key_file->empty() ? "" : " --master-key-file " + *master_key_file) << "\n";
        return absl::OkStatus();
      });
    });
  }
}

}  // namespace youma::cli
