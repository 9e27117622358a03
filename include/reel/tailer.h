// reel::Tailer: follows a store from any process, as the writer appends.
//
// It delivers every record from a starting seq or time, first the history
// and then live records, in seq order, with no gap and no duplicate. It
// follows a watermark (Level): kWritten delivers records as soon as they are
// in the WAL, kDurable only once they are fdatasync'd. It sleeps on the head
// file's futex, so it wakes within microseconds of the writer's watermark
// move, and needs only read access to the store.
//
// Thread safety: one thread at a time; open one Tailer per thread.
#pragma once

#include "reel/export.h"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "reel/reader.h"
#include "reel/record_view.h"
#include "reel/status.h"
#include "reel/types.h"

namespace reel {

class REEL_EXPORT Tailer {
 public:
  struct Options {
    // Where to start, first match wins: from_end (only records appended
    // after open), from_seq (>= 1), from_ts_ns (the first record with
    // ts_ns >= it, of `stream` or of any stream), else seq 1.
    bool from_end = false;
    uint64_t from_seq = 0;
    uint64_t from_ts_ns = 0;
    // Only records of this stream (it need not exist yet); empty: all.
    std::string stream;
    Level follow = Level::kWritten;
    ReaderOptions reader;  // e.g. verify_records
  };

  // Opens `dir`, which must hold a store (kNotFound otherwise; it may be empty).
  static Result<std::unique_ptr<Tailer>> open(const std::string& dir, const Options& options);
  ~Tailer();
  Tailer(const Tailer&) = delete;
  Tailer& operator=(const Tailer&) = delete;

  // The next record: true with *out set (valid while the Tailer lives).
  // False if none arrived within `timeout` (zero: do not wait; negative: no
  // limit), or on an error: then status() says why and the Tailer is done.
  bool next(RecordView* out, std::chrono::nanoseconds timeout);
  const Status& status() const;
  // The seq the next delivered record will have at least.
  uint64_t next_seq() const;
  // The followed watermark, as published now.
  uint64_t watermark() const;

  struct Impl;

 private:
  explicit Tailer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace reel
