// Reader internals, shared by reader.cc and verify.cc.
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
#include "store/segment_set.h"
#include "store/store_dir.h"
#include "wal/segment_scanner.h"

namespace reel {

struct Reader::Impl {
  explicit Impl(const std::string& dir) : paths(dir), segs(paths.wal) {}

  store::StorePaths paths;
  store::HeadFile head;                 // may be closed (no head file)
  std::unique_ptr<index::Index> index;  // null when there is no usable index
  store::SegmentSet segs;

  uint64_t indexed_seq() const;
  // Where to start scanning for `seq`: segment, offset and the seq there.
  struct Position {
    size_t segment = 0;
    uint64_t offset = 0;
    uint64_t seq = 0;
  };
  Result<std::optional<Position>> locate(uint64_t seq);
  // Visits records from <= seq <= to in order; fn returns false to stop.
  Status scan(uint64_t from, uint64_t to, const std::function<bool(const RecordView&)>& fn);
  Result<std::vector<StreamInfo>> streams();
  // Offset just past the last frame of segment i.
  Result<uint64_t> segment_end_offset(size_t i);
};

// Sequential iteration over a seq range, across segments.
class SeqScan {
 public:
  SeqScan(Reader::Impl* reader, uint64_t from, uint64_t to) : r_(reader), from_(from), to_(to) {}
  bool next(RecordView* out);
  const Status& status() const { return status_; }
  // Makes the next record returned the first with seq >= `seq` (forward only).
  void advance_to(uint64_t seq) { from_ = std::max(from_, seq); }

 private:
  bool start();
  bool skip_damage();
  bool open_segment(size_t i, uint64_t offset, uint64_t expected_seq);
  bool fail(Status s) {
    status_ = std::move(s);
    done_ = true;
    return false;
  }

  Reader::Impl* r_;
  uint64_t from_, to_;
  bool started_ = false, done_ = false;
  size_t segment_ = 0;
  std::unique_ptr<wal::SegmentScanner> scanner_;
  uint64_t segment_first_seq_ = 0;
  Status status_;
};

}  // namespace reel
