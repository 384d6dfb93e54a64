#include "services/issuer/issuer.h"
#include "services/issuer/shipment_ranges.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <sodium.h>

#include <algorithm>
#include <map>
#include <set>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "codegen/gs1.h"
#include "codegen/set_layout.h"
#include "services/common/status_macros.h"
#include "services/common/time_util.h"
#include "services/storage/range_change_blocks.h"
#include "services/storage/shipment_territories.h"

namespace youma::issuer {
namespace {

using common::ParseSqlTime;
using common::SqlTime;
using common::ToProtoTime;
using storage::Prepare;

constexpr int kDefaultPageSize = 50;
constexpr int kMaxPageSize = 1000;
constexpr size_t kMaxProblemsListed = 20;

absl::StatusOr<int> PageSize(int requested) {
  if (requested < 0) return absl::InvalidArgumentError("page_size must not be negative");
  if (requested == 0) return kDefaultPageSize;
  return std::min(requested, kMaxPageSize);
}

absl::Status CheckText(absl::string_view field, const std::string& value, size_t max,
                       bool required) {
  if (required && value.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(field, " is required"));
  }
  if (value.size() > max) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " is ", value.size(), " bytes; at most ", max, " are allowed"));
  }
  return absl::OkStatus();
}

std::string JoinTerritory(const google::protobuf::RepeatedPtrField<std::string>& t) {
  return absl::StrJoin(t, ",");
}

void SplitTerritory(const std::string& joined, google::protobuf::RepeatedPtrField<std::string>* out) {
  for (absl::string_view p : absl::StrSplit(joined, ',', absl::SkipEmpty())) out->Add(std::string(p));
}

codegen::Scheme ToScheme(youma::v1::CodeScheme s) { return static_cast<codegen::Scheme>(s); }

youma::v1::Product ProductFromRow(sql::ResultSet& rs) {
  youma::v1::Product p;
  p.set_brand(rs.getString("brand"));
  p.set_gtin(rs.getString("gtin"));
  p.set_name(rs.getString("name"));
  *p.mutable_create_time() = ToProtoTime(ParseSqlTime(rs.getString("create_time")));
  return p;
}

youma::v1::Dealer DealerFromRow(sql::ResultSet& rs) {
  youma::v1::Dealer d;
  d.set_brand(rs.getString("brand"));
  d.set_dealer_id(rs.getString("dealer_id"));
  d.set_name(rs.getString("name"));
  SplitTerritory(rs.getString("territory"), d.mutable_territory());
  *d.mutable_create_time() = ToProtoTime(ParseSqlTime(rs.getString("create_time")));
  return d;
}

constexpr char kBatchColumns[] =
    "b.batch_id, b.brand, b.request_id, b.params_digest, b.gtin, b.kind, b.set_size, b.scheme, "
    "b.case_scheme, b.key_id, b.case_key_id, b.quantity, b.code_count, b.planned_territory, "
    "b.production_line, b.activation, b.activate_time, b.export_limit, b.create_time, "
    "(SELECT COUNT(*) FROM exports e WHERE e.batch_id = b.batch_id) AS exports_used";

youma::v1::Batch BatchFromRow(sql::ResultSet& rs) {
  youma::v1::Batch b;
  b.set_batch_id(rs.getUInt64("batch_id"));
  b.set_brand(rs.getString("brand"));
  b.set_request_id(rs.getString("request_id"));
  b.set_gtin(rs.getString("gtin"));
  b.set_kind(static_cast<youma::v1::BatchKind>(rs.getInt("kind")));
  b.set_set_size(rs.getUInt("set_size"));
  b.set_scheme(static_cast<youma::v1::CodeScheme>(rs.getInt("scheme")));
  b.set_case_scheme(static_cast<youma::v1::CodeScheme>(rs.getInt("case_scheme")));
  b.set_key_id(rs.getUInt("key_id"));
  b.set_case_key_id(rs.getUInt("case_key_id"));
  b.set_quantity(rs.getInt64("quantity"));
  b.set_first_code_id(rs.getUInt64("batch_id"));
  b.set_code_count(rs.getUInt64("code_count"));
  SplitTerritory(rs.getString("planned_territory"), b.mutable_planned_territory());
  b.set_production_line(rs.getString("production_line"));
  b.set_activation(static_cast<youma::v1::ActivationPolicy>(rs.getInt("activation")));
  if (!rs.isNull("activate_time")) {
    *b.mutable_activate_time() = ToProtoTime(ParseSqlTime(rs.getString("activate_time")));
  }
  b.set_export_limit(rs.getInt("export_limit"));
  b.set_exports_used(rs.getInt("exports_used"));
  *b.mutable_create_time() = ToProtoTime(ParseSqlTime(rs.getString("create_time")));
  return b;
}

BatchInfo InfoFromBatch(const youma::v1::Batch& b) {
  BatchInfo i;
  i.batch_id = b.batch_id();
  i.code_count = b.code_count();
  i.brand = b.brand();
  i.gtin = b.gtin();
  i.kind = b.kind();
  i.set_size = b.set_size();
  i.scheme = b.scheme();
  i.case_scheme = b.case_scheme();
  i.key_id = b.key_id();
  i.case_key_id = b.case_key_id();
  i.activation = b.activation();
  i.planned_territory = JoinTerritory(b.planned_territory());
  return i;
}

absl::StatusOr<youma::v1::Batch> SelectBatch(sql::Connection& c, const std::string& where,
                                             const std::function<void(sql::PreparedStatement&)>& bind) {
  auto st = Prepare(c, absl::StrCat("SELECT ", kBatchColumns, " FROM batches b WHERE ", where));
  bind(*st);
  std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
  if (!rs->next()) return absl::NotFoundError("no such batch");
  return BatchFromRow(*rs);
}

