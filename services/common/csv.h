// CSV fields for the files brands open in spreadsheets: quoted when they hold
// a separator, a quote or a line break, and defused when they would start a
// formula (a user-controlled "=HYPERLINK(…)" stays text).
#pragma once

#include <string>

namespace youma::common {

inline std::string CsvField(const std::string& text) {
  std::string value = text;
  if (!value.empty() && (value[0] == '=' || value[0] == '+' || value[0] == '-' || value[0] == '@')) {
    value.insert(value.begin(), '\'');
  }
  if (value.find_first_of(",\"\r\n") == std::string::npos) return value;
  std::string out = "\"";
  for (char c : value) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

}  // namespace youma::common
