// CRC32C: the hardware path (three interleaved chains joined by carry-less
// multiplication) must equal the bit-by-bit definition at every length,
// alignment and split point.
#include "util/crc32c.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "test_util.h"

namespace reel {
namespace {

uint32_t reference(uint32_t crc, const uint8_t* p, size_t n) {
  uint32_t c = ~crc;
  for (size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
  }
  return ~c;
}

TEST(Crc32c, KnownValue) {
  EXPECT_EQ(crc32c::value("123456789", 9), 0xE3069283u);
  EXPECT_EQ(crc32c::value("", 0), 0u);
}

TEST(Crc32c, EqualsTheDefinitionAtEveryLengthAlignmentAndSplit) {
  std::mt19937_64 rng(testing::test_seed());
  std::vector<uint8_t> data(40000 + 16);
  for (auto& b : data) b = static_cast<uint8_t>(rng());
  std::vector<size_t> lengths;
  for (size_t n = 0; n <= 700; ++n) lengths.push_back(n);
  for (size_t n : {4095u, 4096u, 12287u, 12288u, 12296u, 24600u, 40000u}) lengths.push_back(n);
  for (size_t n : lengths) {
    const size_t at = rng() % 8;
    const uint8_t* p = data.data() + at;
    const uint32_t want = reference(0, p, n);
    ASSERT_EQ(crc32c::value(p, n), want) << "length " << n << " at +" << at;
    const size_t split = n == 0 ? 0 : rng() % n;
    ASSERT_EQ(crc32c::extend(crc32c::value(p, split), p + split, n - split), want)
        << "length " << n << " split at " << split;
  }
}

TEST(Crc32c, LanesEqualOneBufferAtATime) {
  std::mt19937_64 rng(testing::test_seed());
  std::vector<uint8_t> data(20000);
  for (auto& b : data) b = static_cast<uint8_t>(rng());
  for (int round = 0; round < 2000; ++round) {
    const size_t lanes = 1 + rng() % 4;
    const uint8_t* p[4];
    size_t n[4];
    uint32_t crcs[4], want[4];
    for (size_t i = 0; i < lanes; ++i) {
      n[i] = rng() % (round % 2 ? 300 : 5000);
      p[i] = data.data() + rng() % (data.size() - n[i]);
      crcs[i] = static_cast<uint32_t>(rng());
      want[i] = reference(crcs[i], p[i], n[i]);
    }
    crc32c::extend_lanes(crcs, p, n, lanes);
    for (size_t i = 0; i < lanes; ++i) ASSERT_EQ(crcs[i], want[i]) << "round " << round;
  }
}

}  // namespace
}  // namespace reel