// SHA-256 of everything that defines a batch, so a retried request id can be
// told apart from a reused one.
std::string ParamsDigest(const std::string& brand, const youma::v1::CreateBatchRequest& req) {
  youma::v1::CreateBatchRequest canonical = req;
  canonical.set_brand(brand);
  canonical.clear_request_id();
  std::string bytes;
  google::protobuf::io::StringOutputStream out(&bytes);
  google::protobuf::io::CodedOutputStream coded(&out);
  coded.SetSerializationDeterministic(true);
  canonical.SerializeToCodedStream(&coded);
  coded.Trim();
  std::string digest(crypto_hash_sha256_BYTES, '\0');
  crypto_hash_sha256(reinterpret_cast<unsigned char*>(digest.data()),
                     reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  return digest;
}

const char* ActionName(youma::v1::RangeAction a) {
  switch (a) {
    case youma::v1::RANGE_ACTION_ACTIVATE: return "activate";
    case youma::v1::RANGE_ACTION_FREEZE: return "freeze";
    case youma::v1::RANGE_ACTION_UNFREEZE: return "unfreeze";
    case youma::v1::RANGE_ACTION_REVOKE: return "revoke";
    default: return "change";
  }
}

// Problems found in a report, listed in the error so the line can fix them.
class Problems {
 public:
  void Add(const std::string& code, const std::string& problem, bool bad_input) {
    ++count_;
    bad_input_ = bad_input_ || bad_input;
    if (listed_.size() < kMaxProblemsListed) listed_.push_back(absl::StrCat(code, ": ", problem));
  }
  bool empty() const { return count_ == 0; }
  absl::Status ToStatus(absl::string_view what) const {
    std::string msg = absl::StrCat(what, " refused, nothing was written; ", count_,
                                   count_ == 1 ? " problem: " : " problems: ",
                                   absl::StrJoin(listed_, "; "));
    if (count_ > listed_.size()) absl::StrAppend(&msg, "; and ", count_ - listed_.size(), " more");
    return bad_input_ ? absl::InvalidArgumentError(msg) : absl::FailedPreconditionError(msg);
  }

 private:
  size_t count_ = 0;
  bool bad_input_ = false;
  std::vector<std::string> listed_;
};

// Inserts rows in multi-row statements of up to 1000 rows.
template <typename Row>
void InsertMany(sql::Connection& c, const std::string& head, const std::string& one_row,
                const std::vector<Row>& rows,
                const std::function<void(sql::PreparedStatement&, int&, const Row&)>& bind) {
  constexpr size_t kChunk = 1000;
  for (size_t start = 0; start < rows.size(); start += kChunk) {
    const size_t n = std::min(kChunk, rows.size() - start);
    std::string sql = head;
    for (size_t i = 0; i < n; ++i) absl::StrAppend(&sql, i ? "," : "", one_row);
    auto st = Prepare(c, sql);
    int col = 1;
    for (size_t i = 0; i < n; ++i) bind(*st, col, rows[start + i]);
    st->executeUpdate();
  }
}

// A range change to record, inside one batch.
struct NewRangeChange {
  uint64_t batch_id = 0;
  youma::v1::RangeAction action = youma::v1::RANGE_ACTION_UNSPECIFIED;
  uint64_t first = 0, last = 0;
  std::string reason;
  absl::Time effective;
};

// Records `changes` in range_changes, with ids in their order, and their
// block pieces (services/storage/range_change_blocks.h), in the caller's
// transaction; returns the first one's id (0 when there are none).
uint64_t RecordRangeChanges(sql::Connection& c, const std::string& brand, const std::string& actor, absl::Time now,
                            const std::vector<NewRangeChange>& changes) {
  if (changes.empty()) return 0;
  const uint64_t first_id = storage::ReserveRangeChangeIds(c, changes.size());
  uint64_t id = first_id;
  InsertMany<NewRangeChange>(
      c,
      "INSERT INTO range_changes (change_id, brand, batch_id, action, first_code_id, last_code_id, reason, "
      "actor, effective_time, create_time) VALUES ",
      "(?,?,?,?,?,?,?,?,?,?)", changes, [&](sql::PreparedStatement& st, int& col, const NewRangeChange& change) {
        st.setUInt64(col++, id++);
        st.setString(col++, brand);
        st.setUInt64(col++, change.batch_id);
        st.setInt(col++, change.action);
        st.setUInt64(col++, change.first);
        st.setUInt64(col++, change.last);
        st.setString(col++, change.reason);
        st.setString(col++, actor);
        st.setString(col++, SqlTime(change.effective));
        st.setString(col++, SqlTime(now));
      });
  std::vector<storage::ChangeSpan> spans;
  for (size_t i = 0; i < changes.size(); ++i) spans.push_back({first_id + i, changes[i].first, changes[i].last});
  storage::InsertRangeChangeBlocks(c, spans);
  return first_id;
}

// Consecutive ids as [first, last] ranges.
std::vector<std::pair<uint64_t, uint64_t>> Coalesce(std::vector<uint64_t> ids) {
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  std::vector<std::pair<uint64_t, uint64_t>> out;
  for (uint64_t id : ids) {
    if (!out.empty() && out.back().second + 1 == id) {
      out.back().second = id;
    } else {
      out.push_back({id, id});
    }
  }
  return out;
}

// The inclusive code-id range a request names inside `batch`; both ends 0
// mean the whole batch. OUT_OF_RANGE when it leaves the batch.
absl::Status ResolveRange(const BatchInfo& batch, uint64_t* first, uint64_t* last) {
  if (*first == 0 && *last == 0) {
    *first = batch.batch_id;
    *last = batch.last_code_id();
  }
  if (*first > *last || !batch.Contains(*first) || !batch.Contains(*last)) {
    return absl::OutOfRangeError(absl::StrCat("range ", *first, "..", *last, " is not inside batch ",
                                              batch.batch_id, " (codes ", batch.batch_id, "..",
                                              batch.last_code_id(), ")"));
  }
  return absl::OkStatus();
}

}  // namespace

IssuerMetrics::IssuerMetrics(prometheus::Registry& registry)
    : codes_issued(prometheus::BuildCounter()
                       .Name("youma_codes_issued_total")
                       .Help("Codes issued in new batches")
                       .Register(registry)
                       .Add({})),
      batches_created(prometheus::BuildCounter()
                          .Name("youma_batches_created_total")
                          .Help("Batches created (retries of a request id not counted)")
                          .Register(registry)
                          .Add({})),
      aggregation_links(prometheus::BuildCounter()
                            .Name("youma_aggregation_links_total")
                            .Help("Bottle-to-case links reported")
                            .Register(registry)
                            .Add({})) {
  auto& family = prometheus::BuildCounter()
                     .Name("youma_exports_total")
                     .Help("Exports begun, by format")
                     .Register(registry);
  for (const char* f : {"csv", "txt", "jsonl", "png", "svg", "pack"}) {
    exports_[f] = &family.Add({{"format", f}});
  }
}

prometheus::Counter* IssuerMetrics::Exports(const std::string& format) {
  auto it = exports_.find(format);
  return it == exports_.end() ? nullptr : it->second;
}

absl::Status ValidateTerritory(const google::protobuf::RepeatedPtrField<std::string>& prefixes) {
  if (prefixes.size() > 200) {
    return absl::InvalidArgumentError("a territory holds at most 200 region prefixes");
  }
  for (const std::string& p : prefixes) {
    const bool digits = !p.empty() && std::all_of(p.begin(), p.end(), [](char c) {
      return c >= '0' && c <= '9';
    });
    if (!digits || (p.size() != 2 && p.size() != 4 && p.size() != 6)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "territory entry '", p, "' is not a GB/T 2260 region prefix: use 2 digits for a "
          "province (44), 4 for a city (4401) or 6 for a county (440106)"));
    }
  }
  return absl::OkStatus();
}

// ------------------------------------------------------------------ products

absl::StatusOr<youma::v1::Product> Issuer::CreateProduct(
    const std::string& brand, const youma::v1::CreateProductRequest& req) {
  YOUMA_ASSIGN_OR_RETURN(std::string gtin, codegen::NormalizeGtin(req.gtin()));
  YOUMA_RETURN_IF_ERROR(CheckText("product name", req.name(), 200, true));
  YOUMA_RETURN_IF_ERROR(keysets_->Get(brand).status());
  const absl::Time now = absl::Now();
  absl::Status st = pool_->WithConnection([&](sql::Connection& c) -> absl::Status {
    auto ins = Prepare(c, "INSERT INTO products (brand, gtin, name, create_time) VALUES (?,?,?,?)");
    ins->setString(1, brand);
    ins->setString(2, gtin);
    ins->setString(3, req.name());
    ins->setString(4, SqlTime(now));
    ins->executeUpdate();
    return absl::OkStatus();
  });
  if (absl::IsAlreadyExists(st)) {
    return absl::AlreadyExistsError(absl::StrCat("product ", gtin, " already exists for ", brand));
  }
  YOUMA_RETURN_IF_ERROR(st);
  return GetProduct(brand, gtin);
}

absl::StatusOr<youma::v1::Product> Issuer::GetProduct(const std::string& brand,
                                                      const std::string& gtin_in) {
  YOUMA_ASSIGN_OR_RETURN(std::string gtin, codegen::NormalizeGtin(gtin_in));
  return pool_->WithConnection([&](sql::Connection& c) -> absl::StatusOr<youma::v1::Product> {
    auto st = Prepare(c, "SELECT * FROM products WHERE brand = ? AND gtin = ?");
    st->setString(1, brand);
    st->setString(2, gtin);
    std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
    if (!rs->next()) {
      return absl::NotFoundError(absl::StrCat("no product with GTIN ", gtin, " for brand ", brand,
                                              "; create it first (CreateProduct)"));
    }
    return ProductFromRow(*rs);
  });
}

