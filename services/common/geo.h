// Great-circle distance between two WGS-84 points, for the rules that compare
// where things happen (impossible travel, store locations).
#pragma once

#include <algorithm>
#include <cmath>

namespace youma::common {

// Apps send 0, 0 for a scan without a location (WeChat's location refused).
inline bool Located(double lat, double lng) { return lat != 0 || lng != 0; }

inline double DistanceKm(double lat1_deg, double lng1_deg, double lat2_deg, double lng2_deg) {
  constexpr double kPi = 3.14159265358979323846, kEarthKm = 6371.0;
  const double lat1 = lat1_deg * kPi / 180, lat2 = lat2_deg * kPi / 180;
  const double dlat = lat2 - lat1, dlng = (lng2_deg - lng1_deg) * kPi / 180;
  const double h = std::sin(dlat / 2) * std::sin(dlat / 2) +
                   std::cos(lat1) * std::cos(lat2) * std::sin(dlng / 2) * std::sin(dlng / 2);
  return 2 * kEarthKm * std::asin(std::min(1.0, std::sqrt(h)));
}

}  // namespace youma::common
