// Framings of a byte stream (a TCP connection) into records, for `reel
// serve`:
//
//   lp      u32 little-endian length, then that many bytes (reel's own)
//   u16be   u16 big-endian length, then that many bytes (SoupBinTCP and many
//           exchange protocols)
//   lines   bytes up to each '\n' (the '\n' is not part of the record)
//
// A Deframer is fed the stream in whatever chunks the socket gives and hands
// out each whole record once; it copies only a record split across chunks.
// A record longer than `max_record` is a framing error: the Deframer stops
// there for good (the connection must be closed), and says where.
//
// One Deframer per connection; not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "reel/status.h"

namespace reel::feed {

enum class Framing { kLengthPrefixed, kU16BigEndian, kLines };

// "lp", "u16be" or "lines".
Result<Framing> parse_framing(std::string_view name);
const char* framing_name(Framing f);

class Deframer {
 public:
  // Gets each record's bytes, valid only during the call.
  using RecordFn = std::function<void(std::span<const uint8_t>)>;

  Deframer(Framing framing, size_t max_record) : framing_(framing), max_record_(max_record) {}

  // Consumes `bytes`; calls `on_record` for every record completed. Returns
  // the first framing error (and the same error on every later call).
  Status feed(std::span<const uint8_t> bytes, const RecordFn& on_record);

  uint64_t records() const { return records_; }
  uint64_t bytes_consumed() const { return consumed_; }
  // Bytes of an unfinished record held back, and the memory holding them.
  // Past kKeepBytes, that memory is given back once the record is complete.
  size_t buffered() const { return partial_.size(); }
  size_t held_bytes() const { return partial_.capacity(); }
  static constexpr size_t kKeepBytes = 64 << 10;

 private:
  size_t header_bytes() const;
  // Length of the record whose header starts `p` (header_bytes() available).
  uint64_t length_of(const uint8_t* p) const;
  // Takes records out of `data` in place; returns how many bytes it used.
  size_t take_whole(std::span<const uint8_t> data, const RecordFn& on_record);
  size_t take_lines(std::span<const uint8_t> data, const RecordFn& on_record);
  Status oversize(uint64_t length, uint64_t at);
  void shrink();

  Framing framing_;
  size_t max_record_;
  std::vector<uint8_t> partial_;  // an unfinished record (header included)
  uint64_t records_ = 0;
  uint64_t consumed_ = 0;  // stream offset of the first byte not yet consumed
  Status error_;
};

}  // namespace reel::feed
