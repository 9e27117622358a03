// The replay protocol on the wire (schemas/format.md, "Replay protocol"),
// shared by the server (replay/replay_server.h) and reel::Subscriber.
//
//   client -> server  u32 LE length (at most kMaxRequestBytes), then a
//                     ReplayRequest FlatBuffer (schemas/replay.fbs).
//   server -> client  u32 LE length, then a ReplayHeader FlatBuffer; then
//                     messages, each starting with a u32 LE word:
//                       < 2^31      a frame exactly as stored in the WAL
//                                   (that word is its body_length; the frame
//                                   takes frame_bytes_for_body(word) bytes)
//                       kHeartbeat  4 bytes: alive, nothing new
//                       kEnd        + u64 LE: the range is complete, the
//                                   last seq it held (0: none); then close
//                       kError      + u32 LE length + text; then close
#pragma once

#include <cstdint>

#include "util/coding.h"

namespace reel::replay {

inline constexpr uint32_t kHeartbeat = 0xFFFFFF01u;
inline constexpr uint32_t kEnd = 0xFFFFFF02u;
inline constexpr uint32_t kError = 0xFFFFFF03u;
inline constexpr uint32_t kMaxRequestBytes = 64 << 10;
inline constexpr uint32_t kMaxErrorBytes = 4096;
// The header carries the store's stream table: room for a great many.
inline constexpr uint32_t kMaxHeaderBytes = 16 << 20;

inline void put_u32(uint8_t* p, uint32_t v) {
  encode_fixed32(p, v);
}
inline uint32_t get_u32(const uint8_t* p) {
  return decode_fixed32(p);
}

}  // namespace reel::replay
