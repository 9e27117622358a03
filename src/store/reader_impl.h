// Reader internals, shared by reader.cc, reader_queries.cc, reader_by_time.cc
// and tailer.cc.
#pragma once

#include <algorithm>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "index/index.h"
#include "reel/reader.h"
#include "store/head_file.h"
#include "store/position_cache.h"
#include "store/segment_cursor.h"
#include "store/segment_set.h"
#include "store/store_dir.h"

namespace reel {

struct REEL_INTERNAL Reader::Impl {
  Impl(const std::string& dir, const ReaderOptions& o) : paths(dir), options(o), segs(paths.wal) {}

  store::StorePaths paths;
  ReaderOptions options;
  // Opened when they appear: a Reader may open a store that a writer is
  // still creating. Both stay open once they are.
  mutable store::HeadFile head;                 // closed until there is a head file
  mutable std::unique_ptr<index::Index> index;  // null while there is no usable index
  mutable bool index_denied = false;            // lock.mdb may not be written: read the WAL
  store::SegmentSet segs;
  store::PositionCache positions;  // the index's seq -> position entries, in memory

  wal::BodyCheck body_check() const {
    if (options.leave_checksums) return wal::BodyCheck::kVerifyLeaveChecksum;
    return options.verify_records ? wal::BodyCheck::kVerify : wal::BodyCheck::kTrustChecksum;
  }
  // Opens the head file and the index if they were not there before.
  void attach() const;

  // The writer as the head file tells it now (for SegmentCursor).
  store::WriterState writer_state() const;
  store::SegmentCursor make_cursor() {
    return store::SegmentCursor(
        &segs, [this] { return writer_state(); }, store::SegmentCursor::Depth::kRead, body_check());
  }
  // A read transaction of the index, or null when there is no index.
  Result<std::unique_ptr<index::Snapshot>> snapshot() const;

  // Where to start reading for `seq`: segment, offset and the seq there.
  struct Position {
    size_t segment = 0;
    uint64_t offset = 0;
    uint64_t seq = 0;
    uint64_t bytes_per_record = 0;  // the segment's average, when known
  };
  Result<std::optional<Position>> locate(uint64_t seq);
  // The record `seq` found through the position cache and a hop from frame
  // to frame; nothing when that does not work out (then read carefully).
  std::optional<RecordView> quick_get(uint64_t seq);
  // Starts fetching the bytes where `seq` probably lies (a hint only).
  void prefetch_likely(uint64_t seq);
  // Visits records from <= seq <= to in order, up to the live end; fn
  // returns false to stop.
  Status scan(uint64_t from, uint64_t to, const std::function<bool(const RecordView&)>& fn);
  // Stream stats: the index's, plus records beyond its indexed_seq, both as
  // of one snapshot.
  Result<std::vector<StreamInfo>> streams();
  Result<std::optional<uint32_t>> stream_id(std::string_view name);
  // Bytes of frames in segment i (header excluded), up to the live end.
  Result<uint64_t> segment_frame_bytes(size_t i);
};

// Sequential iteration over a seq range, across segments.
class SeqScan {
 public:
  SeqScan(Reader::Impl* reader, uint64_t from, uint64_t to)
      : r_(reader), cursor_(reader->make_cursor()), from_(from), to_(to) {}
  bool next(RecordView* out);
  const Status& status() const { return status_; }
  // Makes the next record returned the first with seq >= `seq` (forward only).
  void advance_to(uint64_t seq) { from_ = std::max(from_, seq); }

 private:
  bool start();
  bool fail(Status s) {
    status_ = std::move(s);
    done_ = true;
    return false;
  }

  Reader::Impl* r_;
  store::SegmentCursor cursor_;
  uint64_t from_, to_;
  bool started_ = false, done_ = false;
  std::optional<wal::ScanFault> skipped_;  // damage before from_, stepped over
  Status status_;
};

// Records a Cursor delivers one by one, made as they are asked for.
struct CursorSource {
  virtual ~CursorSource() = default;
  // The next record, or false at the end or on an error (*status).
  virtual bool next(RecordView* out, Status* status) = 0;
};

struct REEL_INTERNAL Cursor::Impl {
  // A sequential scan, a source, or a list of seqs resolved one by one.
  std::unique_ptr<SeqScan> scan;
  std::unique_ptr<CursorSource> source;
  Reader::Impl* reader = nullptr;
  std::vector<uint64_t> seqs;
  size_t next_index = 0;
  std::unique_ptr<SeqScan> forward;  // reused while the seqs keep increasing
  uint64_t forward_seq = 0;
  Status status;
};

}  // namespace reel
