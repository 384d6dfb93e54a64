// Times between absl, protobuf Timestamps and MySQL DATETIME(6) text (UTC).
#pragma once

#include <google/protobuf/timestamp.pb.h>

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace youma::common {

google::protobuf::Timestamp ToProtoTime(absl::Time t);
absl::Time FromProtoTime(const google::protobuf::Timestamp& ts);
// A time a caller sent, checked before anything is written with it: a valid
// Timestamp (nanos in [0, 1e9)) between 1970-01-01 and 9999-12-31 UTC, what a
// DATETIME column holds. INVALID_ARGUMENT names `field` and the time.
absl::StatusOr<absl::Time> RequestTime(const google::protobuf::Timestamp& ts, absl::string_view field);
// The same for an optional field: `fallback` when the caller did not send it.
absl::StatusOr<absl::Time> RequestTimeOr(bool given, const google::protobuf::Timestamp& ts, absl::string_view field,
                                         absl::Time fallback);
// When something happened on a client (a scan, a store's registration), as
// the client says: at most kMaxClockSkew ahead of the server's clock `now`
// (phones' clocks drift; such a time is taken as `now`) and kMaxClientDelay
// behind it (an inspection app that was offline brings its scans in late);
// `now` when not sent. Else INVALID_ARGUMENT naming `field`, by how much and
// what to send instead. What counts money goes by the server's clock, not by
// this time.
inline constexpr absl::Duration kMaxClockSkew = absl::Minutes(5);
inline constexpr absl::Duration kMaxClientDelay = absl::Hours(24 * 30);
absl::StatusOr<absl::Time> ClientTime(bool given, const google::protobuf::Timestamp& ts, absl::string_view field,
                                      absl::Time now);
// The start of the hour (UTC, as China time: whole hours apart) holding `t`.
inline absl::Time HourStart(absl::Time t) {
  return absl::UnixEpoch() + absl::Floor(t - absl::UnixEpoch(), absl::Hours(1));
}
// "2026-11-24 12:00:00.123456", UTC.
std::string SqlTime(absl::Time t);
// The same text in a buffer of its own, for statements built scan by scan
// (no allocation):  absl::StrAppend(&sql, "'", SqlTimeText(t).view(), "'");
class SqlTimeText {
 public:
  explicit SqlTimeText(absl::Time t);
  absl::string_view view() const { return absl::string_view(text_, size_); }

 private:
  char text_[48];
  size_t size_ = 0;
};
absl::Time ParseSqlTime(const std::string& text);

// China Standard Time (UTC+8, no daylight saving): the day rewards, limits
// and leaderboards count in.
inline absl::TimeZone ChinaTime() {
  static const absl::TimeZone zone = absl::FixedTimeZone(8 * 3600);  // made once: making one allocates
  return zone;
}
// "2026-11-24", the China day of `t`.
std::string ChinaDay(absl::Time t);

}  // namespace youma::common
