// Bearer tokens with roles, scoped to a brand, stored hashed.
//
// A token reads "ym_<16 hex id>_<43 base64url secret>". The database keeps the
// id and BLAKE2b-256 of the secret; the secret is shown once, at creation. The
// installation's bootstrap admin has brand "*" and may act on any brand; every
// other token acts on its own brand only.
//
//   TokenStore tokens(&pool);
//   YOUMA_ASSIGN_OR_RETURN(Principal who, tokens.Authenticate("Bearer ym_…"));
//   YOUMA_ASSIGN_OR_RETURN(std::string brand,
//                          Authorize(who, request.brand(), {Role::kFactory, Role::kAdmin}));
#pragma once

#include <initializer_list>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "services/storage/mysql.h"
#include "youma/v1/admin.pb.h"

namespace youma::common {

using Role = youma::v1::Role;
inline constexpr char kAllBrands[] = "*";

absl::string_view RoleName(Role role);
absl::StatusOr<Role> ParseRole(absl::string_view name);

struct Principal {
  std::string token_id;
  std::string brand;  // "*" for the installation admin
  Role role = youma::v1::ROLE_UNSPECIFIED;

  bool all_brands() const { return brand == kAllBrands; }
  // How this caller appears in audit records.
  std::string actor() const { return "token:" + token_id; }
};

// The brand a request acts on: `requested` or, when empty, the token's own.
// PERMISSION_DENIED for a role not in `allowed` or another brand's data;
// INVALID_ARGUMENT when an all-brands token names no brand.
absl::StatusOr<std::string> Authorize(const Principal& who, absl::string_view requested,
                                      std::initializer_list<Role> allowed);

// Brand names: what keysets, tokens and rows are keyed by.
absl::Status ValidateBrandName(absl::string_view brand);

class TokenStore {
 public:
  explicit TokenStore(storage::ConnectionPool* pool) : pool_(pool) {}

  struct Created {
    youma::v1::TokenInfo info;
    std::string token;  // the only time the secret exists outside its holder
  };
  absl::StatusOr<Created> Create(const std::string& brand, Role role,
                                 const std::string& description);
  // `header` is the authorization metadata ("Bearer ym_…") or the bare token.
  // UNAUTHENTICATED for anything but a live token. Results are cached for 30 s,
  // so a revocation takes effect within that time on every server.
  absl::StatusOr<Principal> Authenticate(absl::string_view header);
  // Authenticate from the cache alone, without a database round trip: nullopt
  // when the token has to be looked up (first use, or cached over 30 s ago).
  std::optional<absl::StatusOr<Principal>> AuthenticateCached(absl::string_view header);
  absl::StatusOr<std::vector<youma::v1::TokenInfo>> List(const std::string& brand);
  absl::StatusOr<youma::v1::TokenInfo> Get(const std::string& token_id);
  absl::StatusOr<youma::v1::TokenInfo> Revoke(const std::string& token_id);
  absl::StatusOr<bool> Empty();

 private:
  struct Presented {
    std::string id;
    std::string hash;  // of the secret
  };
  static absl::StatusOr<Presented> Parse(absl::string_view header);
  std::optional<absl::StatusOr<Principal>> FromCache(const Presented& token, absl::Time now);

  struct Cached {
    std::string secret_hash;
    Principal principal;
    absl::Time expires;
  };
  storage::ConnectionPool* pool_;
  std::mutex mu_;
  std::map<std::string, Cached> cache_;
};

}  // namespace youma::common
