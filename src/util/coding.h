// The only place where bytes become integers and back (LevelDB's
// util/coding.h). Frames and segment headers are little-endian; LMDB keys are
// big-endian so that memcmp order equals numeric order. Never cast a pointer
// into a mapped segment: decode through these.
#pragma once

#include <cstdint>
#include <cstring>

namespace reel {

inline void encode_fixed16(uint8_t* dst, uint16_t v) {
  dst[0] = static_cast<uint8_t>(v);
  dst[1] = static_cast<uint8_t>(v >> 8);
}
inline void encode_fixed32(uint8_t* dst, uint32_t v) {
  for (int i = 0; i < 4; ++i) dst[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline void encode_fixed64(uint8_t* dst, uint64_t v) {
  for (int i = 0; i < 8; ++i) dst[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline uint16_t decode_fixed16(const uint8_t* src) {
  return static_cast<uint16_t>(src[0] | (src[1] << 8));
}
inline uint32_t decode_fixed32(const uint8_t* src) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | src[i];
  return v;
}
inline uint64_t decode_fixed64(const uint8_t* src) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | src[i];
  return v;
}

inline void encode_big32(uint8_t* dst, uint32_t v) {
  for (int i = 0; i < 4; ++i) dst[i] = static_cast<uint8_t>(v >> (8 * (3 - i)));
}
inline void encode_big64(uint8_t* dst, uint64_t v) {
  for (int i = 0; i < 8; ++i) dst[i] = static_cast<uint8_t>(v >> (8 * (7 - i)));
}
inline uint32_t decode_big32(const uint8_t* src) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | src[i];
  return v;
}
inline uint64_t decode_big64(const uint8_t* src) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | src[i];
  return v;
}

inline constexpr uint64_t align_up8(uint64_t n) {
  return (n + 7) & ~uint64_t{7};
}

}  // namespace reel
