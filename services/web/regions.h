// GB/T 2260 region names for the pages people read: "广东省广州市天河区"
// instead of "440106". The table is generated at build time from a
// maintained dataset (npm's china-division; services/web/regions/generate.js),
// never typed by hand. It has no coordinates: a browser's GPS position is
// recorded as such, and the region comes from the edge's geo-IP (province
// level), as for any IP-sourced region.
//
//   YOUMA_ASSIGN_OR_RETURN(Regions regions, Regions::Load("build/web/regions.tsv"));
//   regions.Name("440106");               // 广东省广州市天河区
//
// Immutable after Load: safe to share between threads.
#pragma once

#include <map>
#include <string>

#include "absl/status/statusor.h"

namespace youma::web {

class Regions {
 public:
  // Lines "adcode<TAB>name<TAB>level". NOT_FOUND for a
  // missing file, INVALID_ARGUMENT for a malformed line (with its number).
  static absl::StatusOr<Regions> Load(const std::string& path);

  // The full name: province, city and county joined ("广东省广州市天河区");
  // the adcode itself when unknown.
  std::string Name(const std::string& adcode) const;
  // The province's adcode and name, for per-province views ("440000", "广东省").
  std::string ProvinceName(const std::string& adcode) const;
  size_t size() const { return names_.size(); }

 private:
  std::map<std::string, std::string> names_;
};

}  // namespace youma::web
