#include "store/segment_cursor.h"

namespace reel::store {

using Scan = wal::SegmentScanner;

SegmentCursor::SegmentCursor(SegmentSet* segs, WriterStateFn writer, Depth depth,
                             wal::BodyCheck check)
    : segs_(segs), writer_(std::move(writer)), depth_(depth), check_(check) {}

SegmentCursor::~SegmentCursor() = default;

void SegmentCursor::seek(size_t segment, uint64_t offset, uint64_t expected_seq) {
  segment_ = segment;
  offset_ = offset;
  expected_ = expected_seq;
  mapped_ = nullptr;
  scanner_.reset();
  after_fault_ = AfterFault::kNone;
}

bool SegmentCursor::open_segment() {
  auto mapped = segs_->map(segment_);
  if (!mapped) {
    status_ = mapped.status();
    return false;
  }
  mapped_ = *mapped;
  rescan_at_stop();
  return true;
}

void SegmentCursor::rescan_at_stop() {
  scanner_ = std::make_unique<Scan>(mapped_->bytes, mapped_->header, mapped_->name, offset_,
                                    expected_, wal::ScanMode::kFast, check_);
}

// Searches past the stop at offset_ with `mode`. kCorruption: valid frames
// follow (next() resumes at them); kTornTail: bad bytes to the end of the
// segment; kEnd: only zeros; kFrame: the frame is there now.
SegmentCursor::Step SegmentCursor::classify(wal::ScanMode mode, bool last, bool live) {
  // With no writer, a search never reads past the segment's data:
  // preallocated space never written is a hole, zeros by definition (a 1 GiB
  // segment holding 1 MiB is searched over 1 MiB).
  std::span<const uint8_t> bytes = mapped_->bytes;
  if (mode != wal::ScanMode::kFast && !live) {
    bytes = bytes.first(std::min<uint64_t>(bytes.size(), segs_->data_end(segment_)));
  }
  auto classifier = std::make_unique<Scan>(bytes, mapped_->header, mapped_->name, offset_,
                                           expected_, mode, check_);
  wal::DecodedFrame ignored;
  const auto step = classifier->next(&ignored);
  if (step == Scan::Step::kFrame) return Step::kFrame;
  if (step == Scan::Step::kEnd) return Step::kEnd;
  fault_ = classifier->fault();
  torn_end_ = classifier->torn_end();
  if (step == Scan::Step::kCorruption) {
    scanner_ = std::move(classifier);  // its next() resumes at the valid frame
    return corruption(AfterFault::kResume);
  }
  if (!last) {
    fault_.what += "; later segments exist";
    return corruption(AfterFault::kNextSegment);
  }
  if (live) {
    fault_.what += "; the writer reports seq " + std::to_string(expected_) + " written";
    return corruption(AfterFault::kStuck);
  }
  return Step::kTornTail;
}

// At the end of a segment that is not the last: on to the next one, which
// must start at the expected seq.
SegmentCursor::Step SegmentCursor::leave_segment(Then* then) {
  const size_t next = segment_ + 1;
  if (segs_->first_seq(next) != expected_) {
    fault_ = {segs_->name(next), wal::kSegmentHeaderBytes, expected_,
              "starts at seq " + std::to_string(segs_->first_seq(next)) + " but seq " +
                  std::to_string(expected_) + " was expected"};
    return corruption(AfterFault::kNextSegment);
  }
  auto mapped = segs_->map(next);
  if (!mapped) {
    // A last segment whose header never reached the disk (a crash while an
    // older reel created it in place): nothing is in it.
    if (next + 1 >= segs_->size() && segs_->header_incomplete(next)) return Step::kEnd;
    return error(mapped.status());
  }
  seek(next, wal::kSegmentHeaderBytes, expected_);
  mapped_ = *mapped;
  rescan_at_stop();
  *then = Then::kReadOn;
  return Step::kFrame;
}

SegmentCursor::Step SegmentCursor::judge_zeros(bool later, bool live, uint64_t written_seq,
                                               Then* then) {
  const bool audit = depth_ == Depth::kAudit && !live;
  if (audit || live) {
    const Step s =
        classify(audit ? wal::ScanMode::kFull : wal::ScanMode::kClassifyFaults, !later, live);
    if (s == Step::kFrame) {
      *then = Then::kReadOn;
      return s;
    }
    if (s != Step::kEnd) return s;
    if (live) {
      fault_ = {mapped_->name, offset_, expected_,
                "zeros where the writer reports seq " + std::to_string(expected_) +
                    " written (written_seq " + std::to_string(written_seq) + ")"};
      return corruption(AfterFault::kStuck);
    }
  }
  if (!later) return Step::kEnd;
  return leave_segment(then);
}

// The scanner stopped at offset_: zeros, or bytes that are not a frame.
// Judged as the header comment says. A fault found while no writer seemed
// live is confirmed against the head file once more: a writer that started
// meanwhile (or a new session) may be writing the bytes just judged, so the
// stop is then the live end and is looked at again later.
SegmentCursor::Step SegmentCursor::judge(Then* then) {
  const WriterState ws = writer_ ? writer_() : WriterState{};  // 1: before the bytes
  const Step step = judge_once(ws, then);
  if (writer_ && (step == Step::kCorruption || step == Step::kTornTail)) {
    const WriterState now = writer_();
    if (now.generation != ws.generation || now.live != ws.live) {
      after_fault_ = AfterFault::kNone;
      rescan_at_stop();
      *then = Then::kReport;
      return Step::kEnd;
    }
  }
  return step;
}

SegmentCursor::Step SegmentCursor::judge_once(const WriterState& ws, Then* then) {
  *then = Then::kReport;
  rescan_at_stop();  // whatever the verdict, the next look starts at the stop
  if (ws.live && expected_ > ws.written_seq && at_last_segment()) return Step::kEnd;
  // 2. The listing, then 3. the bytes at the stop, again.
  bool later = segment_ + 1 < segs_->size();
  if (!later) {
    if (Status s = segs_->refresh(); !s) return error(s);
    later = segment_ + 1 < segs_->size();
  }
  wal::DecodedFrame probe;
  const auto again = wal::SegmentScanner(mapped_->bytes, mapped_->header, mapped_->name, offset_,
                                         expected_, wal::ScanMode::kFast, check_)
                         .next(&probe);
  if (again == Scan::Step::kFrame) {
    *then = Then::kReadOn;
    return Step::kFrame;
  }
  if (!later && ws.live && expected_ > ws.written_seq) return Step::kEnd;
  const bool live = ws.live && !later;
  if (again == Scan::Step::kEnd) return judge_zeros(later, live, ws.written_seq, then);
  const Step s = classify(wal::ScanMode::kClassifyFaults, !later, live);
  if (s == Step::kFrame) *then = Then::kReadOn;
  if (s != Step::kEnd) return s;
  // Bad bytes here, and only zeros after them: a torn tail.
  fault_ = {mapped_->name, offset_, expected_, "a frame that does not check out"};
  torn_end_ = offset_;
  return Step::kTornTail;
}

SegmentCursor::Step SegmentCursor::next(wal::DecodedFrame* frame) {
  if (after_fault_ == AfterFault::kStuck) {
    after_fault_ = AfterFault::kNone;
    return Step::kEnd;  // the same stop again would give the same fault
  }
  if (after_fault_ == AfterFault::kNextSegment) {
    after_fault_ = AfterFault::kNone;
    if (at_last_segment()) return Step::kEnd;
    seek(segment_ + 1, wal::kSegmentHeaderBytes, segs_->first_seq(segment_ + 1));
  }
  after_fault_ = AfterFault::kNone;
  if (mapped_ == nullptr) {
    if (segment_ >= segs_->size()) {
      if (Status s = segs_->refresh(); !s) return error(s);
      if (segment_ >= segs_->size()) return Step::kEnd;
    }
    if (!open_segment()) {
      if (at_last_segment() && segs_->header_incomplete(segment_)) return Step::kEnd;
      return Step::kError;
    }
  }
  for (;;) {
    const auto step = scanner_->next(frame);
    if (step == Scan::Step::kFrame) {
      frame_offset_ = scanner_->frame_offset();
      offset_ = scanner_->offset();
      expected_ = scanner_->expected_seq();
      return Step::kFrame;
    }
    offset_ = scanner_->offset();
    expected_ = scanner_->expected_seq();
    Then then;
    const Step judged = judge(&then);
    if (then == Then::kReport) return judged;
    // A frame is at the stop now, or the next segment begins: read on.
  }
}

}  // namespace reel::store
