// The brands' keysets as the services see them: every `*.keyset` file of a
// folder, opened with the master key, with a verifier and the minters each
// batch needs. A brand is known by its keyset's brand name.
//
//   KeysetRegistry registry(dir, master_key);
//   YOUMA_RETURN_IF_ERROR(registry.Load());
//   YOUMA_ASSIGN_OR_RETURN(auto keys, registry.Get("moutai"));
//   keys->verifier.Verify(url);
//
// A brand not yet loaded triggers one re-scan of the folder (at most once a
// second), so a keyset added while the server runs is picked up; and the
// folder is read again every `refresh` (30 s), so a rotated or disabled key
// reaches every server without a restart (a Kubernetes Secret update lands in
// the mounted folder within a minute). A folder that cannot be read keeps the
// keys already loaded, and says so in `log` (once per distinct error); each
// brand whose keys changed on a re-read is logged too. Thread-safe.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "codegen/code_format.h"
#include "codegen/keyset.h"
#include "codegen/keyset_file.h"
#include "services/common/event_log.h"

namespace youma::common {

struct BrandKeys {
  codegen::Keyset keyset;
  codegen::CodeVerifier verifier;

  // A minter for a specific key (the one a batch was issued under).
  absl::StatusOr<codegen::CodeMinter> MinterFor(uint32_t key_id, const std::string& gtin) const;
};

class KeysetRegistry {
 public:
  KeysetRegistry(std::string dir, codegen::MasterKey master_key, absl::Duration refresh = absl::Seconds(30),
                 EventLog* log = nullptr);

  // Loads every keyset in the folder. An unreadable keyset is an error: a
  // server must not start with a brand silently missing.
  absl::Status Load();
  // NOT_FOUND when no keyset names `brand`.
  absl::StatusOr<std::shared_ptr<const BrandKeys>> Get(const std::string& brand);
  std::vector<std::string> Brands() const;

 private:
  absl::Status LoadLocked();
  // A re-read while serving: keeps the keys loaded when it fails, and logs.
  void ReloadLocked();

  const std::string dir_;
  const codegen::MasterKey master_key_;
  const absl::Duration refresh_;
  EventLog* const log_;
  std::string last_failure_;  // the re-read error last logged ("" after a good one)
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<const BrandKeys>> brands_;
  absl::Time last_scan_ = absl::InfinitePast();
};

}  // namespace youma::common