absl::StatusOr<youma::v1::ListProductsResponse> Issuer::ListProducts(
    const std::string& brand, const youma::v1::ListProductsRequest& req) {
  YOUMA_ASSIGN_OR_RETURN(int size, PageSize(req.page_size()));
  return pool_->WithConnection(
      [&](sql::Connection& c) -> absl::StatusOr<youma::v1::ListProductsResponse> {
        auto st = Prepare(c,
                          "SELECT * FROM products WHERE brand = ? AND gtin > ? ORDER BY gtin LIMIT ?");
        st->setString(1, brand);
        st->setString(2, req.page_token());
        st->setInt(3, size + 1);
        std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
        youma::v1::ListProductsResponse out;
        while (rs->next()) {
          if (out.products_size() == size) {
            out.set_next_page_token(out.products(size - 1).gtin());
            break;
          }
          *out.add_products() = ProductFromRow(*rs);
        }
        return out;
      });
}

// ------------------------------------------------------------------- dealers

absl::StatusOr<youma::v1::Dealer> Issuer::CreateDealer(const std::string& brand,
                                                       const youma::v1::CreateDealerRequest& req) {
  YOUMA_RETURN_IF_ERROR(CheckText("dealer_id", req.dealer_id(), 64, true));
  YOUMA_RETURN_IF_ERROR(CheckText("dealer name", req.name(), 200, true));
  if (req.territory().empty()) {
    return absl::InvalidArgumentError(
        "a dealer needs a territory: GB/T 2260 region prefixes such as 44 or 4401");
  }
  YOUMA_RETURN_IF_ERROR(ValidateTerritory(req.territory()));
  YOUMA_RETURN_IF_ERROR(keysets_->Get(brand).status());
  absl::Status st = pool_->WithConnection([&](sql::Connection& c) -> absl::Status {
    auto ins = Prepare(c,
                       "INSERT INTO dealers (brand, dealer_id, name, territory, create_time) "
                       "VALUES (?,?,?,?,?)");
    ins->setString(1, brand);
    ins->setString(2, req.dealer_id());
    ins->setString(3, req.name());
    ins->setString(4, JoinTerritory(req.territory()));
    ins->setString(5, SqlTime(absl::Now()));
    ins->executeUpdate();
    return absl::OkStatus();
  });
  if (absl::IsAlreadyExists(st)) {
    return absl::AlreadyExistsError(
        absl::StrCat("dealer ", req.dealer_id(), " already exists for ", brand));
  }
  YOUMA_RETURN_IF_ERROR(st);
  return GetDealer(brand, req.dealer_id());
}

absl::StatusOr<youma::v1::Dealer> Issuer::GetDealer(const std::string& brand,
                                                    const std::string& dealer_id) {
  return pool_->WithConnection([&](sql::Connection& c) -> absl::StatusOr<youma::v1::Dealer> {
    auto st = Prepare(c, "SELECT * FROM dealers WHERE brand = ? AND dealer_id = ?");
    st->setString(1, brand);
    st->setString(2, dealer_id);
    std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
    if (!rs->next()) {
      return absl::NotFoundError(absl::StrCat("no dealer '", dealer_id, "' for brand ", brand));
    }
    return DealerFromRow(*rs);
  });
}

absl::StatusOr<youma::v1::ListDealersResponse> Issuer::ListDealers(
    const std::string& brand, const youma::v1::ListDealersRequest& req) {
  YOUMA_ASSIGN_OR_RETURN(int size, PageSize(req.page_size()));
  return pool_->WithConnection(
      [&](sql::Connection& c) -> absl::StatusOr<youma::v1::ListDealersResponse> {
        auto st = Prepare(
            c, "SELECT * FROM dealers WHERE brand = ? AND dealer_id > ? ORDER BY dealer_id LIMIT ?");
        st->setString(1, brand);
        st->setString(2, req.page_token());
        st->setInt(3, size + 1);
        std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
        youma::v1::ListDealersResponse out;
        while (rs->next()) {
          if (out.dealers_size() == size) {
            out.set_next_page_token(out.dealers(size - 1).dealer_id());
            break;
          }
          *out.add_dealers() = DealerFromRow(*rs);
        }
        return out;
      });
}

// ------------------------------------------------------------------- batches

