#include "util/time_format.h"

#include <charconv>
#include <cstdio>

namespace reel {
namespace {

// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void civil_from_days(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = static_cast<int64_t>(yoe) + era * 400 + (*m <= 2);
}

// Reads exactly `width` digits at text[*pos].
bool read_digits(std::string_view text, size_t* pos, size_t width, unsigned* out) {
  if (*pos + width > text.size()) return false;
  unsigned v = 0;
  for (size_t i = 0; i < width; ++i) {
    char c = text[*pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  *pos += width;
  *out = v;
  return true;
}

bool expect(std::string_view text, size_t* pos, char c) {
  if (*pos >= text.size() || text[*pos] != c) return false;
  ++*pos;
  return true;
}

// Fraction after a '.': up to 9 digits -> ns.
bool read_fraction_ns(std::string_view text, size_t* pos, uint64_t* ns) {
  uint64_t v = 0;
  size_t digits = 0;
  while (*pos < text.size() && text[*pos] >= '0' && text[*pos] <= '9') {
    if (digits == 9) return false;
    v = v * 10 + static_cast<uint64_t>(text[*pos] - '0');
    ++digits;
    ++*pos;
  }
  if (digits == 0) return false;
  for (size_t i = digits; i < 9; ++i) v *= 10;
  *ns = v;
  return true;
}

std::optional<uint64_t> parse_unix_seconds(std::string_view text) {
  size_t pos = 0;
  uint64_t secs = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), secs);
  if (ec != std::errc() || p == text.data()) return std::nullopt;
  pos = static_cast<size_t>(p - text.data());
  uint64_t frac = 0;
  if (pos < text.size()) {
    if (!expect(text, &pos, '.') || !read_fraction_ns(text, &pos, &frac)) return std::nullopt;
  }
  if (pos != text.size()) return std::nullopt;
  if (secs > 18'000'000'000ull) return std::nullopt;  // past year 2540: surely a typo
  return secs * 1'000'000'000ull + frac;
}

}  // namespace

std::optional<uint64_t> parse_u64(std::string_view text) {
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || text.empty()) return std::nullopt;
  return v;
}

std::optional<uint64_t> parse_time_ns(std::string_view text) {
  if (!text.empty() && text[0] == '@') return parse_unix_seconds(text.substr(1));
  size_t pos = 0;
  unsigned year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!read_digits(text, &pos, 4, &year) || !expect(text, &pos, '-') ||
      !read_digits(text, &pos, 2, &month) || !expect(text, &pos, '-') ||
      !read_digits(text, &pos, 2, &day)) {
    return std::nullopt;
  }
  if (year < 1970 || month < 1 || month > 12 || day < 1 || day > 31) return std::nullopt;
  uint64_t frac = 0;
  int64_t offset_s = 0;
  if (pos < text.size()) {
    if (text[pos] != 'T' && text[pos] != 't' && text[pos] != ' ') return std::nullopt;
    ++pos;
    if (!read_digits(text, &pos, 2, &hour) || !expect(text, &pos, ':') ||
        !read_digits(text, &pos, 2, &minute)) {
      return std::nullopt;
    }
    if (pos < text.size() && text[pos] == ':') {
      ++pos;
      if (!read_digits(text, &pos, 2, &second)) return std::nullopt;
      if (pos < text.size() && (text[pos] == '.' || text[pos] == ',')) {
        ++pos;
        if (!read_fraction_ns(text, &pos, &frac)) return std::nullopt;
      }
    }
    if (hour > 23 || minute > 59 || second > 60) return std::nullopt;
    if (pos == text.size()) return std::nullopt;  // a time of day needs a zone: Z or +hh:mm
    if (text[pos] == 'Z' || text[pos] == 'z') {
      ++pos;
    } else if (text[pos] == '+' || text[pos] == '-') {
      int sign = text[pos] == '-' ? -1 : 1;
      ++pos;
      unsigned oh, om;
      if (!read_digits(text, &pos, 2, &oh)) return std::nullopt;
      if (pos < text.size() && text[pos] == ':') ++pos;
      if (!read_digits(text, &pos, 2, &om) || oh > 23 || om > 59) return std::nullopt;
      offset_s = sign * static_cast<int64_t>(oh * 3600 + om * 60);
    } else {
      return std::nullopt;
    }
  }
  if (pos != text.size()) return std::nullopt;
  int64_t days = days_from_civil(year, month, day);
  unsigned y2, m2, d2;
  int64_t yy;
  civil_from_days(days, &yy, &m2, &d2);
  y2 = static_cast<unsigned>(yy);
  if (y2 != year || m2 != month || d2 != day) return std::nullopt;  // e.g. 2026-02-30
  int64_t secs = days * 86400 + hour * 3600 + minute * 60 + second - offset_s;
  if (secs < 0) return std::nullopt;
  return static_cast<uint64_t>(secs) * 1'000'000'000ull + frac;
}

std::string format_time_ns(uint64_t ns) {
  const uint64_t secs = ns / 1'000'000'000ull;
  const uint64_t frac = ns % 1'000'000'000ull;
  int64_t y;
  unsigned m, d;
  civil_from_days(static_cast<int64_t>(secs / 86400), &y, &m, &d);
  const uint64_t sod = secs % 86400;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02llu:%02llu:%02llu.%09lluZ",
                static_cast<long long>(y), m, d, static_cast<unsigned long long>(sod / 3600),
                static_cast<unsigned long long>(sod / 60 % 60),
                static_cast<unsigned long long>(sod % 60), static_cast<unsigned long long>(frac));
  return buf;
}

namespace {

struct Unit {
  std::string_view name;
  uint64_t scale;
};

// "<digits><unit>" with the unit looked up in `units`; overflow is an error.
template <size_t N>
std::optional<uint64_t> parse_with_unit(std::string_view text, const Unit (&units)[N]) {
  size_t i = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
  if (i == 0) return std::nullopt;
  auto number = parse_u64(text.substr(0, i));
  if (!number) return std::nullopt;
  for (const Unit& unit : units) {
    if (unit.name != text.substr(i)) continue;
    if (*number > UINT64_MAX / unit.scale) return std::nullopt;
    return *number * unit.scale;
  }
  return std::nullopt;
}

constexpr Unit kDurationUnits[] = {{"ns", 1},
                                   {"us", 1'000},
                                   {"ms", 1'000'000},
                                   {"s", 1'000'000'000},
                                   {"m", 60'000'000'000},
                                   {"min", 60'000'000'000}};
constexpr Unit kSizeUnits[] = {{"", 1},           {"B", 1},
                               {"K", 1ull << 10}, {"KiB", 1ull << 10},
                               {"M", 1ull << 20}, {"MiB", 1ull << 20},
                               {"G", 1ull << 30}, {"GiB", 1ull << 30},
                               {"T", 1ull << 40}, {"TiB", 1ull << 40}};

}  // namespace

std::optional<uint64_t> parse_duration_ns(std::string_view text) {
  return parse_with_unit(text, kDurationUnits);
}

std::optional<uint64_t> parse_size_bytes(std::string_view text) {
  return parse_with_unit(text, kSizeUnits);
}

}  // namespace reel
