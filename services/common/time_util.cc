#include "services/common/time_util.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "services/common/status_macros.h"

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

absl::StatusOr<absl::Time> RequestTime(const google::protobuf::Timestamp& ts, absl::string_view field) {
  // 9999-12-31 23:59:59 UTC, the last second DATETIME holds.
  constexpr int64_t kLastSecond = 253402300799;
  if (ts.nanos() < 0 || ts.nanos() > 999'999'999) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " has nanos ", ts.nanos(), ": a Timestamp's nanos are 0 to 999,999,999"));
  }
  if (ts.seconds() < 0 || ts.seconds() > kLastSecond) {
    return absl::InvalidArgumentError(absl::StrCat(field, " is ", ts.seconds(),
                                                   " seconds from 1970: times must fall between "
                                                   "1970-01-01 and 9999-12-31 UTC"));
  }
  return FromProtoTime(ts);
}

absl::StatusOr<absl::Time> RequestTimeOr(bool given, const google::protobuf::Timestamp& ts, absl::string_view field,
                                         absl::Time fallback) {
  if (!given) return fallback;
  return RequestTime(ts, field);
}

absl::StatusOr<absl::Time> ClientTime(bool given, const google::protobuf::Timestamp& ts, absl::string_view field,
                                      absl::Time now) {
  YOUMA_ASSIGN_OR_RETURN(const absl::Time t, RequestTimeOr(given, ts, field, now));
  // Formatted only for an error: this runs on every scan.
  auto sent = [&] { return absl::FormatTime(absl::RFC3339_sec, t, absl::UTCTimeZone()); };
  if (t > now + kMaxClockSkew) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, " ", sent(), " is ", absl::FormatDuration(absl::Trunc(t - now, absl::Seconds(1))),
        " ahead of the server's clock (at most ", absl::FormatDuration(kMaxClockSkew),
        " allowed): send when it happened, or leave it unset"));
  }
  if (t < now - kMaxClientDelay) {
    return absl::InvalidArgumentError(absl::StrCat(field, " ", sent(), " is more than ", kMaxClientDelay / absl::Hours(24),
                                                   " days ago: it is recorded within that time of happening"));
  }
  // Nothing happens after it reaches the server: a clock a little ahead
  // says when it arrived, so no time ahead of `now` decides a verdict.
  return std::min(t, now);
}

namespace {

// Writes `value`'s last `digits` digits into `out`, ending at index `end`.
void PutDigits(char* out, size_t end, int64_t value, int digits) {
  for (int i = 0; i < digits; ++i, value /= 10) out[end - i] = static_cast<char>('0' + value % 10);
}

}  // namespace

// The scan path formats and parses several times per scan: digits by hand,
// absl's general formatter only for years DATETIME cannot hold anyway.
SqlTimeText::SqlTimeText(absl::Time t) {
  const absl::TimeZone utc = absl::UTCTimeZone();
  const absl::CivilSecond s = absl::ToCivilSecond(t, utc);
  if (s.year() < 0 || s.year() > 9999) {
    const std::string text = absl::FormatTime("%Y-%m-%d %H:%M:%E6S", t, utc);
    size_ = std::min(text.size(), sizeof(text_));
    std::memcpy(text_, text.data(), size_);
    return;
  }
  const int64_t micros = absl::ToInt64Microseconds(t - absl::FromCivil(s, utc));
  constexpr absl::string_view kShape = "0000-00-00 00:00:00.000000";
  std::memcpy(text_, kShape.data(), kShape.size());
  size_ = kShape.size();
  PutDigits(text_, 3, s.year(), 4);
  PutDigits(text_, 6, s.month(), 2);
  PutDigits(text_, 9, s.day(), 2);
  PutDigits(text_, 12, s.hour(), 2);
  PutDigits(text_, 15, s.minute(), 2);
  PutDigits(text_, 18, s.second(), 2);
  PutDigits(text_, 25, micros, 6);
}

std::string SqlTime(absl::Time t) { return std::string(SqlTimeText(t).view()); }

absl::Time ParseSqlTime(const std::string& text) {
  // "YYYY-MM-DD HH:MM:SS" with up to six digits of fraction, as MariaDB sends.
  auto digits = [&text](size_t at, size_t n, int64_t* v) {
    if (at + n > text.size()) return false;
    *v = 0;
    for (size_t i = at; i < at + n; ++i) {
      if (text[i] < '0' || text[i] > '9') return false;
      *v = *v * 10 + (text[i] - '0');
    }
    return true;
  };
  int64_t y, mo, d, h, mi, sec, frac = 0;
  const bool plain = text.size() >= 19 && text[4] == '-' && text[7] == '-' && text[10] == ' ' && text[13] == ':' &&
                     text[16] == ':' && digits(0, 4, &y) && digits(5, 2, &mo) && digits(8, 2, &d) &&
                     digits(11, 2, &h) && digits(14, 2, &mi) && digits(17, 2, &sec);
  const size_t frac_digits = text.size() > 20 ? text.size() - 20 : 0;
  if (plain && (text.size() == 19 || (text[19] == '.' && frac_digits <= 6 && digits(20, frac_digits, &frac)))) {
    for (size_t i = frac_digits; i < 6; ++i) frac *= 10;
    const absl::CivilSecond s(y, mo, d, h, mi, sec);
    // CivilSecond normalizes 2026-02-30 into March: such text is not a time.
    if (s.year() == y && s.month() == mo && s.day() == d && s.hour() == h && s.minute() == mi && s.second() == sec) {
      return absl::FromCivil(s, absl::UTCTimeZone()) + absl::Microseconds(frac);
    }
  }
  absl::Time t;
  std::string err;
  if (absl::ParseTime("%Y-%m-%d %H:%M:%E*S", text, absl::UTCTimeZone(), &t, &err)) return t;
  return absl::UnixEpoch();
}

std::string ChinaDay(absl::Time t) {
  const absl::CivilDay day = absl::ToCivilDay(t, ChinaTime());
  if (day.year() < 0 || day.year() > 9999) return absl::FormatTime("%Y-%m-%d", t, ChinaTime());
  std::string out = "0000-00-00";
  PutDigits(out.data(), 3, day.year(), 4);
  PutDigits(out.data(), 6, day.month(), 2);
  PutDigits(out.data(), 9, day.day(), 2);
  return out;
}

}  // namespace youma::common
