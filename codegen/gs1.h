// GS1 rules the gs1 scheme must obey: GTIN-14 check digits and the character
// set and length of AI 21 (serial number), from the GS1 General Specifications.
//
//   GtinCheckDigit("0690123456789");               // '2' -> "06901234567892"
//   YOUMA_ASSIGN_OR_RETURN(std::string gtin14, NormalizeGtin("6901234567892"));
#pragma once

#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"

namespace youma::codegen {

inline constexpr size_t kGs1SerialMaxLength = 20;  // AI 21: X..20

// The check digit for the first 13 digits of a GTIN-14 (or any digit string
// whose check digit follows it): weights 3,1,3,... from the right, mod 10.
char GtinCheckDigit(absl::string_view digits_without_check);

// Accepts GTIN-8, -12, -13 or -14, pads it to 14 digits and checks the check
// digit. INVALID_ARGUMENT says which rule failed and the expected digit.
absl::StatusOr<std::string> NormalizeGtin(absl::string_view gtin);

// GS1 AI encodable character set 82 (General Specifications, figure 7.11-1).
bool IsGs1Cset82(char c);

// AI 21 rule: 1 to 20 characters of set 82.
absl::Status ValidateAi21Serial(absl::string_view serial);

}  // namespace youma::codegen
