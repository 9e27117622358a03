// The only place where bytes become integers and back (LevelDB's
// util/coding.h). Frames and segment headers are little-endian; LMDB keys are
// big-endian so that memcmp order equals numeric order. Never cast a pointer
// into a mapped segment: decode through these.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>

namespace reel {

// memcpy + a byte swap where the host order differs: one load or store each
// (the byte loops these replace were not merged by the compiler).
template <std::endian Order, typename T>
inline T in_order(T v) {
  if constexpr (std::endian::native == Order) return v;
  if constexpr (sizeof(T) == 2) return __builtin_bswap16(v);
  if constexpr (sizeof(T) == 4) return __builtin_bswap32(v);
  return __builtin_bswap64(v);
}
template <typename T>
inline T to_little(T v) {
  return in_order<std::endian::little>(v);
}
template <typename T>
inline T to_big(T v) {
  return in_order<std::endian::big>(v);
}
template <typename T>
inline void store_as(uint8_t* dst, T v) {
  std::memcpy(dst, &v, sizeof v);
}
template <typename T>
inline T load_as(const uint8_t* src) {
  T v;
  std::memcpy(&v, src, sizeof v);
  return v;
}

inline void encode_fixed16(uint8_t* dst, uint16_t v) {
  store_as(dst, to_little(v));
}
inline void encode_fixed32(uint8_t* dst, uint32_t v) {
  store_as(dst, to_little(v));
}
inline void encode_fixed64(uint8_t* dst, uint64_t v) {
  store_as(dst, to_little(v));
}
inline uint16_t decode_fixed16(const uint8_t* src) {
  return to_little(load_as<uint16_t>(src));
}
inline uint32_t decode_fixed32(const uint8_t* src) {
  return to_little(load_as<uint32_t>(src));
}
inline uint64_t decode_fixed64(const uint8_t* src) {
  return to_little(load_as<uint64_t>(src));
}

inline void encode_big16(uint8_t* dst, uint16_t v) {
  store_as(dst, to_big(v));
}
inline uint16_t decode_big16(const uint8_t* src) {
  return to_big(load_as<uint16_t>(src));
}
inline void encode_big32(uint8_t* dst, uint32_t v) {
  store_as(dst, to_big(v));
}
inline void encode_big64(uint8_t* dst, uint64_t v) {
  store_as(dst, to_big(v));
}
inline uint32_t decode_big32(const uint8_t* src) {
  return to_big(load_as<uint32_t>(src));
}
inline uint64_t decode_big64(const uint8_t* src) {
  return to_big(load_as<uint64_t>(src));
}

inline constexpr uint64_t align_up8(uint64_t n) {
  return (n + 7) & ~uint64_t{7};
}

}  // namespace reel
