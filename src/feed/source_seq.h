// Where a feed's own sequence number lives in a payload (a record's
// source_seq), and which number the feed should send next:
//
//   none              no sequence number
//   moldudp64         a MoldUDP64 packet: session (10 bytes), sequence
//                     number (u64 BE), message count (u16 BE); the next
//                     packet should carry seq + count (heartbeats and the
//                     end-of-session packet, count 0 or 0xFFFF, advance
//                     nothing)
//   OFFSET:u32be|u64be|u32le|u64le
//                     an integer at a byte offset of the payload; the next
//                     record should carry it + 1
//
// Parsing is pure and thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "reel/status.h"

namespace reel::feed {

struct SeqSpec {
  enum class Kind { kNone, kMoldUdp64, kOffset };
  Kind kind = Kind::kNone;
  size_t offset = 0;  // kOffset
  size_t width = 8;   // kOffset: 4 or 8 bytes
  bool big_endian = true;
};

inline constexpr size_t kMoldUdp64HeaderBytes = 20;

Result<SeqSpec> parse_seq_spec(std::string_view text);
std::string seq_spec_name(const SeqSpec& spec);

struct SourceSeq {
  uint64_t seq = 0;      // the number the payload carries
  uint64_t next = 0;     // the number the feed should carry next
  uint64_t session = 0;  // moldudp64: the session's 10 bytes, folded (numbers restart with it)
};

// The payload's source seq, or nullopt when the spec is kNone or the payload
// is too short to hold one (counted by the caller, never an error).
std::optional<SourceSeq> extract_source_seq(const SeqSpec& spec, std::span<const uint8_t> payload);

}  // namespace reel::feed
