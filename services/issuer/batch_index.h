// In-memory index of batches by code-id range: which batch (and so which brand,
// product, kind and keys) a code id belongs to, without a query per code.
//
// Batches are one row each and code ids only grow, so the index loads every
// batch once and then only fetches batches newer than the newest it knows when
// asked about an id past its end. 100,000 batches take a few MB.
//
//   BatchIndex index(&pool);
//   YOUMA_ASSIGN_OR_RETURN(BatchInfo b, index.Find(code_id));   // NOT_FOUND if none
//
// Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>

#include "absl/status/statusor.h"
#include "codegen/scheme.h"
#include "services/storage/mysql.h"
#include "youma/v1/issuer.pb.h"

namespace youma::issuer {

struct BatchInfo {
  uint64_t batch_id = 0;  // == first code id
  uint64_t code_count = 0;
  std::string brand;
  std::string gtin;
  youma::v1::BatchKind kind = youma::v1::BATCH_KIND_UNSPECIFIED;
  uint32_t set_size = 0;
  youma::v1::CodeScheme scheme = youma::v1::CODE_SCHEME_UNSPECIFIED;
  youma::v1::CodeScheme case_scheme = youma::v1::CODE_SCHEME_UNSPECIFIED;
  uint32_t key_id = 0;
  uint32_t case_key_id = 0;
  youma::v1::ActivationPolicy activation = youma::v1::ACTIVATION_POLICY_UNSPECIFIED;
  std::string planned_territory;  // comma-separated prefixes

  uint64_t last_code_id() const { return batch_id + code_count - 1; }
  bool Contains(uint64_t code_id) const {
    return code_id >= batch_id && code_id - batch_id < code_count;
  }
  // Whether `code_id` (inside the batch) is a case code.
  bool IsCase(uint64_t code_id) const;
  // The case a SET bottle belongs to by construction; nullopt otherwise.
  std::optional<uint64_t> SetCaseOf(uint64_t code_id) const;
};

class BatchIndex {
 public:
  explicit BatchIndex(storage::ConnectionPool* pool) : pool_(pool) {}

  // NOT_FOUND when no batch holds `code_id`.
  absl::StatusOr<BatchInfo> Find(uint64_t code_id);
  // Adds a batch just created by this process.
  void Add(const BatchInfo& batch);
  size_t size() const;

 private:
  absl::Status FetchNewer();

  storage::ConnectionPool* pool_;
  mutable std::shared_mutex mu_;
  std::map<uint64_t, BatchInfo> batches_;  // by first code id
  uint64_t newest_ = 0;
};

}  // namespace youma::issuer
