#include "services/common/time_util.h"

namespace youma::common {

google::protobuf::Timestamp ToProtoTime(absl::Time t) {
  google::protobuf::Timestamp ts;
  const int64_t micros = absl::ToUnixMicros(t);
  ts.set_seconds(micros / 1000000);
  ts.set_nanos(static_cast<int32_t>((micros % 1000000) * 1000));
  return ts;
}

absl::Time FromProtoTime(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

std::string SqlTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%E6S", t, absl::UTCTimeZone());
}

absl::Time ParseSqlTime(const std::string& text) {
  absl::Time t;
  std::string err;
  if (absl::ParseTime("%Y-%m-%d %H:%M:%E*S", text, absl::UTCTimeZone(), &t, &err)) return t;
  return absl::UnixEpoch();
}

std::string ChinaDay(absl::Time t) { return absl::FormatTime("%Y-%m-%d", t, ChinaTime()); }

}  // namespace youma::common
