#include "services/app/backup.h"

#include <sodium.h>

#include <filesystem>
#include <map>
#include <memory>

#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "services/common/files.h"
#include "services/common/status_macros.h"
#include "services/storage/local_mariadb.h"
#include "services/storage/migrations.h"
#include "services/storage/mysql.h"

namespace youma::app {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

constexpr char kFormat[] = "youma-backup/1";
constexpr char kManifest[] = "manifest.json";

void Say(const std::function<void(const std::string&)>& progress, const std::string& line) {
  if (progress) progress(line);
}

std::string Digest(absl::string_view bytes, const uint8_t* key = nullptr, size_t key_size = 0) {
  unsigned char out[32];
  crypto_generichash(out, sizeof out, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), key,
                     key_size);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(out), sizeof out));
}

// A value that tells whether a master key is the backup's without revealing
// anything of it: BLAKE2b keyed with the master key over a fixed label.
std::string MasterKeyCheck(const codegen::MasterKey& key) {
  const auto access = codegen::SecretKeyAccess::Grant();
  return Digest("youma backup: master key check", key.bytes.data(access), key.bytes.size());
}

struct KeysetFile {
  std::string name;   // "alpha.keyset"
  std::string bytes;  // sealed, as on disk
  std::string brand;
  std::string digest;
};

// Every keyset in `dir`, each opened with the master key; none when `dir` does
// not exist.
absl::StatusOr<std::vector<KeysetFile>> ReadKeysets(const std::string& dir, const codegen::MasterKey& key) {
  std::vector<KeysetFile> out;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return out;
  std::vector<fs::path> paths;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().extension() == ".keyset") paths.push_back(entry.path());
  }
  if (ec) return absl::UnavailableError(absl::StrCat("cannot read the keyset folder ", dir, ": ", ec.message()));
  std::sort(paths.begin(), paths.end());
  for (const fs::path& path : paths) {
    KeysetFile f;
    f.name = path.filename().string();
    YOUMA_ASSIGN_OR_RETURN(f.bytes, common::ReadFile(path.string()));
    absl::StatusOr<codegen::Keyset> keyset = codegen::OpenKeyset(f.bytes, key);
    if (!keyset.ok()) {
      return absl::Status(keyset.status().code(),
                          absl::StrCat("keyset ", path.string(), " does not open with this master key: ",
                                       keyset.status().message()));
    }
    f.brand = keyset->brand();
    f.digest = Digest(f.bytes);
    out.push_back(std::move(f));
  }
  return out;
}

absl::StatusOr<std::pair<int, DataCounts>> SchemaAndCounts(const std::string& mariadb_dir) {
  storage::MySqlConfig config;
  config.socket = storage::LocalMariaDb::SocketPath(mariadb_dir);
  YOUMA_ASSIGN_OR_RETURN(std::unique_ptr<sql::Connection> c, storage::Connect(config, /*with_schema=*/true));
  try {
    std::unique_ptr<sql::Statement> st(c->createStatement());
    auto one = [&](const std::string& sql, int column = 1) {
      std::unique_ptr<sql::ResultSet> rs(st->executeQuery(sql));
      return rs->next() ? rs->getInt64(column) : 0;
    };
    const int schema = static_cast<int>(one("SELECT COALESCE(MAX(version), 0) FROM schema_migrations"));
    DataCounts n;
    n.batches = one("SELECT COUNT(*) FROM batches");
    n.codes = one("SELECT COALESCE(SUM(code_count), 0) FROM batches");
    n.scans = one("SELECT COUNT(*) FROM scans");
    n.awards = one("SELECT COUNT(*) FROM awards");
    return std::make_pair(schema, n);
  } catch (const sql::SQLException& e) {
    return storage::StatusFromSqlException(e);
  }
}

int64_t FolderBytes(const std::string& dir) {
  int64_t total = 0;
  std::error_code ec;
  for (const auto& entry : fs::recursive_directory_iterator(dir, ec)) {
    if (entry.is_regular_file(ec)) total += static_cast<int64_t>(entry.file_size(ec));
  }
  return total;
}

