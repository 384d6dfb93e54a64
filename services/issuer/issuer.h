// The issuer's business rules: products, dealers, batches, code ranges,
// aggregation, shipments and export records, on MySQL.
//
// Every method takes the brand it acts on (already authorised by the caller)
// and the actor recorded in audit rows; it validates its input, returns the
// most specific status with a message that says what to fix, and writes every
// multi-row change in one transaction. Rows of another brand are NOT_FOUND.
//
//   Issuer issuer(&pool, &keysets, &index, {});
//   YOUMA_ASSIGN_OR_RETURN(youma::v1::Batch b, issuer.CreateBatch("moutai", "token:ab12", req));
//
// Thread-safe.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include "absl/status/statusor.h"
#include "codegen/code_format.h"
#include "services/common/keyset_registry.h"
#include "services/issuer/batch_index.h"
#include "services/storage/code_blocks.h"
#include "services/storage/mysql.h"
#include "youma/v1/issuer.pb.h"

namespace youma::issuer {

inline constexpr int64_t kMaxBatchCodes = 20'000'000;
inline constexpr uint32_t kMaxSetSize = 1000;

struct IssuerOptions {
  // Exports allowed per batch (like the platforms' "download at most 3 times").
  int export_limit = 3;
  // Codes per aggregation report.
  int64_t max_report_codes = 2'000'000;
};

// youma_codes_issued_total, youma_batches_created_total,
// youma_exports_total{format}, youma_aggregation_links_total.
class IssuerMetrics {
 public:
  explicit IssuerMetrics(prometheus::Registry& registry);
  prometheus::Counter& codes_issued;
  prometheus::Counter& batches_created;
  prometheus::Counter& aggregation_links;
  prometheus::Counter* Exports(const std::string& format);

 private:
  std::map<std::string, prometheus::Counter*> exports_;
};

// Streams the printed codes of a batch range, one chunk at a time.
class CodeCursor {
 public:
  // Fills `chunk` with the next codes; false when the range is exhausted.
  bool Next(youma::v1::CodeChunk* chunk);
  uint64_t total() const { return last_ - first_ + 1; }

 private:
  friend class Issuer;
  CodeCursor(BatchInfo batch, codegen::CodeMinter minter, std::optional<codegen::CodeMinter> cases,
             uint64_t first, uint64_t last, uint32_t chunk)
      : batch_(std::move(batch)), minter_(std::move(minter)), case_minter_(std::move(cases)),
        first_(first), last_(last), next_(first), chunk_(chunk) {}

  BatchInfo batch_;
  codegen::CodeMinter minter_;
  std::optional<codegen::CodeMinter> case_minter_;
  uint64_t first_, last_, next_;
  uint32_t chunk_;
};

class Issuer {
 public:
  // `metrics` may be null (no metrics).
  Issuer(storage::ConnectionPool* pool, common::KeysetRegistry* keysets, BatchIndex* index,
         IssuerOptions options, IssuerMetrics* metrics = nullptr)
      : pool_(pool), keysets_(keysets), index_(index), options_(options), metrics_(metrics) {}

  absl::StatusOr<youma::v1::Product> CreateProduct(const std::string& brand,
                                                   const youma::v1::CreateProductRequest& req);
  absl::StatusOr<youma::v1::Product> GetProduct(const std::string& brand, const std::string& gtin);
  absl::StatusOr<youma::v1::ListProductsResponse> ListProducts(
      const std::string& brand, const youma::v1::ListProductsRequest& req);

  absl::StatusOr<youma::v1::Dealer> CreateDealer(const std::string& brand,
                                                 const youma::v1::CreateDealerRequest& req);
  absl::StatusOr<youma::v1::Dealer> GetDealer(const std::string& brand,
                                              const std::string& dealer_id);
  absl::StatusOr<youma::v1::ListDealersResponse> ListDealers(
      const std::string& brand, const youma::v1::ListDealersRequest& req);

  absl::StatusOr<youma::v1::Batch> CreateBatch(const std::string& brand, const std::string& actor,
                                               const youma::v1::CreateBatchRequest& req);
  absl::StatusOr<youma::v1::Batch> GetBatch(const std::string& brand, uint64_t batch_id);
  absl::StatusOr<youma::v1::ListBatchesResponse> ListBatches(
      const std::string& brand, const youma::v1::ListBatchesRequest& req);
  absl::StatusOr<std::unique_ptr<CodeCursor>> OpenCodes(const std::string& brand,
                                                        const youma::v1::StreamCodesRequest& req);

  absl::StatusOr<youma::v1::RangeChange> ChangeRange(const std::string& brand,
                                                     const std::string& actor,
                                                     youma::v1::RangeAction action,
                                                     const youma::v1::RangeChangeRequest& req);

  absl::StatusOr<youma::v1::AggregationResult> ReportAggregation(
      const std::string& brand, const youma::v1::AggregationReport& req);
  absl::StatusOr<youma::v1::UnlinkResult> UnlinkAggregation(const std::string& brand,
                                                            const std::string& actor,
                                                            const youma::v1::UnlinkRequest& req);

  absl::StatusOr<youma::v1::Shipment> ReportShipment(const std::string& brand,
                                                     const std::string& actor,
                                                     const youma::v1::ShipmentReport& req);

  absl::StatusOr<youma::v1::ExportRecord> BeginExport(const std::string& brand,
                                                      const std::string& actor,
                                                      const youma::v1::BeginExportRequest& req);
  absl::StatusOr<youma::v1::ExportRecord> FinishExport(const std::string& brand,
                                                       const youma::v1::FinishExportRequest& req);

  // During a rolling upgrade, an older youma still records shipments and range
  // changes the way it knew: without painting the shipments' territories or
  // writing the changes' block pieces, so scans (which read those) do not see
  // them. This paints and indexes what it finds of those; `youma serve` runs
  // it every few seconds, so that such a write is seen within that time.
  // Safe beside other servers doing the same (each brand's lock row, the
  // change-id allocator's row).
  struct CatchUp {
    // Brands found with shipments to paint (painted now, here or by another
    // server meanwhile).
    std::vector<std::string> brands;
    size_t changes_indexed = 0;
  };
  absl::StatusOr<CatchUp> CatchUpOlderWrites();

  // Which code ids a printed code names, checked against the brand's keys.
  struct ResolvedCode {
    uint64_t code_id;
    BatchInfo batch;
  };
  absl::StatusOr<ResolvedCode> Resolve(const std::string& brand, const std::string& code);

 private:
  absl::StatusOr<BatchInfo> BrandBatch(const std::string& brand, uint64_t batch_id);
  // A code's batch (id, code count) by the index; nullopt when none holds it.
  storage::BatchOf BatchOfCode() const;

  storage::ConnectionPool* pool_;
  common::KeysetRegistry* keysets_;
  BatchIndex* index_;
  IssuerOptions options_;
  IssuerMetrics* metrics_;
};

// GB/T 2260 region prefixes: 2, 4 or 6 digits ("44", "4401", "440106").
absl::Status ValidateTerritory(const google::protobuf::RepeatedPtrField<std::string>& prefixes);

}  // namespace youma::issuer