absl::StatusOr<youma::v1::Batch> Issuer::CreateBatch(const std::string& brand,
                                                     const std::string& actor,
                                                     const youma::v1::CreateBatchRequest& in) {
  youma::v1::CreateBatchRequest req = in;
  req.clear_brand();
  YOUMA_RETURN_IF_ERROR(CheckText("request_id", req.request_id(), 128, true));
  YOUMA_RETURN_IF_ERROR(CheckText("production_line", req.production_line(), 64, false));
  YOUMA_RETURN_IF_ERROR(ValidateTerritory(req.planned_territory()));
  YOUMA_ASSIGN_OR_RETURN(std::string gtin, codegen::NormalizeGtin(req.gtin()));
  req.set_gtin(gtin);
  if (req.activation() == youma::v1::ACTIVATION_POLICY_UNSPECIFIED) {
    req.set_activation(youma::v1::ACTIVATION_POLICY_IMMEDIATE);
  }
  if (!youma::v1::ActivationPolicy_IsValid(req.activation())) {
    return absl::InvalidArgumentError("unknown activation policy");
  }
  if (req.activation() == youma::v1::ACTIVATION_POLICY_AT_TIME) {
    if (!req.has_activate_time()) {
      return absl::InvalidArgumentError("activation AT_TIME needs activate_time");
    }
    YOUMA_RETURN_IF_ERROR(common::RequestTime(req.activate_time(), "activate_time").status());
  } else if (req.has_activate_time()) {
    return absl::InvalidArgumentError("activate_time is only for activation AT_TIME");
  }
  uint64_t code_count = 0;
  switch (req.kind()) {
    case youma::v1::BATCH_KIND_CASE:
    case youma::v1::BATCH_KIND_BOTTLE:
      if (req.set_size() != 0 || req.case_scheme() != youma::v1::CODE_SCHEME_UNSPECIFIED) {
        return absl::InvalidArgumentError("set_size and case_scheme are only for SET batches");
      }
      code_count = static_cast<uint64_t>(std::max<int64_t>(req.quantity(), 0));
      if (req.scheme() == youma::v1::CODE_SCHEME_UNSPECIFIED) {
        req.set_scheme(req.kind() == youma::v1::BATCH_KIND_CASE ? youma::v1::CODE_SCHEME_SIGNED
                                                                : youma::v1::CODE_SCHEME_COMPACT);
      }
      break;
    case youma::v1::BATCH_KIND_SET:
      if (req.set_size() < 1 || req.set_size() > kMaxSetSize) {
        return absl::InvalidArgumentError(absl::StrCat(
            "a SET batch needs set_size (bottles per case) from 1 to ", kMaxSetSize));
      }
      if (req.quantity() > 0) {
        code_count = static_cast<uint64_t>(req.quantity()) * (uint64_t{req.set_size()} + 1);
      }
      if (req.scheme() == youma::v1::CODE_SCHEME_UNSPECIFIED) {
        req.set_scheme(youma::v1::CODE_SCHEME_COMPACT);
      }
      if (req.case_scheme() == youma::v1::CODE_SCHEME_UNSPECIFIED) {
        req.set_case_scheme(youma::v1::CODE_SCHEME_SIGNED);
      }
      break;
    default:
      return absl::InvalidArgumentError("kind must be CASE, BOTTLE or SET");
  }
  if (req.quantity() < 1 || code_count > static_cast<uint64_t>(kMaxBatchCodes)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "quantity ", req.quantity(), req.kind() == youma::v1::BATCH_KIND_SET ? " sets" : " codes",
        " gives ", code_count, " codes; a batch holds 1 to ", kMaxBatchCodes, " codes"));
  }
  for (auto s : {req.scheme(), req.case_scheme()}) {
    if (!youma::v1::CodeScheme_IsValid(s)) return absl::InvalidArgumentError("unknown scheme");
  }
  YOUMA_ASSIGN_OR_RETURN(auto keys, keysets_->Get(brand));
  const std::string digest = ParamsDigest(brand, req);

  auto existing = [&]() -> absl::StatusOr<youma::v1::Batch> {
    return pool_->WithConnection([&](sql::Connection& c) -> absl::StatusOr<youma::v1::Batch> {
      auto st = Prepare(c, absl::StrCat("SELECT ", kBatchColumns,
                                        " FROM batches b WHERE brand = ? AND request_id = ?"));
      st->setString(1, brand);
      st->setString(2, req.request_id());
      std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
      if (!rs->next()) return absl::NotFoundError("");
      if (std::string(rs->getString("params_digest")) != digest) {
        return absl::AlreadyExistsError(absl::StrCat(
            "request_id '", req.request_id(), "' already created batch ",
            rs->getUInt64("batch_id"), " with other parameters; use a new request_id"));
      }
      return BatchFromRow(*rs);
    });
  };
  absl::StatusOr<youma::v1::Batch> found = existing();
  if (found.ok() || !absl::IsNotFound(found.status())) return found;

  YOUMA_RETURN_IF_ERROR(GetProduct(brand, gtin).status());
  const codegen::Key* primary = keys->keyset.Primary(ToScheme(req.scheme()));
  const codegen::Key* case_primary =
      req.kind() == youma::v1::BATCH_KIND_SET ? keys->keyset.Primary(ToScheme(req.case_scheme()))
                                              : nullptr;
  if (primary == nullptr ||
      (req.kind() == youma::v1::BATCH_KIND_SET && case_primary == nullptr)) {
    return absl::FailedPreconditionError("the brand's keyset has no primary key for the scheme");
  }
  const absl::Time now = absl::Now();
  absl::StatusOr<uint64_t> created =
      pool_->InTransaction([&](sql::Connection& c) -> absl::StatusOr<uint64_t> {
        uint64_t first = 0;
        {
          std::unique_ptr<sql::Statement> st(c.createStatement());
          std::unique_ptr<sql::ResultSet> rs(st->executeQuery(
              "SELECT next_code_id FROM code_id_allocator WHERE name = 'codes' FOR UPDATE"));
          if (!rs->next()) return absl::InternalError("code id allocator row is missing");
          first = rs->getUInt64(1);
        }
        if (first + code_count - 1 > codegen::kMaxCodeId) {
          return absl::ResourceExhaustedError("this installation has used up its 48-bit code ids");
        }
        auto bump = Prepare(c, "UPDATE code_id_allocator SET next_code_id = ? WHERE name = 'codes'");
        bump->setUInt64(1, first + code_count);
        bump->executeUpdate();
        auto ins = Prepare(
            c,
            "INSERT INTO batches (batch_id, brand, request_id, params_digest, gtin, kind, set_size, "
            "scheme, case_scheme, key_id, case_key_id, quantity, code_count, planned_territory, "
            "production_line, activation, activate_time, export_limit, actor, create_time) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
        int i = 1;
        ins->setUInt64(i++, first);
        ins->setString(i++, brand);
        ins->setString(i++, req.request_id());
        ins->setString(i++, digest);
        ins->setString(i++, gtin);
        ins->setInt(i++, req.kind());
        ins->setUInt(i++, req.set_size());
        ins->setInt(i++, req.scheme());
        ins->setInt(i++, req.case_scheme());
        ins->setUInt(i++, primary->key_id);
        ins->setUInt(i++, case_primary ? case_primary->key_id : 0);
        ins->setInt64(i++, req.quantity());
        ins->setUInt64(i++, code_count);
        ins->setString(i++, JoinTerritory(req.planned_territory()));
        ins->setString(i++, req.production_line());
        ins->setInt(i++, req.activation());
        if (req.has_activate_time()) {
          ins->setString(i++, SqlTime(common::FromProtoTime(req.activate_time())));
        } else {
          ins->setNull(i++, 0);
        }
        ins->setInt(i++, options_.export_limit);
        ins->setString(i++, actor);
        ins->setString(i++, SqlTime(now));
        ins->executeUpdate();
        if (req.activation() != youma::v1::ACTIVATION_POLICY_ON_SHIPMENT) {
          RecordRangeChanges(c, brand, actor, now,
                             {{first, youma::v1::RANGE_ACTION_ACTIVATE, first, first + code_count - 1,
                               "batch activation policy",
                               req.has_activate_time() ? common::FromProtoTime(req.activate_time()) : now}});
        }
        return first;
      });
  if (absl::IsAlreadyExists(created.status())) return existing();  // a concurrent retry won
  if (!created.ok()) return created.status();
  YOUMA_ASSIGN_OR_RETURN(youma::v1::Batch batch, GetBatch(brand, *created));
  index_->Add(InfoFromBatch(batch));
  if (metrics_ != nullptr) {
    metrics_->batches_created.Increment();
    metrics_->codes_issued.Increment(static_cast<double>(batch.code_count()));
  }
  return batch;
}

absl::StatusOr<youma::v1::Batch> Issuer::GetBatch(const std::string& brand, uint64_t batch_id) {
  absl::StatusOr<youma::v1::Batch> b =
      pool_->WithConnection([&](sql::Connection& c) -> absl::StatusOr<youma::v1::Batch> {
        return SelectBatch(c, "b.brand = ? AND b.batch_id = ?", [&](sql::PreparedStatement& st) {
          st.setString(1, brand);
          st.setUInt64(2, batch_id);
        });
      });
  if (absl::IsNotFound(b.status())) {
    return absl::NotFoundError(absl::StrCat("no batch ", batch_id, " for brand ", brand));
  }
  return b;
}

absl::StatusOr<youma::v1::ListBatchesResponse> Issuer::ListBatches(
    const std::string& brand, const youma::v1::ListBatchesRequest& req) {
  YOUMA_ASSIGN_OR_RETURN(int size, PageSize(req.page_size()));
  uint64_t before = UINT64_MAX;
  if (!req.page_token().empty() && !absl::SimpleAtoi(req.page_token(), &before)) {
    return absl::InvalidArgumentError("page_token is not one this server returned");
  }
  return pool_->WithConnection(
      [&](sql::Connection& c) -> absl::StatusOr<youma::v1::ListBatchesResponse> {
        auto st = Prepare(c, absl::StrCat("SELECT ", kBatchColumns,
                                          " FROM batches b WHERE b.brand = ? AND b.batch_id < ? "
                                          "ORDER BY b.batch_id DESC LIMIT ?"));
        st->setString(1, brand);
        st->setUInt64(2, before);
        st->setInt(3, size + 1);
        std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
        youma::v1::ListBatchesResponse out;
        while (rs->next()) {
          if (out.batches_size() == size) {
            out.set_next_page_token(absl::StrCat(out.batches(size - 1).batch_id()));
            break;
          }
          *out.add_batches() = BatchFromRow(*rs);
        }
        return out;
      });
}

absl::StatusOr<BatchInfo> Issuer::BrandBatch(const std::string& brand, uint64_t batch_id) {
  absl::StatusOr<BatchInfo> b = index_->Find(batch_id);
  if (!b.ok() || b->brand != brand || b->batch_id != batch_id) {
    if (b.ok() || absl::IsNotFound(b.status())) {
      return absl::NotFoundError(absl::StrCat("no batch ", batch_id, " for brand ", brand));
    }
    return b.status();
  }
  return b;
}

