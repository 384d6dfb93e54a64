// Structured logs: one JSON object per line, for the operator's log pipeline
// (on Kubernetes, stderr). Each line has the time (UTC, RFC 3339), a level,
// the event's name and its fields:
//
//   common::EventLog log(&std::cerr);
//   log.Warn("scan_group_failed", {{"scans", 23}, {"code", "UNAVAILABLE"}, {"message", "..."}});
//   // {"time":"2026-12-06T12:00:00.123456Z","level":"warn","event":"scan_group_failed","scans":23,...}
//
// Thread-safe: lines from many threads never interleave. Components take an
// `EventLog*` and log nothing when it is null (tests, benchmarks).
#pragma once

#include <functional>
#include <mutex>
#include <ostream>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace youma::common {

class EventLog {
 public:
  // Each line, with its newline, goes to `sink`, one call at a time.
  using Sink = std::function<void(const std::string& line)>;
  // Writes to `out`, which must outlive this; `now` stamps the lines.
  explicit EventLog(std::ostream* out, std::function<absl::Time()> now = [] { return absl::Now(); })
      : EventLog([out](const std::string& line) { *out << line << std::flush; }, std::move(now)) {}
  explicit EventLog(Sink sink, std::function<absl::Time()> now = [] { return absl::Now(); })
      : sink_(std::move(sink)), now_(std::move(now)) {}

  void Info(std::string_view event, nlohmann::json fields = nlohmann::json::object()) {
    Write("info", event, std::move(fields));
  }
  void Warn(std::string_view event, nlohmann::json fields = nlohmann::json::object()) {
    Write("warn", event, std::move(fields));
  }
  void Error(std::string_view event, nlohmann::json fields = nlohmann::json::object()) {
    Write("error", event, std::move(fields));
  }

 private:
  void Write(std::string_view level, std::string_view event, nlohmann::json fields);

  Sink sink_;
  std::function<absl::Time()> now_;
  std::mutex mu_;
};

}  // namespace youma::common
