// The acknowledgement exchange of `reel serve`'s lp TCP endpoints
// (schemas/format.md, "Acknowledged producers"), shared by the server
// (net::TcpReceiver) and the clients (reel::Publisher, `reel append --to`).
//
//   client -> server  once, as the connection's first 4 bytes: a hello word,
//                     u32 little-endian, that no record length can be
//                     (lengths above 64 MiB are refused):
//                       0xFFFFFF01 acknowledge at written
//                       0xFFFFFF02 acknowledge at indexed
//                       0xFFFFFF03 acknowledge at durable
//                     then lp records as usual. Without it, no acks.
//   server -> client  16-byte acks, whenever the count grows (coalesced):
//                       u64 LE  records of this connection that reached the
//                               level, counted from the first
//                       u64 LE  store seq of the last of them
//                     or, once, a refusal, after which the server stores
//                     nothing more from the connection and closes it:
//                       u64 LE  0xFFFFFFFFFFFFFFFF (no count is that)
//                       u64 LE  N, the reason's length (at most 512)
//                       N bytes of the reason, UTF-8 text
//
// A client that half-closes (shutdown SHUT_WR) gets its last ack and then
// the server's close; a connection the server closes early (a framing error,
// a store failure, a stop) ends without the missing acks.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "reel/types.h"
#include "util/coding.h"

namespace reel::feed {

inline constexpr uint32_t kAckHelloBase = 0xFFFFFF00u;
inline constexpr size_t kAckBytes = 16;

inline uint32_t ack_hello(Level level) {
  switch (level) {
    case Level::kWritten:
      return kAckHelloBase | 1;
    case Level::kIndexed:
      return kAckHelloBase | 2;
    case Level::kDurable:
      return kAckHelloBase | 3;
  }
  return 0;
}

// The level a hello word asks for, or nullopt when `word` is not a hello.
inline std::optional<Level> parse_ack_hello(uint32_t word) {
  switch (word) {
    case kAckHelloBase | 1:
      return Level::kWritten;
    case kAckHelloBase | 2:
      return Level::kIndexed;
    case kAckHelloBase | 3:
      return Level::kDurable;
    default:
      return std::nullopt;
  }
}

inline void put_u64le(uint8_t* p, uint64_t v) {
  encode_fixed64(p, v);
}
inline uint64_t get_u64le(const uint8_t* p) {
  return decode_fixed64(p);
}

inline constexpr uint64_t kAckRefusal = ~uint64_t{0};
inline constexpr size_t kMaxRefusalBytes = 512;

// A refusal's bytes (the reason cut to kMaxRefusalBytes).
inline std::string encode_refusal(std::string_view reason) {
  reason = reason.substr(0, kMaxRefusalBytes);
  std::string out(kAckBytes + reason.size(), '\0');
  auto* p = reinterpret_cast<uint8_t*>(out.data());
  encode_fixed64(p, kAckRefusal);
  encode_fixed64(p + 8, reason.size());
  out.replace(kAckBytes, reason.size(), reason);
  return out;
}

struct Ack {
  uint64_t count = 0;
  uint64_t last_seq = 0;
};

inline void encode_ack(const Ack& a, uint8_t out[kAckBytes]) {
  put_u64le(out, a.count);
  put_u64le(out + 8, a.last_seq);
}
inline Ack decode_ack(const uint8_t in[kAckBytes]) {
  return {get_u64le(in), get_u64le(in + 8)};
}

inline uint64_t level_seq(const Watermarks& w, Level level) {
  switch (level) {
    case Level::kWritten:
      return w.written_seq;
    case Level::kIndexed:
      return w.indexed_seq;
    case Level::kDurable:
      return w.durable_seq;
  }
  return 0;
}

}  // namespace reel::feed
