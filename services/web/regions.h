// GB/T 2260 region names (and, when the dataset has them, county centres)
// for the pages people read: "广东省广州市天河区" instead of "440106". The
// table is generated at build time from a maintained dataset
// (services/web/regions/generate.js), never typed by hand.
//
//   YOUMA_ASSIGN_OR_RETURN(Regions regions, Regions::Load("build/regions.tsv"));
//   regions.Name("440106");               // 广东省广州市天河区
//   regions.NearestCounty(23.13, 113.36); // "440106", when centres are known
//
// Immutable after Load: safe to share between threads.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace youma::web {

class Regions {
 public:
  // Lines "adcode<TAB>name<TAB>level[<TAB>lat<TAB>lng]". NOT_FOUND for a
  // missing file, INVALID_ARGUMENT for a malformed line (with its number).
  static absl::StatusOr<Regions> Load(const std::string& path);

  // The full name: province, city and county joined ("广东省广州市天河区");
  // the adcode itself when unknown.
  std::string Name(const std::string& adcode) const;
  // The province's adcode and name, for per-province views ("440000", "广东省").
  std::string ProvinceName(const std::string& adcode) const;
  // The county whose centre is nearest, when the dataset has centres and the
  // point is within 60 km of one; nullopt otherwise.
  std::optional<std::string> NearestCounty(double latitude, double longitude) const;
  size_t size() const { return names_.size(); }
  bool has_centres() const { return !centres_.empty(); }

 private:
  struct Centre {
    std::string adcode;
    double lat, lng;
  };
  std::map<std::string, std::string> names_;
  std::vector<Centre> centres_;
};

}  // namespace youma::web
