// SegmentScanner walks the frames of one segment and tells three endings
// apart (reliability.md rules 2 and 3):
//
//   kEnd        zeros from preallocation: the end of the log. Clean.
//   kTornTail   a frame that does not check out, with no valid frame after it
//               anywhere in the segment: a write that a crash cut short. It is
//               the end of the log too; recovery zeroes it. Not corruption.
//   kCorruption a frame that does not check out *followed by valid frames*:
//               never a crash artefact. The fault names segment, offset and the
//               seq expected there. next() may be called again and resumes at
//               the next valid frame, so verify can list every fault.
//
// A frame whose seq is not the one expected next is also a fault. The scanner
// only reads; what to do about a fault is the caller's (LevelDB's
// log::Reader::Reporter split: recovery truncates, verify lists, readers stop).
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "wal/frame.h"
#include "wal/segment_file.h"

namespace reel::wal {

struct ScanFault {
  std::string segment_name;   // e.g. "wal/00000000000000000001.seg"
  uint64_t offset = 0;        // where the bad bytes start
  uint64_t expected_seq = 0;  // the seq that should have been there
  std::string what;           // "bad checksum", "seq 17 where 12 was expected", ...
  // "wal/00000000000000000001.seg: bad checksum at offset 81920 (seq 500000)"
  std::string message() const;
};

// How hard the scanner looks past a stop.
enum class ScanMode {
  // Live readers: zeros end the scan; a bad frame returns kTornTail with
  // fault() filled in but unclassified (the reader decides against the
  // writer's watermark). Never reads past the stop.
  kFast,
  // Recovery after a clean shutdown: a bad frame is classified (torn tail or
  // corruption) by searching the rest of the segment; zeros end the scan.
  kClassifyFaults,
  // Recovery after a crash, and verify: as kClassifyFaults, and zeros are
  // also checked to be followed by nothing valid (a zeroed hole before valid
  // frames is corruption). Reads the whole rest of the segment.
  kFull,
};

class SegmentScanner {
 public:
  enum class Step { kFrame, kEnd, kTornTail, kCorruption };

  // `segment` is the whole file (header included), borrowed for the scanner's
  // life. Scanning starts at `start_offset` (a frame boundary) expecting
  // `expected_seq`.
  SegmentScanner(std::span<const uint8_t> segment, const SegmentHeader& header, std::string name,
                 uint64_t start_offset, uint64_t expected_seq, ScanMode mode,
                 BodyCheck check = BodyCheck::kVerify);

  Step next(DecodedFrame* frame);

  // Offset of the frame the last kFrame step returned (padding before it is
  // skipped, so this can differ from offset() taken before the step).
  uint64_t frame_offset() const { return frame_offset_; }
  // Offset just past the last good frame: where the next frame belongs.
  uint64_t offset() const { return offset_; }
  // Seq the next frame should carry.
  uint64_t expected_seq() const { return expected_seq_; }
  // After kCorruption or kTornTail: what was found.
  const ScanFault& fault() const { return fault_; }
  // After kTornTail: one past the last non-zero byte of the torn region, so
  // [offset(), torn_end()) is what recovery must zero.
  uint64_t torn_end() const { return torn_end_; }

 private:
  // Offset of the next valid frame at or after `from` carrying a seq >= the
  // expected one, or 0 if there is none. Also records the last non-zero byte.
  uint64_t find_next_valid(uint64_t from);
  Step fault_at(uint64_t offset, std::string what);
  // decode_frame at `offset`, with checksums checked ahead in batches when
  // scanning fast (frames_checked_ahead).
  FrameStatus decode_at(uint64_t offset, DecodedFrame* frame);
  void set_fault(uint64_t offset, std::string what);

  std::span<const uint8_t> segment_;
  SegmentHeader header_;
  std::string name_;
  uint64_t offset_;
  uint64_t expected_seq_;
  ScanMode mode_;
  BodyCheck check_;
  uint64_t resume_at_ = 0;  // after kCorruption: where next() continues
  uint64_t frame_offset_ = 0;
  uint64_t torn_end_ = 0;
  uint64_t last_nonzero_end_ = 0;
  static constexpr size_t kCheckedAhead = 16;
  uint64_t checked_[kCheckedAhead] = {};  // offsets whose checksums matched, ascending
  size_t checked_count_ = 0, checked_next_ = 0;
  ScanFault fault_;
};

}  // namespace reel::wal
