// SegmentCursor: the one walk over a store's WAL, across segments. Reader,
// Tailer, verify and recovery all read frames through it, so the question
// "is this the live end of the log, the end of an unclean log, or damage?"
// is answered in one place.
//
// Judging a stop. A walk stops where the bytes at the expected seq E are not
// a valid frame (zeros or a frame that does not check out). The cursor then
//   1. asks the writer's state (written_seq W, whether a writer may be live:
//      an acquire load of the head file that pairs with the writer's release
//      store after its write completed),
//   2. looks for the next segment (a segment appears under its final name
//      only after its header is durable, and only after every frame of the
//      segment before it was written),
//   3. decodes the bytes at the stop again.
// Anything the writer finished before step 1 or 2 is visible in step 3, so a
// frame still missing then is judged on facts gathered before its bytes were
// read:
//   - a live writer, no later segment, E > W: the live end (kEnd). The bytes
//     are a frame being written, never corruption;
//   - a later segment exists, or E <= W with a live writer: the frame was
//     complete, so its bytes are damage (kCorruption, naming segment, offset
//     and seq);
//   - no live writer (a closed or crashed store), last segment: zeros are the
//     end of the log (kEnd); a bad frame with no valid frame after it is a
//     torn tail (kTornTail: the end of the log for a reader; recovery cuts
//     it); a bad frame followed by valid frames is kCorruption.
// After kCorruption, next() resumes at the next valid frame when there is
// one (verify lists every fault), and otherwise reports kEnd.
//
// A cursor only reads. It is used by one thread at a time; the SegmentSet it
// borrows must outlive it and is used by no other thread meanwhile.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

#include "reel/status.h"
#include "store/segment_set.h"
#include "wal/segment_scanner.h"

namespace reel::store {

// What a cursor knows about the writer when it judges a stop.
struct WriterState {
  bool live = false;         // a writer may be appending right now
  uint64_t written_seq = 0;  // with a live writer: every seq <= this is whole in the WAL
  uint64_t generation = 0;   // +1 per writer session
};
// Asked at each stop; it must read the head file afresh (acquire).
using WriterStateFn = std::function<WriterState()>;

class SegmentCursor {
 public:
  enum class Step {
    kFrame,       // *frame is the next record
    kEnd,         // the end of the log (live end, or zeros after the last frame)
    kTornTail,    // the end of an unclean log: bad bytes, nothing valid after
    kCorruption,  // damage: fault() names it; next() may continue past it
    kError,       // a segment could not be listed or mapped: status()
  };
  enum class Depth {
    kRead,   // readers: stops are judged, nothing else is searched
    kAudit,  // verify, and recovery after a crash: segments the writer no
             // longer writes are also searched past their zeros (a zeroed
             // hole before valid frames, garbage after the last frame)
  };

  // `segs` is borrowed. `writer` may be empty: no writer (recovery).
  // `check`: how frame bodies are checked (wal/frame.h).
  SegmentCursor(SegmentSet* segs, WriterStateFn writer, Depth depth,
                wal::BodyCheck check = wal::BodyCheck::kVerify);
  ~SegmentCursor();

  // Positions the cursor at a frame boundary: `offset` in segment `segment`,
  // where the frame carrying `expected_seq` belongs.
  void seek(size_t segment, uint64_t offset, uint64_t expected_seq);

  // The next frame, or why there is none. A frame points into the segment's
  // read-only mapping, valid while the SegmentSet lives. After kEnd or
  // kTornTail, calling next() again looks again (a live log grows).
  Step next(wal::DecodedFrame* frame);

  size_t segment() const { return segment_; }
  const MappedSegment* mapped() const { return mapped_; }
  // Offset of the frame the last kFrame returned.
  uint64_t frame_offset() const { return frame_offset_; }
  // Offset just past the last good frame, and the seq that belongs there.
  uint64_t offset() const { return offset_; }
  uint64_t expected_seq() const { return expected_; }
  // After kCorruption or kTornTail.
  const wal::ScanFault& fault() const { return fault_; }
  // After kTornTail: [offset(), torn_end()) holds the torn bytes.
  uint64_t torn_end() const { return torn_end_; }
  // After kError.
  const Status& status() const { return status_; }
  // Whether the segment being read is the last one listed.
  bool at_last_segment() const { return segment_ + 1 >= segs_->size(); }

 private:
  // What next() does after judging a stop.
  enum class Then { kReport, kReadOn };
  // After kCorruption: how next() gets past it.
  enum class AfterFault { kNone, kResume, kNextSegment, kStuck };
  bool open_segment();
  void rescan_at_stop();
  Step judge(Then* then);
  Step judge_once(const WriterState& ws, Then* then);
  Step judge_zeros(bool later, bool live, uint64_t written_seq, Then* then);
  Step leave_segment(Then* then);
  Step classify(wal::ScanMode mode, bool last, bool live);
  Step corruption(AfterFault after) {
    after_fault_ = after;
    return Step::kCorruption;
  }
  Step error(Status s) {
    status_ = std::move(s);
    return Step::kError;
  }

  SegmentSet* segs_;
  WriterStateFn writer_;
  Depth depth_;
  wal::BodyCheck check_;
  size_t segment_ = 0;
  const MappedSegment* mapped_ = nullptr;
  std::unique_ptr<wal::SegmentScanner> scanner_;
  uint64_t offset_ = 0;
  uint64_t expected_ = 0;
  uint64_t frame_offset_ = 0;
  uint64_t torn_end_ = 0;
  AfterFault after_fault_ = AfterFault::kNone;
  wal::ScanFault fault_;
  Status status_;
};

}  // namespace reel::store
