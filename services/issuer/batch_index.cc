#include "services/issuer/batch_index.h"

#include <mutex>

#include "absl/strings/str_cat.h"
#include "codegen/set_layout.h"
#include "services/common/status_macros.h"

namespace youma::issuer {

bool BatchInfo::IsCase(uint64_t code_id) const {
  switch (kind) {
    case youma::v1::BATCH_KIND_CASE: return true;
    case youma::v1::BATCH_KIND_SET: return (code_id - batch_id) % (uint64_t{set_size} + 1) == 0;
    default: return false;
  }
}

std::optional<uint64_t> BatchInfo::SetCaseOf(uint64_t code_id) const {
  if (kind != youma::v1::BATCH_KIND_SET || IsCase(code_id)) return std::nullopt;
  const codegen::SetLayout layout(batch_id, set_size);
  absl::StatusOr<uint64_t> c = layout.CaseOf(code_id, code_count / layout.codes_per_set());
  if (!c.ok()) return std::nullopt;
  return *c;
}

absl::StatusOr<BatchInfo> BatchIndex::Find(uint64_t code_id) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    {
      std::shared_lock<std::shared_mutex> lock(mu_);
      auto it = batches_.upper_bound(code_id);
      if (it != batches_.begin()) {
        --it;
        if (it->second.Contains(code_id)) return it->second;
      }
      if (attempt == 1 || code_id <= newest_) break;
    }
    YOUMA_RETURN_IF_ERROR(FetchNewer());
  }
  return absl::NotFoundError(absl::StrCat("no batch holds code id ", code_id));
}

void BatchIndex::Add(const BatchInfo& batch) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  batches_[batch.batch_id] = batch;
}

size_t BatchIndex::size() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return batches_.size();
}

absl::Status BatchIndex::FetchNewer() {
  uint64_t after;
  {
    std::shared_lock<std::shared_mutex> lock(mu_);
    after = newest_;
  }
  absl::StatusOr<std::vector<BatchInfo>> rows =
      pool_->WithConnection([&](sql::Connection& c) -> absl::StatusOr<std::vector<BatchInfo>> {
        auto st = storage::Prepare(
            c,
            "SELECT batch_id, code_count, brand, gtin, kind, set_size, scheme, case_scheme, "
            "key_id, case_key_id, activation, planned_territory FROM batches WHERE batch_id > ? "
            "ORDER BY batch_id");
        st->setUInt64(1, after);
        std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
        std::vector<BatchInfo> out;
        while (rs->next()) {
          BatchInfo b;
          b.batch_id = rs->getUInt64(1);
          b.code_count = rs->getUInt64(2);
          b.brand = rs->getString(3);
          b.gtin = rs->getString(4);
          b.kind = static_cast<youma::v1::BatchKind>(rs->getInt(5));
          b.set_size = rs->getUInt(6);
          b.scheme = static_cast<youma::v1::CodeScheme>(rs->getInt(7));
          b.case_scheme = static_cast<youma::v1::CodeScheme>(rs->getInt(8));
          b.key_id = rs->getUInt(9);
          b.case_key_id = rs->getUInt(10);
          b.activation = static_cast<youma::v1::ActivationPolicy>(rs->getInt(11));
          b.planned_territory = rs->getString(12);
          out.push_back(std::move(b));
        }
        return out;
      });
  if (!rows.ok()) return rows.status();
  std::unique_lock<std::shared_mutex> lock(mu_);
  for (BatchInfo& b : *rows) {
    newest_ = std::max(newest_, b.last_code_id());
    batches_[b.batch_id] = std::move(b);
  }
  return absl::OkStatus();
}

}  // namespace youma::issuer
