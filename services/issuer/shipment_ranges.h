// Shipment ranges (the code ids a shipment carried, its record) are stored in
// pieces of at most kShipmentRangeSpan codes. Finding every shipment that
// ever carried code c (a code's history) then reads a bounded stretch of the
// first_code_id index, first_code_id BETWEEN c - (span - 1) AND c; an
// unbounded range would make it read every range below c. Scans, which need
// only the shipment carrying a code now, read shipment_territories instead
// (services/storage/shipment_territories.h).
//
//   for (auto [first, last] : SplitShipmentRanges(ranges)) insert(first, last);
//   sql += ShipmentRangeCovers("r", code_id);  // "(r.first_code_id BETWEEN … )"
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace youma::issuer {

inline constexpr uint64_t kShipmentRangeSpan = 65536;

// `ranges` (inclusive first, last) cut into pieces of at most the span.
inline std::vector<std::pair<uint64_t, uint64_t>> SplitShipmentRanges(
    const std::vector<std::pair<uint64_t, uint64_t>>& ranges) {
  std::vector<std::pair<uint64_t, uint64_t>> out;
  for (auto [first, last] : ranges) {
    while (last - first >= kShipmentRangeSpan) {
      out.emplace_back(first, first + kShipmentRangeSpan - 1);
      first += kShipmentRangeSpan;
    }
    out.emplace_back(first, last);
  }
  return out;
}

// An SQL condition: the shipment_ranges row named `alias` covers `code_id`.
inline std::string ShipmentRangeCovers(absl::string_view alias, uint64_t code_id) {
  const uint64_t low = code_id >= kShipmentRangeSpan - 1 ? code_id - (kShipmentRangeSpan - 1) : 0;
  return absl::StrCat("(", alias, ".first_code_id BETWEEN ", low, " AND ", code_id, " AND ", alias,
                      ".last_code_id >= ", code_id, ")");
}

}  // namespace youma::issuer
