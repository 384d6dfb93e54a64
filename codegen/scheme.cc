#include "codegen/scheme.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace youma::codegen {

absl::string_view SchemeName(Scheme scheme) {
  switch (scheme) {
    case Scheme::kCompact: return "compact";
    case Scheme::kSigned: return "signed";
    case Scheme::kGs1: return "gs1";
  }
  return "unknown";
}

absl::StatusOr<Scheme> ParseScheme(absl::string_view name) {
  const std::string lower = absl::AsciiStrToLower(name);
  for (Scheme s : kAllSchemes) {
    if (lower == SchemeName(s)) return s;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown scheme '", name, "': use compact, signed or gs1"));
}

absl::string_view KeyStatusName(KeyStatus status) {
  switch (status) {
    case KeyStatus::kEnabled: return "ENABLED";
    case KeyStatus::kDisabled: return "DISABLED";
    case KeyStatus::kDestroyed: return "DESTROYED";
  }
  return "UNKNOWN";
}

}  // namespace youma::codegen
