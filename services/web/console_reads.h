// What the brand console reads beyond the gRPC services' own answers: the
// state of every code of a batch (from its range changes, by the same rule
// scans are judged by), the names of a page's products, payout states per
// campaign, and scans and counterfeits per province.
//
//   ConsoleReads reads(&pool);
//   YOUMA_ASSIGN_OR_RETURN(auto states, reads.BatchStates(batches));
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/scan/scan_pipeline.h"
#include "services/storage/mysql.h"
#include "youma/v1/issuer.pb.h"
#include "youma/v1/rules.pb.h"

namespace youma::web {

struct CodeStates {
  int64_t active = 0, not_active = 0, frozen = 0, revoked = 0;
};

// How many of codes first..end-1 are in each state at `now`, given the
// range changes of their batch in order (scan::LifecycleVerdict's rule). One
// pass over the changes' boundaries: a batch activated on shipment, run by
// run, has thousands of changes.
CodeStates CountCodeStates(const std::vector<scan::RangeChangeRow>& changes, uint64_t first, uint64_t end,
                           absl::Time now);

struct PayoutCounts {
  int64_t pending = 0, sent = 0, confirmed = 0, failed = 0;
};

struct ProvinceCount {
  std::string province;  // "440000"
  int64_t scans = 0, counterfeits = 0;
};

class ConsoleReads {
 public:
  explicit ConsoleReads(storage::ConnectionPool* pool) : pool_(pool) {}

  // How many codes of each batch are active, not yet active, frozen or
  // revoked now. The caller has checked the batches are the brand's.
  absl::StatusOr<std::map<uint64_t, CodeStates>> BatchStates(const std::vector<youma::v1::Batch>& batches);
  // The brand's names for these GTINs (GTINs it has no product for are left out).
  absl::StatusOr<std::map<std::string, std::string>> ProductNames(const std::string& brand,
                                                                  const std::set<std::string>& gtins);
  // Payout states per campaign of `campaigns` (the brand's, as read):
  // from the counts kept as payouts change state, PENDING from the
  // campaign's awards (one payout each).
  absl::StatusOr<std::map<uint64_t, PayoutCounts>> Payouts(const std::string& brand,
                                                           const youma::v1::ListCampaignsResponse& campaigns);
  // Scans recorded in [from, to) (forged ones only counted) per province.
  absl::StatusOr<std::vector<ProvinceCount>> Provinces(const std::string& brand, absl::Time from, absl::Time to);

 private:
  storage::ConnectionPool* pool_;
};

}  // namespace youma::web
