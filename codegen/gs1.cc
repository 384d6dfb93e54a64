#include "codegen/gs1.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace youma::codegen {

char GtinCheckDigit(absl::string_view digits) {
  int sum = 0;
  int weight = 3;
  for (size_t i = digits.size(); i-- > 0;) {
    sum += (digits[i] - '0') * weight;
    weight = 4 - weight;
  }
  return static_cast<char>('0' + (10 - sum % 10) % 10);
}

absl::StatusOr<std::string> NormalizeGtin(absl::string_view gtin) {
  if (gtin.size() != 8 && gtin.size() != 12 && gtin.size() != 13 && gtin.size() != 14) {
    return absl::InvalidArgumentError(absl::StrCat(
        "GTIN '", gtin, "' has ", gtin.size(), " digits; a GTIN has 8, 12, 13 or 14"));
  }
  for (char c : gtin) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) {
      return absl::InvalidArgumentError(
          absl::StrCat("GTIN '", gtin, "' must be digits only"));
    }
  }
  std::string padded(14 - gtin.size(), '0');
  padded.append(gtin.data(), gtin.size());
  const char expected = GtinCheckDigit(absl::string_view(padded).substr(0, 13));
  if (padded[13] != expected) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "GTIN '%s' has check digit %c, expected %c", gtin, padded[13], expected));
  }
  return padded;
}

bool IsGs1Cset82(char c) {
  if (absl::ascii_isalnum(static_cast<unsigned char>(c))) return true;
  return absl::string_view("!\"%&'()*+,-./:;<=>?_").find(c) != absl::string_view::npos;
}

absl::Status ValidateAi21Serial(absl::string_view serial) {
  if (serial.empty() || serial.size() > kGs1SerialMaxLength) {
    return absl::InvalidArgumentError(absl::StrCat(
        "AI 21 serial has ", serial.size(), " characters; GS1 allows 1 to 20"));
  }
  for (size_t i = 0; i < serial.size(); ++i) {
    if (!IsGs1Cset82(serial[i])) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "AI 21 serial has '%c' at position %d, outside GS1 character set 82",
          serial[i], i));
    }
  }
  return absl::OkStatus();
}

}  // namespace youma::codegen