Json CountsJson(const DataCounts& n) {
  return {{"batches", n.batches}, {"codes", n.codes}, {"scans", n.scans}, {"awards", n.awards}};
}

}  // namespace

absl::StatusOr<BackupSummary> BackUp(const BackupOptions& options) {
  const std::string mariadb_dir = options.data_dir + "/mariadb";
  const std::string keyset_dir = options.keyset_dir.empty() ? options.data_dir + "/keysets" : options.keyset_dir;
  std::error_code ec;
  if (options.out.empty()) return absl::InvalidArgumentError("say where the backup goes (--out, a new folder)");
  if (fs::exists(options.out, ec)) {
    return absl::FailedPreconditionError(absl::StrCat(options.out, " exists: a backup goes into a new folder"));
  }
  if (!fs::exists(mariadb_dir + "/data/mysql", ec)) {
    return absl::FailedPreconditionError(
        absl::StrCat("no embedded database under ", mariadb_dir, ": is ", options.data_dir,
                     " youma serve's --data-dir? (With an external --mysql, back that database up with its own "
                     "tools and copy the keyset folder.)"));
  }
  // A backup whose keys cannot be opened is no backup: check before copying.
  YOUMA_RETURN_IF_ERROR(ReadKeysets(keyset_dir, options.master_key).status());

  BackupSummary summary;
  std::unique_ptr<storage::LocalMariaDb> started;
  summary.hot = storage::LocalMariaDb::Answering(mariadb_dir);
  if (summary.hot) {
    Say(options.progress, "the database is running (youma serve): copying it hot, scans go on");
  } else {
    Say(options.progress, absl::StrCat("starting the database under ", mariadb_dir, " for the copy"));
    YOUMA_ASSIGN_OR_RETURN(started, storage::LocalMariaDb::Start({.data_dir = mariadb_dir}));
  }
  YOUMA_ASSIGN_OR_RETURN(auto schema_counts, SchemaAndCounts(mariadb_dir));
  std::tie(summary.schema_version, summary.counts) = schema_counts;

  // Written beside `out` and renamed when whole: a folder named `out` is
  // always a whole backup. A `.partial` folder is an interrupted run of this.
  const std::string staging = options.out + ".partial";
  fs::remove_all(staging, ec);
  fs::create_directories(staging, ec);
  if (ec) return absl::PermissionDeniedError(absl::StrCat("cannot create ", staging, ": ", ec.message()));
  absl::Status st = [&]() -> absl::Status {
    Say(options.progress, "copying the database (mariabackup)");
    YOUMA_RETURN_IF_ERROR(storage::LocalMariaDb::BackUp(mariadb_dir, staging + "/mariadb", staging + "/mariabackup.log"));
    started.reset();  // the copy is done: a database started for it stops
    // The keysets after the database: a key the copied database names was
    // made before the copy ended, so it is in them (keys are never removed).
    YOUMA_ASSIGN_OR_RETURN(std::vector<KeysetFile> keysets, ReadKeysets(keyset_dir, options.master_key));
    fs::create_directories(staging + "/keysets", ec);
    Json files = Json::array();
    for (const KeysetFile& k : keysets) {
      YOUMA_RETURN_IF_ERROR(common::WriteFileAtomic(staging + "/keysets/" + k.name, k.bytes, 0600));
      files.push_back({{"file", k.name}, {"brand", k.brand}, {"blake2b", k.digest}});
      summary.brands.push_back(k.brand);
    }
    if (options.with_secrets) {
      for (const char* name : {"master.key", "admin.token"}) {
        const std::string path = options.data_dir + "/" + name;
        if (!fs::exists(path, ec)) continue;
        YOUMA_ASSIGN_OR_RETURN(std::string bytes, common::ReadFile(path));
        YOUMA_RETURN_IF_ERROR(common::WriteFileAtomic(staging + "/" + name, bytes, 0600));
      }
    }
    const Json manifest = {
        {"format", kFormat},
        {"created", absl::FormatTime(absl::RFC3339_sec, absl::Now(), absl::UTCTimeZone())},
        {"schema_version", summary.schema_version},
        {"hot", summary.hot},
        {"counts_at_start", CountsJson(summary.counts)},
        {"keysets", files},
        {"master_key_check", MasterKeyCheck(options.master_key)},
        {"secrets", options.with_secrets},
    };
    YOUMA_RETURN_IF_ERROR(common::WriteFileAtomic(staging + "/" + kManifest, manifest.dump(2) + "\n", 0600));
    summary.bytes = FolderBytes(staging);
    fs::rename(staging, options.out, ec);
    if (ec) return absl::InternalError(absl::StrCat("cannot move ", staging, " to ", options.out, ": ", ec.message()));
    return absl::OkStatus();
  }();
  if (!st.ok()) {
    fs::remove_all(staging, ec);
    return st;
  }
  return summary;
}

