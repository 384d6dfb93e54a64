#include "services/web/regions.h"

#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace youma::web {

absl::StatusOr<Regions> Regions::Load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("no region table at ", path, " (built by scripts/build.sh)"));
  Regions out;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.empty()) continue;
    std::vector<std::string> f = absl::StrSplit(line, '\t');
    if (f.size() < 3 || f[0].size() != 6) {
      return absl::InvalidArgumentError(absl::StrCat(path, ":", n, ": expected adcode, name, level"));
    }
    out.names_[f[0]] = f[1];
  }
  if (out.names_.empty()) return absl::InvalidArgumentError(absl::StrCat(path, " holds no regions"));
  return out;
}

std::string Regions::Name(const std::string& adcode) const {
  if (adcode.size() != 6) return adcode;
  const std::string province = adcode.substr(0, 2) + "0000", city = adcode.substr(0, 4) + "00";
  std::string out;
  for (const std::string& code : {province, city, adcode}) {
    auto it = names_.find(code);
    if (it == names_.end()) continue;
    if (out.find(it->second) == std::string::npos) absl::StrAppend(&out, it->second);
  }
  return out.empty() ? adcode : out;
}

std::string Regions::ProvinceName(const std::string& adcode) const {
  if (adcode.size() < 2) return adcode;
  auto it = names_.find(adcode.substr(0, 2) + "0000");
  return it == names_.end() ? adcode.substr(0, 2) + "0000" : it->second;
}

}  // namespace youma::web
