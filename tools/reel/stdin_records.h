// Records from stdin for `reel append`: lines (newline stripped) or lp
// (u32 little-endian length, then the bytes), in whatever chunks read()
// gives. Errors name the byte offset in the input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "reel/status.h"

namespace reel::cli {

class StdinRecords {
 public:
  // Takes one record; returns false to stop (its own error already said).
  using RecordFn = std::function<bool(std::string_view)>;
  // Called when stdin has no more bytes right now (the input paused).
  using IdleFn = std::function<bool()>;

  StdinRecords(bool lines, size_t max_record) : lines_(lines), max_record_(max_record) {}

  // Reads stdin to its end. kOk when every record was taken; an error for
  // bad input or a failed read; kFailed (empty message) when `fn` or
  // `idle` stopped it.
  Status run(const RecordFn& fn, const IdleFn& idle);

  uint64_t records() const { return records_; }
  uint64_t bytes() const { return bytes_; }

 private:
  // Takes the whole records in carry_; false when stopped.
  Status take_whole(const RecordFn& fn);
  Status finish(const RecordFn& fn);

  bool lines_;
  size_t max_record_;
  std::string carry_;    // a record split across reads
  uint64_t offset_ = 0;  // input bytes read
  uint64_t records_ = 0, bytes_ = 0;
};

}  // namespace reel::cli