absl::StatusOr<RestoreSummary> Restore(const RestoreOptions& options) {
  const std::string mariadb_dir = options.data_dir + "/mariadb";
  const std::string keyset_dir = options.keyset_dir.empty() ? options.data_dir + "/keysets" : options.keyset_dir;
  std::error_code ec;
  // 1. The backup: whole, from a youma that knows its schema, its keys sound.
  const std::string manifest_path = options.from + "/" + kManifest;
  if (!fs::exists(manifest_path, ec)) {
    return absl::InvalidArgumentError(absl::StrCat(
        options.from, " is not a youma backup: it has no ", kManifest,
        " (a backup that did not finish is left as <out>.partial and has none)"));
  }
  YOUMA_ASSIGN_OR_RETURN(const std::string manifest_text, common::ReadFile(manifest_path));
  const Json manifest = Json::parse(manifest_text, nullptr, /*allow_exceptions=*/false);
  if (!manifest.is_object() || manifest.value("format", "") != kFormat || !manifest.contains("keysets") ||
      !manifest["keysets"].is_array() || !manifest.contains("schema_version")) {
    return absl::InvalidArgumentError(
        absl::StrCat(manifest_path, " is not a ", kFormat, " manifest; was the backup made by youma backup?"));
  }
  RestoreSummary summary;
  summary.schema_version = manifest.value("schema_version", 0);
  summary.secrets = manifest.value("secrets", false);
  const int known = storage::AllMigrations().back().version;
  if (summary.schema_version > known) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the backup's schema is version ", summary.schema_version, ", newer than this youma's (", known,
        "): restore it with the youma that made it, or a newer one"));
  }
  codegen::MasterKey key;
  if (options.master_key) {
    key = *options.master_key;
  } else if (summary.secrets && fs::exists(options.from + "/master.key", ec)) {
    YOUMA_ASSIGN_OR_RETURN(key, common::LoadMasterKey(options.from + "/master.key"));
  } else {
    return absl::InvalidArgumentError(
        "give the master key the backup's keysets are sealed with (--master-key-file, or YOUMA_MASTER_KEY): the "
        "backup does not hold it");
  }
  if (manifest.value("master_key_check", "") != MasterKeyCheck(key)) {
    return absl::InvalidArgumentError(
        "that master key is not the one the backup's keysets are sealed with: give the master key of the "
        "data directory the backup was made from (its master.key, or the key serve was given)");
  }
  std::vector<KeysetFile> keysets;
  for (const Json& entry : manifest["keysets"]) {
    KeysetFile k;
    k.name = entry.value("file", "");
    if (k.name.empty() || k.name.find('/') != std::string::npos || fs::path(k.name).extension() != ".keyset") {
      return absl::InvalidArgumentError(absl::StrCat(manifest_path, " names a keyset file '", k.name, "'"));
    }
    YOUMA_ASSIGN_OR_RETURN(k.bytes, common::ReadFile(options.from + "/keysets/" + k.name));
    if (Digest(k.bytes) != entry.value("blake2b", "")) {
      return absl::DataLossError(absl::StrCat("keyset ", k.name, " in the backup has changed since it was made"));
    }
    YOUMA_ASSIGN_OR_RETURN(codegen::Keyset opened, codegen::OpenKeyset(k.bytes, key));
    k.brand = opened.brand();
    summary.brands.push_back(k.brand);
    keysets.push_back(std::move(k));
  }
  if (!fs::exists(options.from + "/mariadb/xtrabackup_checkpoints", ec)) {
    return absl::InvalidArgumentError(absl::StrCat(options.from, "/mariadb is not a database copy of youma backup"));
  }
  // 2. The data directory: nothing of its own to overwrite.
  if (fs::exists(mariadb_dir + "/data", ec)) {
    return absl::FailedPreconditionError(absl::StrCat(
        mariadb_dir, "/data holds a database already: restore into a new --data-dir (or move that one away first)"));
  }
  for (const KeysetFile& k : keysets) {
    if (fs::exists(keyset_dir + "/" + k.name, ec)) {
      return absl::FailedPreconditionError(absl::StrCat(keyset_dir, "/", k.name, " exists already: restore into a "
                                                        "new --data-dir (or --keyset-dir)"));
    }
  }
  const std::string data_master_key = options.data_dir + "/master.key";
  const bool write_master_key = !options.master_key && !fs::exists(data_master_key, ec);
  if (fs::exists(data_master_key, ec)) {
    YOUMA_ASSIGN_OR_RETURN(const codegen::MasterKey there, common::LoadMasterKey(data_master_key));
    if (MasterKeyCheck(there) != MasterKeyCheck(key)) {
      return absl::FailedPreconditionError(absl::StrCat(
          data_master_key, " holds another master key: serve would not open the restored keysets with it; "
                           "restore into a new --data-dir"));
    }
  }

  // 3. The copy. What this wrote is taken out again when a step fails.
  std::vector<std::string> written;
  absl::Status st = [&]() -> absl::Status {
    Say(options.progress, absl::StrCat("copying the database into ", mariadb_dir, " (mariabackup)"));
    YOUMA_RETURN_IF_ERROR(
        storage::LocalMariaDb::RestoreInto(options.from + "/mariadb", mariadb_dir, mariadb_dir + "/restore.log"));
    written.push_back(mariadb_dir + "/data");
    fs::create_directories(keyset_dir, ec);
    for (const KeysetFile& k : keysets) {
      YOUMA_RETURN_IF_ERROR(common::WriteFileAtomic(keyset_dir + "/" + k.name, k.bytes, 0600));
      written.push_back(keyset_dir + "/" + k.name);
    }
    if (write_master_key) {
      YOUMA_RETURN_IF_ERROR(common::WriteFileAtomic(
          data_master_key, codegen::MasterKeyText(key, codegen::SecretKeyAccess::Grant()), 0600));
      written.push_back(data_master_key);
    }
    const std::string token = options.data_dir + "/admin.token";
    if (summary.secrets && fs::exists(options.from + "/admin.token", ec) && !fs::exists(token, ec)) {
      YOUMA_ASSIGN_OR_RETURN(std::string bytes, common::ReadFile(options.from + "/admin.token"));
      YOUMA_RETURN_IF_ERROR(common::WriteFileAtomic(token, bytes, 0600));
      written.push_back(token);
    }
    // 4. The restored database starts, and says what it holds.
    Say(options.progress, "starting the restored database to check it");
    YOUMA_ASSIGN_OR_RETURN(std::unique_ptr<storage::LocalMariaDb> db,
                           storage::LocalMariaDb::Start({.data_dir = mariadb_dir}));
    YOUMA_ASSIGN_OR_RETURN(auto schema_counts, SchemaAndCounts(mariadb_dir));
    summary.counts = schema_counts.second;
    if (schema_counts.first != summary.schema_version) {
      return absl::DataLossError(absl::StrCat("the restored database is at schema version ", schema_counts.first,
                                              ", the manifest says ", summary.schema_version));
    }
    return absl::OkStatus();
  }();
  if (!st.ok()) {
    for (const std::string& path : written) fs::remove_all(path, ec);
    return st;
  }
  return summary;
}

}  // namespace youma::app
