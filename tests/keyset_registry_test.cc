// The keyset registry: brands found in a folder, keys that change on disk
// reaching the server without a restart, and a damaged file not costing the
// keys already loaded.
#include "services/common/keyset_registry.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "absl/time/clock.h"
#include "services/common/files.h"
#include "tests/test_util.h"

namespace youma::common {
namespace {

using codegen::Keyset;
using codegen::Scheme;

struct Folder {
  std::string dir;
  codegen::MasterKey master = codegen::NewMasterKey();
  Folder() {
    char tmpl[] = "/tmp/youma-registry-XXXXXX";
    dir = mkdtemp(tmpl);
  }
  ~Folder() { std::filesystem::remove_all(dir); }
  std::string Path(const std::string& brand) const { return dir + "/" + brand + ".keyset"; }
};

TEST_CASE("a rotated key reaches the registry at its next refresh, without a restart") {
  Folder f;
  ASSIGN_OR_FAIL(Keyset ks, Keyset::Create({.brand = "moutai"}, absl::Now()));
  REQUIRE_OK(SaveKeyset(f.Path("moutai"), ks, f.master));
  KeysetRegistry now(f.dir, f.master, absl::ZeroDuration());
  KeysetRegistry later(f.dir, f.master, absl::Hours(1));
  REQUIRE_OK(now.Load());
  REQUIRE_OK(later.Load());
  const size_t keys = ks.keys().size();
  ASSIGN_OR_FAIL(uint32_t rotated, ks.Rotate(Scheme::kCompact, absl::Now()));
  REQUIRE_OK(SaveKeyset(f.Path("moutai"), ks, f.master));

  ASSIGN_OR_FAIL(auto fresh, now.Get("moutai"));
  CHECK(fresh->keyset.keys().size() == keys + 1);
  ASSIGN_OR_FAIL(codegen::CodeMinter minter, fresh->MinterFor(rotated, ""));
  ASSIGN_OR_FAIL(std::string url, minter.Url(42));
  CHECK(fresh->verifier.Verify(url).verdict == codegen::Verdict::kGenuine);
  ASSIGN_OR_FAIL(auto old_keys, later.Get("moutai"));
  CHECK(old_keys->verifier.Verify(url).verdict == codegen::Verdict::kCounterfeit);
  // Within its refresh interval the other registry still has the old keyset.
  ASSIGN_OR_FAIL(auto stale, later.Get("moutai"));
  CHECK(stale->keyset.keys().size() == keys);
}

TEST_CASE("a keyset that cannot be read at a refresh keeps the keys already loaded") {
  Folder f;
  ASSIGN_OR_FAIL(Keyset ks, Keyset::Create({.brand = "fenjiu"}, absl::Now()));
  REQUIRE_OK(SaveKeyset(f.Path("fenjiu"), ks, f.master));
  KeysetRegistry registry(f.dir, f.master, absl::ZeroDuration());
  REQUIRE_OK(registry.Load());
  {
    std::ofstream damaged(f.Path("fenjiu"), std::ios::binary | std::ios::trunc);
    damaged << "YOUMAKS1 not a keyset";
  }
  ASSIGN_OR_FAIL(auto keys, registry.Get("fenjiu"));
  CHECK(keys->keyset.brand() == "fenjiu");
  CHECK(keys->keyset.keys().size() == ks.keys().size());
  CHECK(registry.Get("nobody").status().code() == absl::StatusCode::kNotFound);
}

TEST_CASE("a refresh that fails is logged once and keeps the keys; a rotation, a new brand and a removed one are logged") {
  Folder f;
  std::vector<nlohmann::json> lines;
  EventLog log([&](const std::string& line) { lines.push_back(nlohmann::json::parse(line)); });
  ASSIGN_OR_FAIL(Keyset ks, Keyset::Create({.brand = "fenjiu"}, absl::Now()));
  REQUIRE_OK(SaveKeyset(f.Path("fenjiu"), ks, f.master));
  KeysetRegistry registry(f.dir, f.master, absl::ZeroDuration(), &log);
  REQUIRE_OK(registry.Load());
  REQUIRE_OK(registry.Get("fenjiu").status());
  CHECK(lines.empty());  // nothing changed

  {
    std::ofstream damaged(f.Path("fenjiu"), std::ios::binary | std::ios::trunc);
    damaged << "YOUMAKS1 not a keyset";
  }
  for (int i = 0; i < 3; ++i) REQUIRE_OK(registry.Get("fenjiu").status());
  REQUIRE(lines.size() == 1);  // the same failure, logged once
  CHECK(lines[0]["level"] == "warn");
  CHECK(lines[0]["event"] == "keysets_not_reloaded");
  CHECK(lines[0]["kept_brands"] == nlohmann::json::array({"fenjiu"}));
  CHECK(lines[0]["message"].get<std::string>().find("fenjiu.keyset") != std::string::npos);

  // Mended with a rotated key, and a second brand added.
  ASSIGN_OR_FAIL(uint32_t rotated, ks.Rotate(Scheme::kCompact, absl::Now()));
  REQUIRE_OK(SaveKeyset(f.Path("fenjiu"), ks, f.master));
  ASSIGN_OR_FAIL(Keyset other, Keyset::Create({.brand = "langjiu"}, absl::Now()));
  REQUIRE_OK(SaveKeyset(f.Path("langjiu"), other, f.master));
  REQUIRE_OK(registry.Get("fenjiu").status());
  REQUIRE(lines.size() == 4);
  CHECK(lines[1]["event"] == "keysets_reloaded");
  CHECK(lines[1]["brands"] == 2);
  CHECK(lines[2]["event"] == "keyset_changed");
  CHECK(lines[2]["brand"] == "fenjiu");
  CHECK(lines[2]["new_brand"] == false);
  int primaries_rotated = 0;
  for (const nlohmann::json& k : lines[2]["keys"]) {
    primaries_rotated += k["key_id"] == rotated && k["primary"] == true && k["scheme"] == "compact";
  }
  CHECK(primaries_rotated == 1);
  CHECK(lines[2]["keys"].size() == ks.keys().size());
  CHECK(lines[3]["event"] == "keyset_changed");
  CHECK(lines[3]["brand"] == "langjiu");
  CHECK(lines[3]["new_brand"] == true);

  std::filesystem::remove(f.Path("langjiu"));
  REQUIRE_OK(registry.Get("fenjiu").status());
  REQUIRE(lines.size() == 5);
  CHECK(lines[4]["event"] == "keyset_removed");
  CHECK(lines[4]["brand"] == "langjiu");
  CHECK(registry.Get("langjiu").status().code() == absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace youma::common
