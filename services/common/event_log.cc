#include "services/common/event_log.h"

#include <string>

namespace youma::common {

void EventLog::Write(std::string_view level, std::string_view event, nlohmann::json fields) {
  nlohmann::ordered_json line;
  line["time"] = absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", now_(), absl::UTCTimeZone());
  line["level"] = level;
  line["event"] = event;
  if (fields.is_object()) {
    for (auto& [key, value] : fields.items()) {
      // The three above are the line's own: a field of the same name is kept beside them.
      line[key == "time" || key == "level" || key == "event" ? "field_" + key : key] = value;
    }
  }
  // Invalid UTF-8 (a client's bytes in a message) is replaced, not thrown on.
  const std::string text = line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
  std::lock_guard<std::mutex> lock(mu_);
  sink_(text);
}

}  // namespace youma::common
