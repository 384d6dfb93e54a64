// services/common/event_log: one JSON object per line, whole lines only.
#include "services/common/event_log.h"

#include <doctest/doctest.h>

#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_split.h"

namespace youma::common {
namespace {

TEST_CASE("a log line is a JSON object with time, level, event and the fields, in that order") {
  std::ostringstream out;
  EventLog log(&out, [] { return absl::FromUnixMicros(1'796'558'400'123'456); });
  log.Warn("scan_group_failed", {{"scans", 23}, {"message", "line one\n\"quoted\""}, {"event", "theirs"}});
  log.Info("serve_stopped");
  const std::vector<std::string> lines = absl::StrSplit(out.str(), '\n', absl::SkipEmpty());
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].rfind(R"({"time":"2026-12-06T12:00:00.123456Z","level":"warn","event":"scan_group_failed",)", 0) == 0);
  const nlohmann::json first = nlohmann::json::parse(lines[0]);
  CHECK(first["scans"] == 23);
  CHECK(first["message"] == "line one\n\"quoted\"");
  CHECK(first["event"] == "scan_group_failed");
  CHECK(first["field_event"] == "theirs");
  CHECK(nlohmann::json::parse(lines[1]) ==
        nlohmann::json{{"time", "2026-12-06T12:00:00.123456Z"}, {"level", "info"}, {"event", "serve_stopped"}});
}

TEST_CASE("bytes that are not UTF-8 are replaced, not thrown on, and lines from many threads stay whole") {
  std::ostringstream out;
  EventLog log(&out);
  log.Error("scan_refused", {{"client_scan_id", std::string("id-\xff\xfe")}});
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&log, t] {
      for (int i = 0; i < 200; ++i) log.Info("tick", {{"thread", t}, {"i", i}, {"pad", std::string(200, 'x')}});
    });
  }
  for (auto& th : threads) th.join();
  const std::vector<std::string> lines = absl::StrSplit(out.str(), '\n', absl::SkipEmpty());
  REQUIRE(lines.size() == 1 + 8 * 200);
  CHECK(nlohmann::json::parse(lines[0])["client_scan_id"] == "id-\xEF\xBF\xBD\xEF\xBF\xBD");
  std::set<std::pair<int, int>> seen;
  for (size_t k = 1; k < lines.size(); ++k) {
    const nlohmann::json j = nlohmann::json::parse(lines[k]);
    seen.insert({j["thread"].get<int>(), j["i"].get<int>()});
  }
  CHECK(seen.size() == 8 * 200);
}

}  // namespace
}  // namespace youma::common
