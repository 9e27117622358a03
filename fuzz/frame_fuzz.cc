// libFuzzer target: the frame decoder and the segment scanner over any bytes.
// The input is used twice: as a bare frame, and as the body of a segment
// (after a valid header) scanned in every mode until it ends.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "wal/frame.h"
#include "wal/segment_scanner.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace reel::wal;
  const uint32_t segment_no = size > 16 ? data[16] : 0;
  DecodedFrame frame;
  if (decode_frame({data, size}, segment_no, &frame) == FrameStatus::kOk) {
    // A frame that decodes must be fully inside the input and self-consistent.
    if (frame.frame_bytes > size || frame.record->seq() != frame.seq) __builtin_trap();
    volatile size_t touch = frame.record->payload()->size();
    (void)touch;
  }
  SegmentHeader header;
  header.store_id = 1;
  header.first_seq = size > 8 ? data[8] : 1;
  header.segment_no = segment_no;
  header.capacity_bytes = kSegmentHeaderBytes + size;
  std::vector<uint8_t> segment(kSegmentHeaderBytes + size);
  encode_segment_header(header, segment.data());
  std::copy(data, data + size, segment.begin() + kSegmentHeaderBytes);
  for (ScanMode mode : {ScanMode::kFast, ScanMode::kClassifyFaults, ScanMode::kFull}) {
    SegmentScanner scanner(segment, header, "fuzz.seg", kSegmentHeaderBytes, header.first_seq,
                           mode);
    for (size_t steps = 0; steps <= size / 8 + 2; ++steps) {
      auto step = scanner.next(&frame);
      if (step == SegmentScanner::Step::kFrame || step == SegmentScanner::Step::kCorruption)
        continue;
      break;
    }
    if (scanner.offset() > segment.size()) __builtin_trap();
  }
  return 0;
}
