#include <gtest/gtest.h>

#include "util/time_format.h"

namespace reel {
namespace {

TEST(TimeFormat, ParsesIsoWithMillisecondsAndZ) {
  EXPECT_EQ(parse_time_ns("2026-11-21T09:30:00.123Z"), 1795253400123000000ull);
  EXPECT_EQ(parse_time_ns("1970-01-01T00:00:00Z"), 0u);
  EXPECT_EQ(parse_time_ns("1970-01-01T00:00:01.000000001Z"), 1000000001u);
}

TEST(TimeFormat, ParsesOffsetsAndDates) {
  EXPECT_EQ(parse_time_ns("2026-11-21T10:30:00+01:00"), parse_time_ns("2026-11-21T09:30:00Z"));
  EXPECT_EQ(parse_time_ns("2026-11-21T04:30:00-0500"), parse_time_ns("2026-11-21T09:30:00Z"));
  EXPECT_EQ(parse_time_ns("2026-11-21"), parse_time_ns("2026-11-21T00:00:00Z"));
}

TEST(TimeFormat, ParsesUnixSeconds) {
  EXPECT_EQ(parse_time_ns("@0"), 0u);
  EXPECT_EQ(parse_time_ns("@1795253400.123"), 1795253400123000000ull);
  EXPECT_EQ(parse_time_ns("@1795253400"), 1795253400000000000ull);
}

TEST(TimeFormat, RejectsMalformedTimes) {
  for (const char* bad :
       {"", "@", "@x", "@1.", "@-5", "2026-13-01", "2026-02-30", "2026-11-21T09:30:00",
        "2026-11-21T25:00:00Z", "2026-11-21T09:30Zjunk", "21/11/2026",
        "2026-11-21T09:30:00.1234567890Z", "1969-12-31T00:00:00Z"}) {
    EXPECT_FALSE(parse_time_ns(bad)) << bad;
  }
}

TEST(TimeFormat, FormatsRoundTrip) {
  for (uint64_t ns : {0ull, 1ull, 1795253400123000000ull, 4102444799999999999ull}) {
    auto text = format_time_ns(ns);
    EXPECT_EQ(parse_time_ns(text), ns) << text;
  }
  EXPECT_EQ(format_time_ns(1795253400123000000ull), "2026-11-21T09:30:00.123000000Z");
}

TEST(TimeFormat, ParsesDurationsAndSizes) {
  EXPECT_EQ(parse_duration_ns("10ms"), 10000000u);
  EXPECT_EQ(parse_duration_ns("1s"), 1000000000u);
  EXPECT_EQ(parse_duration_ns("250us"), 250000u);
  EXPECT_FALSE(parse_duration_ns("10"));
  EXPECT_FALSE(parse_duration_ns("ms"));
  EXPECT_FALSE(parse_duration_ns("10 ms"));
  EXPECT_EQ(parse_size_bytes("1GiB"), 1ull << 30);
  EXPECT_EQ(parse_size_bytes("64M"), 64ull << 20);
  EXPECT_EQ(parse_size_bytes("4096"), 4096u);
  EXPECT_FALSE(parse_size_bytes("1GB"));
  EXPECT_FALSE(parse_size_bytes("-1"));
  EXPECT_FALSE(parse_size_bytes("99999999999999999999"));
}

}  // namespace
}  // namespace reel
