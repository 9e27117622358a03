// SegmentScanner: clean ends, torn tails at every byte, corruption with valid
// frames after it, and every single-bit flip in a small segment.
#include <cstring>
#include <vector>

#include <gtest/gtest.h>

#include "util/coding.h"
#include "wal/frame.h"
#include "wal/segment_scanner.h"

namespace reel::wal {
namespace {

// An in-memory segment: header, frames for seqs first..first+n-1, zeros.
struct Segment {
  SegmentHeader header;
  std::vector<uint8_t> bytes;
  std::vector<uint64_t> frame_offsets;  // plus the end offset
  uint64_t padding_offset = 0;
};

// With padding_after >= 0, a 24-byte padding region follows that frame.
Segment make_segment(uint64_t first_seq, int frames, size_t capacity = 4096,
                     int padding_after = -1) {
  Segment seg;
  seg.header.store_id = 99;
  seg.header.first_seq = first_seq;
  seg.header.segment_no = 2;
  seg.header.capacity_bytes = capacity;
  seg.bytes.assign(capacity, 0);
  encode_segment_header(seg.header, seg.bytes.data());
  FrameEncoder enc;
  uint64_t offset = kSegmentHeaderBytes;
  for (int i = 0; i < frames; ++i) {
    RecordFields f;
    f.seq = first_seq + i;
    f.ts_ns = 1000 + i;
    f.stream = 1;
    std::string payload = "payload-" + std::to_string(i);
    f.payload = payload;
    size_t n = enc.prepare(f);
    enc.write(seg.header.segment_no, {seg.bytes.data() + offset, n});
    seg.frame_offsets.push_back(offset);
    offset += n;
    if (i == padding_after) {
      encode_fixed32(seg.bytes.data() + offset, kPaddingBit | 24);
      offset += 24;
      seg.padding_offset = offset - 24;
    }
  }
  seg.frame_offsets.push_back(offset);
  return seg;
}

struct ScanResult {
  std::vector<uint64_t> seqs;
  SegmentScanner::Step last;
  ScanFault fault;
  uint64_t end_offset;
};

ScanResult scan_all(const Segment& seg, std::span<const uint8_t> bytes, ScanMode mode,
                    bool resume_after_corruption = false) {
  SegmentScanner scanner(bytes, seg.header, "wal/test.seg", kSegmentHeaderBytes,
                         seg.header.first_seq, mode);
  ScanResult r;
  DecodedFrame frame;
  for (;;) {
    auto step = scanner.next(&frame);
    if (step == SegmentScanner::Step::kFrame) {
      r.seqs.push_back(frame.seq);
      continue;
    }
    r.last = step;
    r.fault = scanner.fault();
    r.end_offset = scanner.offset();
    if (step == SegmentScanner::Step::kCorruption && resume_after_corruption) continue;
    return r;
  }
}

TEST(SegmentScanner, CleanSegmentEndsAtZeros) {
  Segment seg = make_segment(10, 5);
  for (ScanMode mode : {ScanMode::kFast, ScanMode::kClassifyFaults, ScanMode::kFull}) {
    ScanResult r = scan_all(seg, seg.bytes, mode);
    EXPECT_EQ(r.seqs, (std::vector<uint64_t>{10, 11, 12, 13, 14}));
    EXPECT_EQ(r.last, SegmentScanner::Step::kEnd);
    EXPECT_EQ(r.end_offset, seg.frame_offsets.back());
  }
}

TEST(SegmentScanner, EmptySegmentEndsAtOnce) {
  Segment seg = make_segment(1, 0);
  ScanResult r = scan_all(seg, seg.bytes, ScanMode::kFull);
  EXPECT_TRUE(r.seqs.empty());
  EXPECT_EQ(r.last, SegmentScanner::Step::kEnd);
}

TEST(SegmentScanner, TornTailAtEveryByteOfTheLastFrameIsTheEnd) {
  Segment seg = make_segment(1, 4);
  const uint64_t last_start = seg.frame_offsets[3], end = seg.frame_offsets[4];
  for (uint64_t cut = last_start; cut < end; ++cut) {
    // (a) the file cut short at `cut`
    ScanResult r = scan_all(seg, {seg.bytes.data(), cut}, ScanMode::kFull);
    EXPECT_EQ(r.seqs, (std::vector<uint64_t>{1, 2, 3})) << cut;
    EXPECT_EQ(r.last,
              cut == last_start ? SegmentScanner::Step::kEnd : SegmentScanner::Step::kTornTail)
        << cut;
    EXPECT_EQ(r.end_offset, last_start);
    // (b) the bytes after `cut` never reached the disk (zeros, full size)
    auto partial = seg.bytes;
    std::memset(partial.data() + cut, 0, end - cut);
    const bool changed = partial != seg.bytes;  // the frame may end in zero bytes
    r = scan_all(seg, partial, ScanMode::kFull);
    EXPECT_EQ(r.seqs.size(), changed ? 3u : 4u) << cut;
    EXPECT_NE(r.last, SegmentScanner::Step::kCorruption) << cut;
  }
}

TEST(SegmentScanner, BadFrameFollowedByValidFramesIsCorruption) {
  Segment seg = make_segment(100, 6);
  seg.bytes[seg.frame_offsets[2] + 30] ^= 0x01;
  ScanResult r = scan_all(seg, seg.bytes, ScanMode::kClassifyFaults);
  EXPECT_EQ(r.seqs, (std::vector<uint64_t>{100, 101}));
  EXPECT_EQ(r.last, SegmentScanner::Step::kCorruption);
  EXPECT_EQ(r.fault.offset, seg.frame_offsets[2]);
  EXPECT_EQ(r.fault.expected_seq, 102u);
  EXPECT_EQ(r.fault.message(), "wal/test.seg: bad checksum at offset " +
                                   std::to_string(seg.frame_offsets[2]) + " (seq 102)");
}

TEST(SegmentScanner, ScanResumesAfterCorruptionToListEveryFault) {
  Segment seg = make_segment(1, 8);
  seg.bytes[seg.frame_offsets[1] + 40] ^= 0x80;
  seg.bytes[seg.frame_offsets[5] + 40] ^= 0x80;
  SegmentScanner scanner(seg.bytes, seg.header, "wal/test.seg", kSegmentHeaderBytes, 1,
                         ScanMode::kFull);
  std::vector<uint64_t> seqs, fault_seqs;
  DecodedFrame frame;
  for (;;) {
    auto step = scanner.next(&frame);
    if (step == SegmentScanner::Step::kFrame)
      seqs.push_back(frame.seq);
    else if (step == SegmentScanner::Step::kCorruption)
      fault_seqs.push_back(scanner.fault().expected_seq);
    else
      break;
  }
  EXPECT_EQ(seqs, (std::vector<uint64_t>{1, 3, 4, 5, 7, 8}));
  EXPECT_EQ(fault_seqs, (std::vector<uint64_t>{2, 6}));
}

TEST(SegmentScanner, ZeroedHoleBeforeValidFramesIsCorruption) {
  Segment seg = make_segment(1, 5);
  std::memset(seg.bytes.data() + seg.frame_offsets[2], 0,
              seg.frame_offsets[3] - seg.frame_offsets[2]);
  ScanResult r = scan_all(seg, seg.bytes, ScanMode::kFull);
  EXPECT_EQ(r.last, SegmentScanner::Step::kCorruption);
  EXPECT_EQ(r.fault.expected_seq, 3u);
  // A fast (live reader) scan simply stops there.
  r = scan_all(seg, seg.bytes, ScanMode::kFast);
  EXPECT_EQ(r.last, SegmentScanner::Step::kEnd);
}

TEST(SegmentScanner, GarbageAfterTheLastFrameIsATornTail) {
  Segment seg = make_segment(1, 3);
  seg.bytes[seg.frame_offsets[3] + 100] = 0x5a;
  ScanResult r = scan_all(seg, seg.bytes, ScanMode::kFull);
  EXPECT_EQ(r.seqs.size(), 3u);
  EXPECT_EQ(r.last, SegmentScanner::Step::kTornTail);
  // After a clean shutdown the zeros are not searched: the log simply ends.
  r = scan_all(seg, seg.bytes, ScanMode::kClassifyFaults);
  EXPECT_EQ(r.last, SegmentScanner::Step::kEnd);
}

TEST(SegmentScanner, FrameWithUnexpectedSeqIsAFault) {
  Segment seg = make_segment(1, 3);
  SegmentScanner scanner(seg.bytes, seg.header, "wal/test.seg", kSegmentHeaderBytes, 5,
                         ScanMode::kFull);
  DecodedFrame frame;
  auto step = scanner.next(&frame);
  EXPECT_NE(step, SegmentScanner::Step::kFrame);
  EXPECT_NE(scanner.fault().what.find("seq 1 where 5 was expected"), std::string::npos);
}

TEST(SegmentScanner, EverySingleBitFlipIsDetectedWithItsSeq) {
  Segment seg = make_segment(1, 4, 1024);
  const uint64_t end = seg.frame_offsets.back();
  for (uint64_t byte = kSegmentHeaderBytes; byte < seg.bytes.size(); ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      auto damaged = seg.bytes;
      damaged[byte] ^= static_cast<uint8_t>(1 << bit);
      ScanResult r = scan_all(seg, damaged, ScanMode::kFull);
      ASSERT_NE(r.last, SegmentScanner::Step::kEnd) << "undetected flip at " << byte << ":" << bit;
      if (byte < end) {
        size_t frame = 0;
        while (seg.frame_offsets[frame + 1] <= byte) ++frame;
        EXPECT_EQ(r.fault.expected_seq, 1 + frame) << byte << ":" << bit;
        EXPECT_EQ(r.fault.offset, seg.frame_offsets[frame]) << byte << ":" << bit;
        EXPECT_EQ(r.last,
                  frame == 3 ? SegmentScanner::Step::kTornTail : SegmentScanner::Step::kCorruption);
      } else {
        EXPECT_EQ(r.last, SegmentScanner::Step::kTornTail);  // garbage past the end
      }
    }
  }
}

TEST(SegmentScanner, PaddingWhereTheRingWrappedIsSkipped) {
  Segment seg = make_segment(1, 4, 4096, 1);
  for (ScanMode mode : {ScanMode::kFast, ScanMode::kClassifyFaults, ScanMode::kFull}) {
    ScanResult r = scan_all(seg, seg.bytes, mode);
    EXPECT_EQ(r.seqs, (std::vector<uint64_t>{1, 2, 3, 4}));
    EXPECT_EQ(r.last, SegmentScanner::Step::kEnd);
  }
}

TEST(SegmentScanner, EverySingleBitFlipAroundPaddingIsDetected) {
  Segment seg = make_segment(1, 4, 1024, 1);
  const uint64_t from = seg.frame_offsets[1], to = seg.frame_offsets[3];
  for (uint64_t byte = from; byte < to; ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      auto damaged = seg.bytes;
      damaged[byte] ^= static_cast<uint8_t>(1 << bit);
      ScanResult r = scan_all(seg, damaged, ScanMode::kFull);
      EXPECT_NE(r.last, SegmentScanner::Step::kEnd) << "undetected flip at " << byte << ":" << bit;
    }
  }
}

}  // namespace
}  // namespace reel::wal
