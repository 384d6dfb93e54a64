#include "services/common/auth.h"

#include <sodium.h>

#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "services/common/status_macros.h"
#include "services/common/time_util.h"

namespace youma::common {
namespace {

constexpr size_t kTokenIdHex = 16;
constexpr size_t kSecretBytes = 32;

std::string HashSecret(absl::string_view secret) {
  std::string out(crypto_generichash_BYTES, '\0');
  crypto_generichash(reinterpret_cast<unsigned char*>(out.data()), out.size(),
                     reinterpret_cast<const unsigned char*>(secret.data()), secret.size(),
                     nullptr, 0);
  return out;
}

youma::v1::TokenInfo InfoFromRow(sql::ResultSet& rs) {
  youma::v1::TokenInfo info;
  info.set_token_id(rs.getString("token_id"));
  info.set_brand(rs.getString("brand"));
  info.set_role(static_cast<Role>(rs.getInt("role")));
  info.set_description(rs.getString("description"));
  *info.mutable_create_time() = ToProtoTime(ParseSqlTime(rs.getString("create_time")));
  info.set_revoked(rs.getInt("revoked") != 0);
  return info;
}

constexpr char kSelectToken[] =
    "SELECT token_id, brand, role, secret_hash, description, create_time, revoked "
    "FROM api_tokens";

}  // namespace

absl::string_view RoleName(Role role) {
  switch (role) {
    case youma::v1::ROLE_FACTORY: return "factory";
    case youma::v1::ROLE_SCANNER: return "scanner";
    case youma::v1::ROLE_AUDITOR: return "auditor";
    case youma::v1::ROLE_ADMIN: return "admin";
    default: return "unspecified";
  }
}

absl::StatusOr<Role> ParseRole(absl::string_view name) {
  const std::string lower = absl::AsciiStrToLower(name);
  for (Role r : {youma::v1::ROLE_FACTORY, youma::v1::ROLE_SCANNER, youma::v1::ROLE_AUDITOR,
                 youma::v1::ROLE_ADMIN}) {
    if (lower == RoleName(r)) return r;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown role '", name, "': use factory, scanner, auditor or admin"));
}

absl::Status ValidateBrandName(absl::string_view brand) {
  if (brand.empty() || brand.size() > 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("brand name must be 1 to 64 bytes; got ", brand.size()));
  }
  if (brand == kAllBrands) return absl::InvalidArgumentError("'*' is not a brand name");
  return absl::OkStatus();
}

absl::StatusOr<std::string> Authorize(const Principal& who, absl::string_view requested,
                                      std::initializer_list<Role> allowed) {
  bool role_ok = false;
  for (Role r : allowed) role_ok = role_ok || r == who.role;
  if (!role_ok) {
    std::string names;
    for (Role r : allowed) absl::StrAppend(&names, names.empty() ? "" : " or ", RoleName(r));
    return absl::PermissionDeniedError(absl::StrCat("this call needs a ", names,
                                                    " token; yours is ", RoleName(who.role)));
  }
  if (who.all_brands()) {
    if (requested.empty()) {
      return absl::InvalidArgumentError(
          "your token covers every brand: name the brand this call is for");
    }
    return std::string(requested);
  }
  if (!requested.empty() && requested != who.brand) {
    return absl::PermissionDeniedError(
        absl::StrCat("your token is for brand '", who.brand, "', not '", requested, "'"));
  }
  return who.brand;
}

absl::StatusOr<TokenStore::Created> TokenStore::Create(const std::string& brand, Role role,
                                                       const std::string& description) {
  if (brand != kAllBrands) YOUMA_RETURN_IF_ERROR(ValidateBrandName(brand));
  if (role == youma::v1::ROLE_UNSPECIFIED || !youma::v1::Role_IsValid(role)) {
    return absl::InvalidArgumentError("a token needs a role: factory, scanner, auditor or admin");
  }
  if (description.size() > 200) {
    return absl::InvalidArgumentError("token description is longer than 200 bytes");
  }
  unsigned char id_bytes[kTokenIdHex / 2];
  randombytes_buf(id_bytes, sizeof id_bytes);
  std::string id(kTokenIdHex + 1, '\0');
  sodium_bin2hex(id.data(), id.size(), id_bytes, sizeof id_bytes);
  id.resize(kTokenIdHex);
  unsigned char secret_bytes[kSecretBytes];
  randombytes_buf(secret_bytes, sizeof secret_bytes);
  std::string secret(sodium_base64_ENCODED_LEN(kSecretBytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING), '\0');
  sodium_bin2base64(secret.data(), secret.size(), secret_bytes, sizeof secret_bytes,
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  secret.resize(std::strlen(secret.c_str()));
  sodium_memzero(secret_bytes, sizeof secret_bytes);
  const absl::Time now = absl::Now();
  YOUMA_RETURN_IF_ERROR(pool_->WithConnection([&](sql::Connection& c) -> absl::Status {
    auto st = storage::Prepare(c,
                               "INSERT INTO api_tokens (token_id, brand, role, secret_hash, "
                               "description, create_time) VALUES (?, ?, ?, ?, ?, ?)");
    st->setString(1, id);
    st->setString(2, brand);
    st->setInt(3, role);
    st->setString(4, HashSecret(secret));
    st->setString(5, description);
    st->setString(6, SqlTime(now));
    st->executeUpdate();
    return absl::OkStatus();
  }));
  Created out;
  out.info.set_token_id(id);
  out.info.set_brand(brand);
  out.info.set_role(role);
  out.info.set_description(description);
  *out.info.mutable_create_time() = ToProtoTime(now);
  out.token = absl::StrCat("ym_", id, "_", secret);
  return out;
}

absl::StatusOr<TokenStore::Presented> TokenStore::Parse(absl::string_view header) {
  absl::string_view token = absl::StripAsciiWhitespace(header);
  if (!absl::ConsumePrefix(&token, "Bearer ")) absl::ConsumePrefix(&token, "bearer ");
  token = absl::StripAsciiWhitespace(token);
  if (token.empty()) {
    return absl::UnauthenticatedError(
        "no token: send metadata 'authorization: Bearer ym_…' (`youma tokens create` makes one)");
  }
  if (!absl::ConsumePrefix(&token, "ym_") || token.size() <= kTokenIdHex + 1 ||
      token[kTokenIdHex] != '_') {
    return absl::UnauthenticatedError("the token is not a youma token (ym_<id>_<secret>)");
  }
  return Presented{std::string(token.substr(0, kTokenIdHex)), HashSecret(token.substr(kTokenIdHex + 1))};
}

std::optional<absl::StatusOr<Principal>> TokenStore::FromCache(const Presented& token, absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = cache_.find(token.id);
  if (it == cache_.end() || it->second.expires <= now) return std::nullopt;
  if (sodium_memcmp(it->second.secret_hash.data(), token.hash.data(), token.hash.size()) != 0) {
    return absl::StatusOr<Principal>(absl::UnauthenticatedError("the token is not valid"));
  }
  return absl::StatusOr<Principal>(it->second.principal);
}

std::optional<absl::StatusOr<Principal>> TokenStore::AuthenticateCached(absl::string_view header) {
  absl::StatusOr<Presented> token = Parse(header);
  if (!token.ok()) return absl::StatusOr<Principal>(token.status());
  return FromCache(*token, absl::Now());
}

absl::StatusOr<Principal> TokenStore::Authenticate(absl::string_view header) {
  YOUMA_ASSIGN_OR_RETURN(const Presented token, Parse(header));
  const std::string& id = token.id;
  const std::string& hash = token.hash;
  const absl::Time now = absl::Now();
  if (auto cached = FromCache(token, now)) return *std::move(cached);
  absl::StatusOr<std::pair<std::string, Principal>> row =
      pool_->WithConnection([&](sql::Connection& c) -> absl::StatusOr<std::pair<std::string, Principal>> {
        auto st = storage::Prepare(c, std::string(kSelectToken) + " WHERE token_id = ?");
        st->setString(1, id);
        std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
        if (!rs->next() || rs->getInt("revoked") != 0) {
          return absl::UnauthenticatedError("the token is not valid (unknown or revoked)");
        }
        Principal p;
        p.token_id = id;
        p.brand = rs->getString("brand");
        p.role = static_cast<Role>(rs->getInt("role"));
        return std::make_pair(std::string(rs->getString("secret_hash")), p);
      });
  if (!row.ok()) return row.status();
  if (row->first.size() != hash.size() ||
      sodium_memcmp(row->first.data(), hash.data(), hash.size()) != 0) {
    return absl::UnauthenticatedError("the token is not valid");
  }
  std::lock_guard<std::mutex> lock(mu_);
  cache_[id] = Cached{row->first, row->second, now + absl::Seconds(30)};
  return row->second;
}

absl::StatusOr<std::vector<youma::v1::TokenInfo>> TokenStore::List(const std::string& brand) {
  return pool_->WithConnection(
      [&](sql::Connection& c) -> absl::StatusOr<std::vector<youma::v1::TokenInfo>> {
        auto st = storage::Prepare(
            c, std::string(kSelectToken) + " WHERE brand = ? ORDER BY create_time, token_id");
        st->setString(1, brand);
        std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
        std::vector<youma::v1::TokenInfo> out;
        while (rs->next()) out.push_back(InfoFromRow(*rs));
        return out;
      });
}

absl::StatusOr<youma::v1::TokenInfo> TokenStore::Get(const std::string& token_id) {
  return pool_->WithConnection([&](sql::Connection& c) -> absl::StatusOr<youma::v1::TokenInfo> {
    auto st = storage::Prepare(c, std::string(kSelectToken) + " WHERE token_id = ?");
    st->setString(1, token_id);
    std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
    if (!rs->next()) return absl::NotFoundError(absl::StrCat("no token ", token_id));
    return InfoFromRow(*rs);
  });
}

absl::StatusOr<youma::v1::TokenInfo> TokenStore::Revoke(const std::string& token_id) {
  YOUMA_RETURN_IF_ERROR(pool_->WithConnection([&](sql::Connection& c) -> absl::Status {
    auto st = storage::Prepare(c, "UPDATE api_tokens SET revoked = 1 WHERE token_id = ?");
    st->setString(1, token_id);
    st->executeUpdate();
    return absl::OkStatus();
  }));
  {
    std::lock_guard<std::mutex> lock(mu_);
    cache_.erase(token_id);
  }
  return Get(token_id);
}

absl::StatusOr<bool> TokenStore::Empty() {
  return pool_->WithConnection([&](sql::Connection& c) -> absl::StatusOr<bool> {
    std::unique_ptr<sql::Statement> st(c.createStatement());
    std::unique_ptr<sql::ResultSet> rs(st->executeQuery("SELECT COUNT(*) FROM api_tokens"));
    return !rs->next() || rs->getInt64(1) == 0;
  });
}

}  // namespace youma::common
