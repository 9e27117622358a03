// reel::Reader: read-only access to a store, from any process, concurrently
// with the writer. Needs only read permission on the store directory (and
// write permission on STORE/index/lock.mdb to use the index; without it,
// queries read the WAL).
//
// What a reader sees past durable_seq: a reader reads every record the
// writer has *written* (Watermarks::written_seq), durable or not. After a
// power loss (not a process crash) the next writer's recovery may cut
// records past the durable point that never reached the disk, and then
// hands out their seqs again to new records: a seq read past durable_seq
// is not guaranteed to name the same record after a power cut. Readers
// that must only ever see records that survive one read up to
// watermarks().durable_seq (`reel tail --durable` does).
//
// Thread safety: a Reader, and every Cursor it returns, may be used by one
// thread at a time; it must not be shared between threads without a lock.
// Open one Reader per thread instead: Readers are cheap, and Readers and a
// Store in one process share a single LMDB environment. RecordViews are
// read-only and may be read from any thread while their Reader lives.
#pragma once

#include "reel/export.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "reel/options.h"
#include "reel/record_view.h"
#include "reel/status.h"
#include "reel/types.h"

namespace reel {

struct StoreStats {
  Watermarks watermarks;   // as published in the head file
  uint64_t first_seq = 0;  // 0 when empty
  uint64_t last_seq = 0;   // last whole record in the WAL
  uint64_t record_count = 0;
  uint64_t segment_count = 0;
  uint64_t wal_bytes = 0;       // bytes of frames (headers included) in the WAL
  uint64_t wal_file_bytes = 0;  // preallocated size of all segment files
  uint64_t first_ts_ns = 0;
  uint64_t last_ts_ns = 0;
  uint64_t store_id = 0;
  bool writer_live = false;     // a writer may be appending now
  bool clean_shutdown = false;  // the last writer closed the store cleanly
};

class Reader;

// Iterates records in order. A view returned by next() stays valid while the
// Reader lives. One thread at a time (the Reader's), and only while the
// Reader that returned it lives.
class REEL_EXPORT Cursor {
 public:
  Cursor();
  ~Cursor();
  Cursor(Cursor&&) noexcept;
  Cursor& operator=(Cursor&&) noexcept;

  // The next record, or false at the end or on an error (see status()).
  bool next(RecordView* out);
  // kOk at a clean end; kCorruption naming segment, offset and seq if a
  // damaged frame stopped the iteration.
  const Status& status() const;

  struct Impl;

 private:
  friend class Reader;
  explicit Cursor(std::unique_ptr<Impl> impl);
  static Cursor failed(std::unique_ptr<Impl> impl, Status status);
  std::unique_ptr<Impl> impl_;
};

class REEL_EXPORT Reader {
 public:
  // Opens `dir` read-only: takes no lock, writes nothing, and is correct
  // beside a live writer in any process (every answer is one consistent
  // snapshot: no gap, no skipped record, bytes being written are "not yet
  // there", never corruption). An unclean store is read as it is, up to its
  // last valid frame. Works without write access to the store and without
  // an index (queries then read the WAL).
  static Result<std::unique_ptr<Reader>> open(const std::string& dir,
                                              const ReaderOptions& options = {});
  ~Reader();
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  // The record with this seq: kNotFound past the end, kCorruption (naming
  // segment, offset, seq) if its frame is damaged.
  Result<RecordView> get(uint64_t seq);
  // Records from <= seq <= to, in seq order.
  Cursor range(uint64_t from, uint64_t to = UINT64_MAX);
  // Records of `stream` with t0 <= ts_ns <= t1, in (ts, seq) order.
  Cursor by_time(std::string_view stream, uint64_t t0_ns, uint64_t t1_ns);
  // Records of `stream` whose key equals `key`, in seq order.
  Cursor by_key(std::string_view stream, std::string_view key);

  Result<std::vector<StreamInfo>> streams();
  // The id of stream `name`, if it exists.
  Result<std::optional<uint32_t>> stream_id(std::string_view name);
  Result<StoreStats> stats();
  // Published watermarks (head file); zeros if there is none.
  Watermarks watermarks() const;
  // Whether queries use the index. False when there is none, or when this
  // process may not write STORE/index/lock.mdb (LMDB's reader table): then
  // every query reads the WAL, correct but slower.
  bool indexed() const;

  struct Impl;

 private:
  friend class Tailer;  // follows the same segments and head file
  explicit Reader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace reel
