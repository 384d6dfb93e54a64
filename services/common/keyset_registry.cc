#include "services/common/keyset_registry.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "services/common/status_macros.h"

namespace youma::common {

absl::StatusOr<codegen::CodeMinter> BrandKeys::MinterFor(uint32_t key_id,
                                                         const std::string& gtin) const {
  return codegen::CodeMinter::ForKey(keyset, key_id, {.prefix = std::nullopt, .gtin = gtin});
}

KeysetRegistry::KeysetRegistry(std::string dir, codegen::MasterKey master_key, absl::Duration refresh,
                               EventLog* log)
    : dir_(std::move(dir)), master_key_(std::move(master_key)), refresh_(refresh), log_(log) {}

absl::Status KeysetRegistry::Load() {
  std::lock_guard<std::mutex> lock(mu_);
  return LoadLocked();
}

absl::Status KeysetRegistry::LoadLocked() {
  namespace fs = std::filesystem;
  last_scan_ = absl::Now();
  std::error_code ec;
  if (!fs::exists(dir_, ec)) {
    return absl::NotFoundError(absl::StrCat("keyset folder ", dir_, " does not exist"));
  }
  std::map<std::string, std::shared_ptr<const BrandKeys>> loaded;
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    if (entry.path().extension() != ".keyset") continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream buf;
    buf << in.rdbuf();
    absl::StatusOr<codegen::Keyset> ks = codegen::OpenKeyset(buf.str(), master_key_);
    if (!ks.ok()) {
      return absl::Status(ks.status().code(), absl::StrCat("keyset ", entry.path().string(), ": ",
                                                           ks.status().message()));
    }
    const std::string brand = ks->brand();
    if (loaded.count(brand)) {
      return absl::FailedPreconditionError(
          absl::StrCat("two keysets in ", dir_, " are for brand ", brand));
    }
    auto keys = std::make_shared<BrandKeys>(
        BrandKeys{*ks, codegen::CodeVerifier::ForKeyset(*ks)});
    loaded.emplace(brand, std::move(keys));
  }
  // A folder that stops being readable midway must not leave brands missing.
  if (ec) return absl::UnavailableError(absl::StrCat("keyset folder ", dir_, " cannot be read: ", ec.message()));
  brands_ = std::move(loaded);
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const BrandKeys>> KeysetRegistry::Get(const std::string& brand) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = brands_.find(brand);
  const absl::Duration since = absl::Now() - last_scan_;
  if ((it == brands_.end() && since > absl::Seconds(1)) || since >= refresh_) {
    // A keyset may have been added or changed since: look again.
    ReloadLocked();
    it = brands_.find(brand);
  }
  if (it == brands_.end()) {
    return absl::NotFoundError(absl::StrCat(
        "no keyset for brand '", brand, "' in ", dir_,
        "; create one with `youma keys create --keyset ", dir_, "/<name>.keyset --brand ", brand,
        "`"));
  }
  return it->second;
}

namespace {

// A brand's keys as a log line shows them: id, scheme, status, primary.
nlohmann::json KeysJson(const codegen::Keyset& keyset) {
  nlohmann::json keys = nlohmann::json::array();
  for (const codegen::KeyInfo& k : keyset.List()) {
    keys.push_back({{"key_id", k.key_id},
                    {"scheme", std::string(codegen::SchemeName(k.scheme))},
                    {"status", std::string(codegen::KeyStatusName(k.status))},
                    {"primary", k.primary}});
  }
  return keys;
}

}  // namespace

void KeysetRegistry::ReloadLocked() {
  auto before = brands_;
  if (absl::Status st = LoadLocked(); !st.ok()) {
    brands_ = std::move(before);
    if (log_ != nullptr && st.message() != last_failure_) {
      std::vector<std::string> kept;
      for (const auto& [brand, keys] : brands_) kept.push_back(brand);
      log_->Warn("keysets_not_reloaded", {{"folder", dir_},
                                          {"code", absl::StatusCodeToString(st.code())},
                                          {"message", std::string(st.message())},
                                          {"kept_brands", kept}});
    }
    last_failure_ = std::string(st.message());
    return;
  }
  if (log_ == nullptr) return;
  if (!last_failure_.empty()) log_->Info("keysets_reloaded", {{"folder", dir_}, {"brands", brands_.size()}});
  last_failure_.clear();
  for (const auto& [brand, keys] : brands_) {
    auto old = before.find(brand);
    nlohmann::json now = KeysJson(keys->keyset);
    if (old == before.end() || KeysJson(old->second->keyset) != now) {
      log_->Info("keyset_changed", {{"brand", brand}, {"new_brand", old == before.end()}, {"keys", now}});
    }
  }
  for (const auto& [brand, keys] : before) {
    if (!brands_.count(brand)) log_->Warn("keyset_removed", {{"brand", brand}, {"folder", dir_}});
  }
}

std::vector<std::string> KeysetRegistry::Brands() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  for (const auto& [brand, keys] : brands_) out.push_back(brand);
  return out;
}

}  // namespace youma::common
