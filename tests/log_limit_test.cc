#include "util/log_limit.h"

#include <string>

#include <gtest/gtest.h>

namespace reel {
namespace {

TEST(LogLimit, ClientTextIsEscapedAndCut) {
  EXPECT_EQ(printable("plain text"), "plain text");
  EXPECT_EQ(printable("a\nb\r\x1b[31m\\"), "a\\x0ab\\x0d\\x1b[31m\\x5c");
  EXPECT_EQ(printable(std::string("\0\xff", 2)), "\\x00\\xff");
  EXPECT_EQ(printable(std::string(300, 'x')), std::string(200, 'x') + "...(300 bytes)");
  EXPECT_EQ(printable("abcdef", 3), "abc...(6 bytes)");
}

TEST(LogLimit, LinesOfOneKindPastTheBurstAreDroppedAndCounted) {
  // A window of an hour: only the burst decides.
  RateLimitedLog log("test", 3, std::chrono::hours(1));
  int written = 0;
  for (int i = 0; i < 10; ++i) written += log.line("flood", "line " + std::to_string(i));
  EXPECT_EQ(written, 3);
  EXPECT_EQ(log.dropped(), 7u);
  EXPECT_TRUE(log.line("other kind", "still written"));
  EXPECT_EQ(log.dropped(), 7u);
}

TEST(LogLimit, ANewWindowWritesAgain) {
  RateLimitedLog log("test", 1, std::chrono::milliseconds(0));
  EXPECT_TRUE(log.line("k", "one"));
  EXPECT_TRUE(log.line("k", "two"));  // every line starts a new window
  EXPECT_EQ(log.dropped(), 0u);
}

}  // namespace
}  // namespace reel