bool CodeCursor::Next(youma::v1::CodeChunk* chunk) {
  chunk->Clear();
  if (next_ > last_) return false;
  chunk->set_codes_total(total());
  const uint64_t end = std::min(last_, next_ + chunk_ - 1);
  for (uint64_t id = next_; id <= end; ++id) {
    youma::v1::Code* code = chunk->add_codes();
    code->set_code_id(id);
    const bool is_case = batch_.IsCase(id);
    code->set_is_case(is_case);
    if (auto c = batch_.SetCaseOf(id)) code->set_case_code_id(*c);
    const codegen::CodeMinter& m =
        is_case && case_minter_.has_value() ? *case_minter_ : minter_;
    (void)m.AppendUrl(id, code->mutable_url());
  }
  next_ = end + 1;
  return true;
}

absl::StatusOr<std::unique_ptr<CodeCursor>> Issuer::OpenCodes(
    const std::string& brand, const youma::v1::StreamCodesRequest& req) {
  YOUMA_ASSIGN_OR_RETURN(BatchInfo batch, BrandBatch(brand, req.batch_id()));
  uint64_t first = req.first_code_id(), last = req.last_code_id();
  YOUMA_RETURN_IF_ERROR(ResolveRange(batch, &first, &last));
  uint32_t chunk = req.chunk_size() == 0 ? 4096 : req.chunk_size();
  if (chunk > 65536) return absl::InvalidArgumentError("chunk_size is at most 65536");
  if (req.export_id() != 0) {
    YOUMA_RETURN_IF_ERROR(pool_->WithConnection([&](sql::Connection& c) -> absl::Status {
      auto st = Prepare(c,
                        "SELECT batch_id, first_code_id, last_code_id, finish_time FROM exports "
                        "WHERE export_id = ? AND brand = ?");
      st->setUInt64(1, req.export_id());
      st->setString(2, brand);
      std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
      if (!rs->next()) return absl::NotFoundError(absl::StrCat("no export ", req.export_id()));
      if (rs->getUInt64(1) != batch.batch_id || rs->getUInt64(2) != first ||
          rs->getUInt64(3) != last) {
        return absl::InvalidArgumentError(
            absl::StrCat("export ", req.export_id(), " was begun for another batch or range"));
      }
      if (!rs->isNull(4)) {
        return absl::FailedPreconditionError(
            absl::StrCat("export ", req.export_id(), " is finished; begin a new one"));
      }
      return absl::OkStatus();
    }));
  }
  YOUMA_ASSIGN_OR_RETURN(auto keys, keysets_->Get(brand));
  YOUMA_ASSIGN_OR_RETURN(codegen::CodeMinter minter, keys->MinterFor(batch.key_id, batch.gtin));
  std::optional<codegen::CodeMinter> case_minter;
  if (batch.kind == youma::v1::BATCH_KIND_SET) {
    YOUMA_ASSIGN_OR_RETURN(case_minter, keys->MinterFor(batch.case_key_id, batch.gtin));
  }
  return std::unique_ptr<CodeCursor>(new CodeCursor(std::move(batch), std::move(minter),
                                                    std::move(case_minter), first, last, chunk));
}

// --------------------------------------------------------------------- ranges

absl::StatusOr<youma::v1::RangeChange> Issuer::ChangeRange(
    const std::string& brand, const std::string& actor, youma::v1::RangeAction action,
    const youma::v1::RangeChangeRequest& req) {
  YOUMA_ASSIGN_OR_RETURN(BatchInfo batch, BrandBatch(brand, req.batch_id()));
  uint64_t first = req.first_code_id(), last = req.last_code_id();
  YOUMA_RETURN_IF_ERROR(ResolveRange(batch, &first, &last));
  const bool needs_reason =
      action == youma::v1::RANGE_ACTION_FREEZE || action == youma::v1::RANGE_ACTION_REVOKE;
  YOUMA_RETURN_IF_ERROR(CheckText("reason", req.reason(), 500, needs_reason));
  const absl::Time now = absl::Now();
  if (action != youma::v1::RANGE_ACTION_ACTIVATE && req.has_effective_time()) {
    return absl::InvalidArgumentError("effective_time is only for ActivateRange");
  }
  YOUMA_ASSIGN_OR_RETURN(const absl::Time effective, common::RequestTimeOr(req.has_effective_time(),
                                                                           req.effective_time(), "effective_time", now));
  return pool_->InTransaction([&](sql::Connection& c) -> absl::StatusOr<youma::v1::RangeChange> {
    if (action == youma::v1::RANGE_ACTION_ACTIVATE || action == youma::v1::RANGE_ACTION_UNFREEZE) {
      // Revoked codes never come back (spoiled labels, recalls).
      auto st = Prepare(c,
                        "SELECT first_code_id, last_code_id, reason FROM range_changes WHERE "
                        "batch_id = ? AND action = ? AND first_code_id <= ? AND last_code_id >= ? "
                        "LIMIT 1");
      st->setUInt64(1, batch.batch_id);
      st->setInt(2, youma::v1::RANGE_ACTION_REVOKE);
      st->setUInt64(3, last);
      st->setUInt64(4, first);
      std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
      if (rs->next()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "codes ", rs->getUInt64(1), "..", rs->getUInt64(2), " were revoked (",
            std::string(rs->getString(3)), "); revoked codes cannot be ", ActionName(action), "d"));
      }
    }
    youma::v1::RangeChange out;
    out.set_change_id(
        RecordRangeChanges(c, brand, actor, now, {{batch.batch_id, action, first, last, req.reason(), effective}}));
    out.set_batch_id(batch.batch_id);
    out.set_action(action);
    out.set_first_code_id(first);
    out.set_last_code_id(last);
    out.set_reason(req.reason());
    out.set_actor(actor);
    *out.mutable_effective_time() = ToProtoTime(effective);
    *out.mutable_create_time() = ToProtoTime(now);
    return out;
  });
}

// ---------------------------------------------------------------- aggregation

absl::StatusOr<Issuer::ResolvedCode> Issuer::Resolve(const std::string& brand,
                                                     const std::string& code) {
  YOUMA_ASSIGN_OR_RETURN(auto keys, keysets_->Get(brand));
  const codegen::Verification v = keys->verifier.Verify(code);
  if (v.verdict == codegen::Verdict::kMalformed) {
    return absl::InvalidArgumentError(absl::StrCat("malformed (", v.problem, ")"));
  }
  if (v.verdict != codegen::Verdict::kGenuine) {
    for (const std::string& other : keysets_->Brands()) {
      if (other == brand) continue;
      absl::StatusOr<std::shared_ptr<const common::BrandKeys>> ok = keysets_->Get(other);
      if (ok.ok() && (*ok)->verifier.Verify(code).verdict == codegen::Verdict::kGenuine) {
        return absl::InvalidArgumentError("issued by another brand");
      }
    }
    return absl::InvalidArgumentError("counterfeit: not a code of this brand");
  }
  absl::StatusOr<BatchInfo> batch = index_->Find(v.code_id);
  if (!batch.ok()) {
    if (absl::IsNotFound(batch.status())) {
      return absl::InvalidArgumentError("genuine but in no batch (never issued)");
    }
    return batch.status();
  }
  if (batch->brand != brand) return absl::InvalidArgumentError("issued by another brand");
  return ResolvedCode{v.code_id, *std::move(batch)};
}

