// The store-owner program (B-side): store registration with its one-time
// bonus, the brand's store policy, store verification (门店验真) and
// fake-store flags (假门店) from evidence, and the leaderboard (店主排行).
// Opening cases and rebates happen in the scan's transaction (RulesEngine);
// this class registers stores and reads what those scans recorded.
//
//   StoreProgram stores(&pool, &rules);
//   YOUMA_ASSIGN_OR_RETURN(auto reg, stores.Register("moutai", request));
//   YOUMA_ASSIGN_OR_RETURN(Store s, stores.Get("moutai", reg.store().store_id()));
//   // s.verification(), s.flags(): each flag with its reason
//
// Verification and flags are computed when read, from the cases a store
// opened (where, when, how far from its registered location) and from the
// other stores registered from its device or at its place. Thread-safe.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "services/rules/rules_engine.h"
#include "services/storage/mysql.h"
#include "youma/v1/store.pb.h"

namespace youma::rules {

// The policy with defaults filled in for fields left 0.
youma::v1::StorePolicy WithDefaults(youma::v1::StorePolicy policy);

class StoreProgram {
 public:
  StoreProgram(storage::ConnectionPool* pool, RulesEngine* engine) : pool_(pool), engine_(engine) {}

  // INVALID_ARGUMENT for a bad field; ALREADY_EXISTS when the owner already
  // has as many stores as the brand allows, or this device registered a store
  // at the same place. A store registered from a device that registered
  // another store gets no bonus (and is flagged).
  absl::StatusOr<youma::v1::RegisterStoreResponse> Register(const std::string& brand,
                                                            const youma::v1::RegisterStoreRequest& req);
  // NOT_FOUND for another brand's store or none.
  absl::StatusOr<youma::v1::Store> Get(const std::string& brand, uint64_t store_id);
  absl::StatusOr<youma::v1::ListStoresResponse> List(const std::string& brand,
                                                     const youma::v1::ListStoresRequest& req);
  absl::StatusOr<youma::v1::LeaderboardResponse> Leaderboard(const std::string& brand,
                                                             const youma::v1::LeaderboardRequest& req);
  absl::StatusOr<youma::v1::StorePolicy> SetPolicy(const std::string& brand, youma::v1::StorePolicy policy);
  absl::StatusOr<youma::v1::StorePolicy> GetPolicy(const std::string& brand);

 private:
  storage::ConnectionPool* pool_;
  RulesEngine* engine_;
};

}  // namespace youma::rules
