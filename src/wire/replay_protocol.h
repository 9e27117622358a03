// The replay protocol's parsers, apart from any socket (so they can be
// fuzzed: fuzz/replay_request_fuzz.cc, fuzz/replay_stream_fuzz.cc):
//
//   parse_request   the server's reading of a ReplayRequest body;
//   parse_header    the client's reading of the ReplayHeader;
//   parse_message   the client's reading of the messages after it: stored
//                   frames (CRC32C and the FlatBuffers verifier checked:
//                   network bytes are never trusted), heartbeats, the end
//                   marker and errors.
//
// Wire layout: wire/replay_wire.h and schemas/format.md, "Replay protocol".
// All functions are pure and thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>

#include "reel/record_view.h"
#include "reel/status.h"
#include "reel/tailer.h"

namespace reel::replay {

// What one subscriber asked for, checked.
struct Ask {
  Tailer::Options tail;
  std::set<uint32_t> streams;  // several streams: filtered by the server; empty: no filter
  uint64_t to_seq = 0, to_ts = 0;
  bool follow = false;
  double speed = 0;  // > 0: paced at this multiple of the recorded pace
};

// A stream's id by name: nullopt when the store has none of that name.
using StreamLookup = std::function<Result<std::optional<uint32_t>>(std::string_view)>;

// A request body (the bytes after its length word). kInvalidArgument (a
// one-line reason for the client) when it is not a ReplayRequest, speaks
// another version, asks what cannot end, or names an unknown stream.
Result<Ask> parse_request(std::span<const uint8_t> body, const StreamLookup& lookup);

struct Header {
  uint32_t version = 0;
  uint64_t store_id = 0;
  std::string error;                        // the server's refusal; empty when served
  std::map<uint32_t, std::string> streams;  // id -> name
};
// The header body (after its length word).
Result<Header> parse_header(std::span<const uint8_t> body);

struct Message {
  enum class Kind { kNeedMore, kFrame, kHeartbeat, kEnd, kError };
  Kind kind = Kind::kNeedMore;
  size_t bytes = 0;      // consumed; with kNeedMore, how many must be there at least
  RecordView record;     // kFrame: into the input bytes
  uint64_t end_seq = 0;  // kEnd: the last seq of the range (0: none)
  std::string error;     // kError: the server's reason
};
// The message at the start of `data`, which follows seq `last_seq` (0:
// none yet). kCorruption when it is not a message or a frame is damaged or
// out of order.
Result<Message> parse_message(std::span<const uint8_t> data, uint64_t last_seq);

}  // namespace reel::replay