absl::StatusOr<youma::v1::AggregationResult> Issuer::ReportAggregation(
    const std::string& brand, const youma::v1::AggregationReport& req) {
  YOUMA_RETURN_IF_ERROR(CheckText("production_line", req.production_line(), 64, false));
  if (req.cases().empty()) return absl::InvalidArgumentError("the report holds no cases");
  int64_t total = 0;
  for (const auto& c : req.cases()) total += 1 + c.bottle_codes_size();
  if (total > options_.max_report_codes) {
    return absl::InvalidArgumentError(absl::StrCat("the report holds ", total,
                                                   " codes; split it into reports of at most ",
                                                   options_.max_report_codes));
  }
  Problems problems;
  struct Link {
    uint64_t bottle;
    uint64_t case_id;
    const std::string* as_reported;
  };
  std::vector<Link> links;
  absl::flat_hash_set<uint64_t> seen_bottles, seen_cases;
  for (const auto& c : req.cases()) {
    absl::StatusOr<ResolvedCode> case_code = Resolve(brand, c.case_code());
    if (!case_code.ok()) {
      if (!absl::IsInvalidArgument(case_code.status())) return case_code.status();
      problems.Add(c.case_code(), std::string(case_code.status().message()), true);
      continue;
    }
    if (!case_code->batch.IsCase(case_code->code_id)) {
      problems.Add(c.case_code(), "is a bottle code, not a case code", true);
      continue;
    }
    if (!seen_cases.insert(case_code->code_id).second) {
      problems.Add(c.case_code(), "case reported twice in this report", true);
      continue;
    }
    if (c.bottle_codes().empty()) problems.Add(c.case_code(), "case with no bottles", true);
    for (const std::string& b : c.bottle_codes()) {
      absl::StatusOr<ResolvedCode> bottle = Resolve(brand, b);
      if (!bottle.ok()) {
        if (!absl::IsInvalidArgument(bottle.status())) return bottle.status();
        problems.Add(b, std::string(bottle.status().message()), true);
        continue;
      }
      if (bottle->batch.IsCase(bottle->code_id)) {
        problems.Add(b, "is a case code, not a bottle", true);
        continue;
      }
      if (auto set_case = bottle->batch.SetCaseOf(bottle->code_id);
          set_case && *set_case != case_code->code_id) {
        problems.Add(b, absl::StrCat("belongs to case ", *set_case, " by its pre-associated set"),
                     true);
        continue;
      }
      if (!seen_bottles.insert(bottle->code_id).second) {
        problems.Add(b, "bottle reported twice in this report", true);
        continue;
      }
      links.push_back({bottle->code_id, case_code->code_id, &b});
    }
  }
  if (!problems.empty()) return problems.ToStatus("aggregation report");

  return pool_->InTransaction(
      [&](sql::Connection& c) -> absl::StatusOr<youma::v1::AggregationResult> {
        // Integers go into the SQL text; the strings once, as session variables.
        auto vars = Prepare(c, "SET @youma_brand = ?, @youma_line = ?, @youma_now = ?");
        vars->setString(1, brand);
        vars->setString(2, req.production_line());
        vars->setString(3, SqlTime(absl::Now()));
        vars->execute();
        constexpr size_t kChunk = 1000;
        for (size_t start = 0; start < links.size(); start += kChunk) {
          const size_t n = std::min(kChunk, links.size() - start);
          std::string sql = "INSERT IGNORE INTO aggregation_links (bottle_code_id, case_code_id, "
                            "brand, production_line, create_time) VALUES ";
          sql.reserve(sql.size() + n * 64);
          for (size_t i = 0; i < n; ++i) {
            const Link& l = links[start + i];
            absl::StrAppend(&sql, i ? ",(" : "(", l.bottle, ",", l.case_id,
                            ",@youma_brand,@youma_line,@youma_now)");
          }
          std::unique_ptr<sql::Statement> st(c.createStatement());
          const int inserted = st->executeUpdate(sql);
          if (static_cast<size_t>(inserted) == n) continue;
          // Some bottles were linked already: the same case is a harmless
          // repeat, another case a conflict that refuses the whole report.
          std::string ids;
          std::map<uint64_t, const Link*> by_bottle;
          for (size_t i = 0; i < n; ++i) {
            const Link& l = links[start + i];
            absl::StrAppend(&ids, i ? "," : "", l.bottle);
            by_bottle[l.bottle] = &l;
          }
          std::unique_ptr<sql::ResultSet> rs(st->executeQuery(absl::StrCat(
              "SELECT bottle_code_id, case_code_id FROM aggregation_links WHERE bottle_code_id "
              "IN (", ids, ")")));
          while (rs->next()) {
            const Link* l = by_bottle[rs->getUInt64(1)];
            const uint64_t existing = rs->getUInt64(2);
            if (l != nullptr && existing != l->case_id) {
              problems.Add(*l->as_reported,
                           absl::StrCat("already in case ", existing,
                                        "; unlink it first (UnlinkAggregation) to move it"),
                           false);
            }
          }
        }
        if (!problems.empty()) return problems.ToStatus("aggregation report");
        if (metrics_ != nullptr) metrics_->aggregation_links.Increment(static_cast<double>(links.size()));
        youma::v1::AggregationResult out;
        out.set_cases(req.cases_size());
        out.set_links(static_cast<int64_t>(links.size()));
        return out;
      });
}

absl::StatusOr<youma::v1::UnlinkResult> Issuer::UnlinkAggregation(
    const std::string& brand, const std::string& actor, const youma::v1::UnlinkRequest& req) {
  YOUMA_RETURN_IF_ERROR(CheckText("reason", req.reason(), 500, true));
  if (req.bottle_codes().empty()) return absl::InvalidArgumentError("no bottle codes to unlink");
  Problems problems;
  std::vector<std::pair<uint64_t, const std::string*>> bottles;
  for (const std::string& b : req.bottle_codes()) {
    absl::StatusOr<ResolvedCode> r = Resolve(brand, b);
    if (!r.ok()) {
      if (!absl::IsInvalidArgument(r.status())) return r.status();
      problems.Add(b, std::string(r.status().message()), true);
      continue;
    }
    bottles.push_back({r->code_id, &b});
  }
  if (!problems.empty()) return problems.ToStatus("unlink");
  return pool_->InTransaction([&](sql::Connection& c) -> absl::StatusOr<youma::v1::UnlinkResult> {
    const std::string now = SqlTime(absl::Now());
    int64_t unlinked = 0;
    for (const auto& [bottle, as_reported] : bottles) {
      auto sel = Prepare(c,
                         "SELECT case_code_id FROM aggregation_links WHERE bottle_code_id = ? AND "
                         "brand = ? FOR UPDATE");
      sel->setUInt64(1, bottle);
      sel->setString(2, brand);
      std::unique_ptr<sql::ResultSet> rs(sel->executeQuery());
      if (!rs->next()) {
        problems.Add(*as_reported, "is in no case", false);
        continue;
      }
      const uint64_t case_id = rs->getUInt64(1);
      auto del = Prepare(c, "DELETE FROM aggregation_links WHERE bottle_code_id = ?");
      del->setUInt64(1, bottle);
      del->executeUpdate();
      auto audit = Prepare(c,
                           "INSERT INTO aggregation_unlinks (brand, bottle_code_id, case_code_id, "
                           "reason, actor, create_time) VALUES (?,?,?,?,?,?)");
      audit->setString(1, brand);
      audit->setUInt64(2, bottle);
      audit->setUInt64(3, case_id);
      audit->setString(4, req.reason());
      audit->setString(5, actor);
      audit->setString(6, now);
      audit->executeUpdate();
      ++unlinked;
    }
    if (!problems.empty()) return problems.ToStatus("unlink");
    youma::v1::UnlinkResult out;
    out.set_unlinked(unlinked);
    return out;
  });
}

// ------------------------------------------------------------------ shipments

storage::BatchOf Issuer::BatchOfCode() const {
  return [index = index_](uint64_t code_id) -> std::optional<std::pair<uint64_t, uint64_t>> {
    absl::StatusOr<BatchInfo> b = index->Find(code_id);
    if (!b.ok()) return std::nullopt;
    return std::make_pair(b->batch_id, b->code_count);
  };
}

