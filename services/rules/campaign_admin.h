// Campaign administration and audit: create, change (only in the consumers'
// favour once live), launch (seed fixed, its hash published), end (seed
// revealed), status with budget spent and left, draw verification, and the
// diversion flags with their evidence.
//
//   CampaignAdmin admin(&pool, &rules);
//   YOUMA_ASSIGN_OR_RETURN(Campaign c, admin.Create("moutai", spec));
//   YOUMA_ASSIGN_OR_RETURN(c, admin.Launch("moutai", c.campaign_id()));
#pragma once

#include "absl/status/statusor.h"
#include "services/rules/rules_engine.h"
#include "services/storage/mysql.h"
#include "youma/v1/rules.pb.h"

namespace youma::rules {

class CampaignAdmin {
 public:
  CampaignAdmin(storage::ConnectionPool* pool, RulesEngine* engine) : pool_(pool), engine_(engine) {}

  absl::StatusOr<youma::v1::Campaign> Create(const std::string& brand,
                                             const youma::v1::CampaignSpec& spec);
  absl::StatusOr<youma::v1::Campaign> Update(const std::string& brand, uint64_t campaign_id,
                                             const youma::v1::CampaignSpec& spec);
  absl::StatusOr<youma::v1::Campaign> Launch(const std::string& brand, uint64_t campaign_id);
  absl::StatusOr<youma::v1::Campaign> End(const std::string& brand, uint64_t campaign_id);
  absl::StatusOr<youma::v1::Campaign> Get(const std::string& brand, uint64_t campaign_id);
  absl::StatusOr<youma::v1::ListCampaignsResponse> List(const std::string& brand);
  // Recomputes every award of an ENDED campaign from its revealed seed and the
  // scan log. FAILED_PRECONDITION before the end (the seed is still secret).
  absl::StatusOr<youma::v1::DrawAudit> VerifyDraws(const std::string& brand, uint64_t campaign_id);
  absl::StatusOr<youma::v1::ListDiversionFlagsResponse> DiversionFlags(
      const std::string& brand, const youma::v1::ListDiversionFlagsRequest& req);

 private:
  storage::ConnectionPool* pool_;
  RulesEngine* engine_;
};

}  // namespace youma::rules
