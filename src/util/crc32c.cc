#include "util/crc32c.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <iterator>

#if defined(__x86_64__)
#include <nmmintrin.h>
#include <wmmintrin.h>
#endif

namespace reel::crc32c {
namespace {

constexpr uint32_t kPoly = 0x82F63B78u;  // reversed Castagnoli polynomial

constexpr std::array<uint32_t, 256> make_table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kPoly : c >> 1;
    table[i] = c;
  }
  return table;
}
constexpr auto kTable = make_table();

uint32_t extend_portable(uint32_t crc, const uint8_t* p, size_t n) {
  uint32_t c = ~crc;
  for (size_t i = 0; i < n; ++i) c = kTable[(c ^ p[i]) & 0xff] ^ (c >> 8);
  return ~c;
}

#if defined(__x86_64__)
// Three independent crc32 chains over thirds of the buffer hide the
// instruction's 3-cycle latency; their states are then joined by shifting
// the earlier ones over the bytes after them: shift(c, n) = c * x^(8n) mod P,
// one carry-less multiply by x^(8n-33) mod P and one crc32 of the product.
constexpr size_t kChainMax = 4096;  // bytes per chain in one round

// Reflected x^k mod P, for k = 64 m - 33, m = 1 .. 2 kChainMax / 8.
struct ShiftConstants {
  uint32_t k[2 * kChainMax / 8 + 1] = {};
  ShiftConstants() {
    uint32_t r = 0x80000000u;  // x^0
    auto times_x = [&r] { r = (r >> 1) ^ ((r & 1) ? kPoly : 0); };
    for (int i = 0; i < 64 - 33; ++i) times_x();
    for (size_t m = 1; m < std::size(k); ++m) {
      k[m] = r;
      for (int i = 0; i < 64; ++i) times_x();
    }
  }
};
const ShiftConstants kShift;

__attribute__((target("sse4.2,pclmul"))) uint64_t shift(uint64_t c, size_t bytes) {
  const __m128i product =
      _mm_clmulepi64_si128(_mm_cvtsi32_si128(static_cast<int>(c)),
                           _mm_cvtsi32_si128(static_cast<int>(kShift.k[bytes / 8])), 0);
  return _mm_crc32_u64(0, static_cast<uint64_t>(_mm_cvtsi128_si64(product)));
}

__attribute__((target("sse4.2"))) uint64_t load64(const uint8_t* p) {
  uint64_t word;
  std::memcpy(&word, p, 8);
  return word;
}

__attribute__((target("sse4.2,pclmul"))) uint32_t extend_sse42(uint32_t crc, const uint8_t* p,
                                                               size_t n) {
  uint64_t c = ~crc;
  while (n >= 48) {
    const size_t third = std::min(n / 24 * 8, kChainMax);
    uint64_t c1 = 0, c2 = 0;
    for (const uint8_t* end = p + third; p < end; p += 8) {
      c = _mm_crc32_u64(c, load64(p));
      c1 = _mm_crc32_u64(c1, load64(p + third));
      c2 = _mm_crc32_u64(c2, load64(p + 2 * third));
    }
    c = shift(c, 2 * third) ^ shift(c1, third) ^ c2;
    p += 2 * third;
    n -= 3 * third;
  }
  while (n >= 8) {
    c = _mm_crc32_u64(c, load64(p));
    p += 8;
    n -= 8;
  }
  uint32_t c32 = static_cast<uint32_t>(c);
  while (n > 0) {
    c32 = _mm_crc32_u8(c32, *p++);
    --n;
  }
  return ~c32;
}
const bool kHaveSse42 = __builtin_cpu_supports("sse4.2") && __builtin_cpu_supports("pclmul");

// Four chains in named registers (an array indexed in the loop would go
// through memory and add a store-to-load delay to every step).
__attribute__((target("sse4.2"))) void lanes_sse42(uint32_t* crcs, const uint8_t* const* data,
                                                   const size_t* n, size_t lanes) {
  if (lanes != 4) {
    for (size_t i = 0; i < lanes; ++i) crcs[i] = extend_sse42(crcs[i], data[i], n[i]);
    return;
  }
  const size_t common = std::min(std::min(n[0], n[1]), std::min(n[2], n[3])) & ~size_t{7};
  uint64_t c0 = ~crcs[0], c1 = ~crcs[1], c2 = ~crcs[2], c3 = ~crcs[3];
  const uint8_t *p0 = data[0], *p1 = data[1], *p2 = data[2], *p3 = data[3];
  for (size_t off = 0; off < common; off += 8) {
    c0 = _mm_crc32_u64(c0, load64(p0 + off));
    c1 = _mm_crc32_u64(c1, load64(p1 + off));
    c2 = _mm_crc32_u64(c2, load64(p2 + off));
    c3 = _mm_crc32_u64(c3, load64(p3 + off));
  }
  const uint64_t c[4] = {c0, c1, c2, c3};
  for (size_t i = 0; i < 4; ++i) {
    crcs[i] = n[i] == common
                  ? ~static_cast<uint32_t>(c[i])
                  : extend_sse42(~static_cast<uint32_t>(c[i]), data[i] + common, n[i] - common);
  }
}
#else
const bool kHaveSse42 = false;
#endif

}  // namespace

uint32_t extend(uint32_t crc, const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
#if defined(__x86_64__)
  if (kHaveSse42) return extend_sse42(crc, p, n);
#endif
  return extend_portable(crc, p, n);
}

void extend_lanes(uint32_t* crcs, const uint8_t* const* data, const size_t* n, size_t lanes) {
#if defined(__x86_64__)
  if (kHaveSse42 && lanes <= 4) return lanes_sse42(crcs, data, n, lanes);
#endif
  for (size_t i = 0; i < lanes; ++i) crcs[i] = extend(crcs[i], data[i], n[i]);
}

bool hardware_accelerated() {
  return kHaveSse42;
}

}  // namespace reel::crc32c