absl::StatusOr<Issuer::CatchUp> Issuer::CatchUpOlderWrites() {
  CatchUp done;
  // Looked for without locks; caught up under them (another server may have
  // done it meanwhile, and then there is nothing left to do).
  YOUMA_ASSIGN_OR_RETURN(const std::vector<std::string> brands,
                         pool_->WithConnection([](sql::Connection& c) -> absl::StatusOr<std::vector<std::string>> {
                           return storage::BrandsWithUnpaintedShipments(c);
                         }));
  const storage::BatchOf batch_of = BatchOfCode();
  for (const std::string& brand : brands) {
    YOUMA_RETURN_IF_ERROR(pool_->InTransaction([&](sql::Connection& c) -> absl::Status {
      storage::LockBrandShipments(c, brand, batch_of);
      return absl::OkStatus();
    }));
    done.brands.push_back(brand);
  }
  YOUMA_ASSIGN_OR_RETURN(const bool unindexed, pool_->WithConnection([](sql::Connection& c) -> absl::StatusOr<bool> {
                           return storage::HasUnindexedRangeChanges(c);
                         }));
  if (unindexed) {
    YOUMA_RETURN_IF_ERROR(pool_->InTransaction([&](sql::Connection& c) -> absl::Status {
      storage::ReserveRangeChangeIds(c, 0, &done.changes_indexed);
      return absl::OkStatus();
    }));
  }
  return done;
}

absl::StatusOr<youma::v1::Shipment> Issuer::ReportShipment(const std::string& brand,
                                                           const std::string& actor,
                                                           const youma::v1::ShipmentReport& req) {
  YOUMA_RETURN_IF_ERROR(CheckText("request_id", req.request_id(), 128, false));
  if (req.case_codes().empty() && req.batch_ids().empty() && req.ranges().empty()) {
    return absl::InvalidArgumentError("the shipment holds no cases, batches or ranges");
  }
  YOUMA_ASSIGN_OR_RETURN(youma::v1::Dealer dealer, GetDealer(brand, req.dealer_id()));
  Problems problems;
  // Shipped ranges, and the batches they belong to (for activation on shipment).
  struct Shipped {
    uint64_t first, last;
    BatchInfo batch;
  };
  std::vector<Shipped> shipped;
  std::vector<uint64_t> aggregated_cases;
  int64_t cases = 0;
  for (const std::string& code : req.case_codes()) {
    absl::StatusOr<ResolvedCode> r = Resolve(brand, code);
    if (!r.ok()) {
      if (!absl::IsInvalidArgument(r.status())) return r.status();
      problems.Add(code, std::string(r.status().message()), true);
      continue;
    }
    if (!r->batch.IsCase(r->code_id)) {
      problems.Add(code, "is a bottle code; ship cases, batches or ranges", true);
      continue;
    }
    ++cases;
    if (r->batch.kind == youma::v1::BATCH_KIND_SET) {
      shipped.push_back({r->code_id, r->code_id + r->batch.set_size, r->batch});
    } else {
      shipped.push_back({r->code_id, r->code_id, r->batch});
      aggregated_cases.push_back(r->code_id);
    }
  }
  for (uint64_t id : req.batch_ids()) {
    absl::StatusOr<BatchInfo> b = BrandBatch(brand, id);
    if (!b.ok()) {
      problems.Add(absl::StrCat("batch ", id), std::string(b.status().message()), true);
      continue;
    }
    shipped.push_back({b->batch_id, b->last_code_id(), *b});
  }
  for (const auto& range : req.ranges()) {
    absl::StatusOr<BatchInfo> b = index_->Find(range.first_code_id());
    const std::string label = absl::StrCat("range ", range.first_code_id(), "..", range.last_code_id());
    if (!b.ok() || b->brand != brand || range.first_code_id() > range.last_code_id() ||
        !b->Contains(range.last_code_id())) {
      problems.Add(label, "is not inside one batch of this brand", true);
      continue;
    }
    shipped.push_back({range.first_code_id(), range.last_code_id(), *b});
  }
  if (!problems.empty()) return problems.ToStatus("shipment");

  const absl::Time now = absl::Now();
  YOUMA_ASSIGN_OR_RETURN(const absl::Time ship_time,
                         common::RequestTimeOr(req.has_ship_time(), req.ship_time(), "ship_time", now));
  const storage::BatchOf batch_of = BatchOfCode();
  auto result = pool_->InTransaction([&](sql::Connection& c) -> absl::StatusOr<uint64_t> {
    // First: the brand's shipments are written one at a time, so the one
    // written last is the latest (and a retry sees the report it repeats).
    storage::LockBrandShipments(c, brand, batch_of);
    if (!req.request_id().empty()) {
      auto st = Prepare(c, "SELECT shipment_id FROM shipments WHERE brand = ? AND request_id = ?");
      st->setString(1, brand);
      st->setString(2, req.request_id());
      std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
      if (rs->next()) return rs->getUInt64(1);  // a retry: the first report stands
    }
    // Bottles aggregated into shipped cases ship (and activate) with them.
    std::vector<uint64_t> bottles;
    for (size_t start = 0; start < aggregated_cases.size(); start += 1000) {
      const size_t n = std::min<size_t>(1000, aggregated_cases.size() - start);
      std::string sql = "SELECT bottle_code_id FROM aggregation_links WHERE case_code_id IN (";
      for (size_t i = 0; i < n; ++i) absl::StrAppend(&sql, i ? ",?" : "?");
      absl::StrAppend(&sql, ")");
      auto st = Prepare(c, sql);
      for (size_t i = 0; i < n; ++i) st->setUInt64(static_cast<int>(i + 1), aggregated_cases[start + i]);
      std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
      while (rs->next()) bottles.push_back(rs->getUInt64(1));
    }
    int64_t codes = static_cast<int64_t>(bottles.size());
    for (const Shipped& s : shipped) codes += static_cast<int64_t>(s.last - s.first + 1);
    std::vector<std::pair<uint64_t, uint64_t>> ranges;
    for (const Shipped& s : shipped) ranges.push_back({s.first, s.last});
    for (const auto& r : Coalesce(bottles)) ranges.push_back(r);
    std::sort(ranges.begin(), ranges.end());
    ranges.erase(std::unique(ranges.begin(), ranges.end()), ranges.end());
    // The shipped codes merged into runs, each inside one batch.
    const std::vector<storage::CodeRun> runs = storage::BatchRuns(ranges, batch_of);
    // Activation on shipment: the runs in batches that wait for it.
    std::vector<NewRangeChange> to_activate;
    int64_t activated = 0;
    for (const storage::CodeRun& run : runs) {
      absl::StatusOr<BatchInfo> b = index_->Find(run.first);
      if (b.ok() && b->activation == youma::v1::ACTIVATION_POLICY_ON_SHIPMENT) {
        to_activate.push_back({b->batch_id, youma::v1::RANGE_ACTION_ACTIVATE, run.first, run.last, "", ship_time});
        activated += static_cast<int64_t>(run.last - run.first + 1);
      }
    }
    auto ins = Prepare(c,
                       "INSERT INTO shipments (brand, dealer_id, request_id, territory, cases, "
                       "codes, activated, actor, ship_time, create_time) VALUES (?,?,?,?,?,?,?,?,?,?)");
    ins->setString(1, brand);
    ins->setString(2, dealer.dealer_id());
    if (req.request_id().empty()) {
      ins->setNull(3, 0);
    } else {
      ins->setString(3, req.request_id());
    }
    ins->setString(4, JoinTerritory(dealer.territory()));
    ins->setInt64(5, cases);
    ins->setInt64(6, codes);
    ins->setInt64(7, activated);
    ins->setString(8, actor);
    ins->setString(9, SqlTime(ship_time));
    ins->setString(10, SqlTime(now));
    ins->executeUpdate();
    std::unique_ptr<sql::Statement> id_st(c.createStatement());
    std::unique_ptr<sql::ResultSet> id_rs(id_st->executeQuery("SELECT LAST_INSERT_ID()"));
    id_rs->next();
    const uint64_t shipment_id = id_rs->getUInt64(1);
    InsertMany<std::pair<uint64_t, uint64_t>>(
        c, "INSERT IGNORE INTO shipment_ranges (shipment_id, first_code_id, last_code_id, brand) VALUES ",
        "(?,?,?,?)", SplitShipmentRanges(ranges), [&](sql::PreparedStatement& st, int& col, const auto& r) {
          st.setUInt64(col++, shipment_id);
          st.setUInt64(col++, r.first);
          st.setUInt64(col++, r.second);
          st.setString(col++, brand);
        });
    // The codes' current shipment: this one wins over earlier ones.
    storage::PaintShipmentTerritory(c, runs, shipment_id);
    storage::MarkShipmentPainted(c, brand, shipment_id);
    for (NewRangeChange& change : to_activate) {
      change.reason = absl::StrCat("shipped to ", dealer.dealer_id(), " (shipment ", shipment_id, ")");
    }
    RecordRangeChanges(c, brand, actor, now, to_activate);
    return shipment_id;
  });
  if (!result.ok()) return result.status();
  return pool_->WithConnection([&](sql::Connection& c) -> absl::StatusOr<youma::v1::Shipment> {
    auto st = Prepare(c, "SELECT * FROM shipments WHERE shipment_id = ?");
    st->setUInt64(1, *result);
    std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
    if (!rs->next()) return absl::InternalError("shipment vanished after commit");
    youma::v1::Shipment s;
    s.set_shipment_id(rs->getUInt64("shipment_id"));
    s.set_brand(rs->getString("brand"));
    s.set_dealer_id(rs->getString("dealer_id"));
    SplitTerritory(rs->getString("territory"), s.mutable_territory());
    s.set_cases(rs->getInt64("cases"));
    s.set_codes(rs->getInt64("codes"));
    s.set_activated(rs->getInt64("activated"));
    *s.mutable_ship_time() = ToProtoTime(ParseSqlTime(rs->getString("ship_time")));
    return s;
  });
}

// -------------------------------------------------------------------- exports

namespace {

youma::v1::ExportRecord ExportFromRow(sql::ResultSet& rs) {
  youma::v1::ExportRecord e;
  e.set_export_id(rs.getUInt64("export_id"));
  e.set_batch_id(rs.getUInt64("batch_id"));
  e.set_first_code_id(rs.getUInt64("first_code_id"));
  e.set_last_code_id(rs.getUInt64("last_code_id"));
  e.set_format(rs.getString("format"));
  e.set_actor(rs.getString("actor"));
  if (!rs.isNull("sha256")) e.set_sha256(rs.getString("sha256"));
  e.set_codes(rs.getUInt64("codes"));
  *e.mutable_create_time() = ToProtoTime(ParseSqlTime(rs.getString("create_time")));
  if (!rs.isNull("finish_time")) {
    *e.mutable_finish_time() = ToProtoTime(ParseSqlTime(rs.getString("finish_time")));
  }
  e.set_exports_used(rs.getInt("exports_used"));
  e.set_export_limit(rs.getInt("export_limit"));
  return e;
}

constexpr char kSelectExport[] =
    "SELECT e.*, b.export_limit, (SELECT COUNT(*) FROM exports x WHERE x.batch_id = e.batch_id) "
    "AS exports_used FROM exports e JOIN batches b ON b.batch_id = e.batch_id "
    "WHERE e.export_id = ? AND e.brand = ?";

}  // namespace

absl::StatusOr<youma::v1::ExportRecord> Issuer::BeginExport(
    const std::string& brand, const std::string& actor, const youma::v1::BeginExportRequest& req) {
  static const std::set<std::string> kFormats = {"csv", "txt", "jsonl", "png", "svg", "pack"};
  if (!kFormats.count(req.format())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown export format '", req.format(), "': use csv, txt, jsonl, png, svg or pack"));
  }
  YOUMA_ASSIGN_OR_RETURN(BatchInfo batch, BrandBatch(brand, req.batch_id()));
  uint64_t first = req.first_code_id(), last = req.last_code_id();
  YOUMA_RETURN_IF_ERROR(ResolveRange(batch, &first, &last));
  auto id = pool_->InTransaction([&](sql::Connection& c) -> absl::StatusOr<uint64_t> {
    // Lock the batch row so two exports cannot both take the last slot.
    auto lock = Prepare(c, "SELECT export_limit FROM batches WHERE batch_id = ? FOR UPDATE");
    lock->setUInt64(1, batch.batch_id);
    std::unique_ptr<sql::ResultSet> lrs(lock->executeQuery());
    if (!lrs->next()) return absl::NotFoundError("batch vanished");
    const int limit = lrs->getInt(1);
    auto count = Prepare(c, "SELECT COUNT(*) FROM exports WHERE batch_id = ?");
    count->setUInt64(1, batch.batch_id);
    std::unique_ptr<sql::ResultSet> crs(count->executeQuery());
    crs->next();
    const int used = crs->getInt(1);
    if (used >= limit) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "batch ", batch.batch_id, " has been exported ", used, " times, its limit; every export "
          "is a copy of printable codes, so more need an admin to raise the batch's limit"));
    }
    auto ins = Prepare(c,
                       "INSERT INTO exports (brand, batch_id, first_code_id, last_code_id, format, "
                       "actor, codes, create_time) VALUES (?,?,?,?,?,?,?,?)");
    ins->setString(1, brand);
    ins->setUInt64(2, batch.batch_id);
    ins->setUInt64(3, first);
    ins->setUInt64(4, last);
    ins->setString(5, req.format());
    ins->setString(6, actor);
    ins->setUInt64(7, 0);
    ins->setString(8, SqlTime(absl::Now()));
    ins->executeUpdate();
    std::unique_ptr<sql::Statement> id_st(c.createStatement());
    std::unique_ptr<sql::ResultSet> id_rs(id_st->executeQuery("SELECT LAST_INSERT_ID()"));
    id_rs->next();
    return id_rs->getUInt64(1);
  });
  if (!id.ok()) return id.status();
  if (metrics_ != nullptr) {
    if (prometheus::Counter* c = metrics_->Exports(req.format())) c->Increment();
  }
  return pool_->WithConnection([&](sql::Connection& c) -> absl::StatusOr<youma::v1::ExportRecord> {
    auto st = Prepare(c, kSelectExport);
    st->setUInt64(1, *id);
    st->setString(2, brand);
    std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
    if (!rs->next()) return absl::InternalError("export vanished after commit");
    return ExportFromRow(*rs);
  });
}

absl::StatusOr<youma::v1::ExportRecord> Issuer::FinishExport(
    const std::string& brand, const youma::v1::FinishExportRequest& req) {
  const std::string& digest = req.sha256();
  if (digest.size() != 64 || !std::all_of(digest.begin(), digest.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
      })) {
    return absl::InvalidArgumentError("sha256 must be 64 lower-case hex characters");
  }
  return pool_->InTransaction([&](sql::Connection& c) -> absl::StatusOr<youma::v1::ExportRecord> {
    auto upd = Prepare(c,
                       "UPDATE exports SET sha256 = ?, codes = ?, finish_time = ? WHERE "
                       "export_id = ? AND brand = ? AND finish_time IS NULL");
    upd->setString(1, digest);
    upd->setUInt64(2, req.codes());
    upd->setString(3, SqlTime(absl::Now()));
    upd->setUInt64(4, req.export_id());
    upd->setString(5, brand);
    const int changed = upd->executeUpdate();
    auto st = Prepare(c, kSelectExport);
    st->setUInt64(1, req.export_id());
    st->setString(2, brand);
    std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
    if (!rs->next()) return absl::NotFoundError(absl::StrCat("no export ", req.export_id()));
    if (changed == 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("export ", req.export_id(), " is already finished"));
    }
    return ExportFromRow(*rs);
  });
}

}  // namespace youma::issuer
