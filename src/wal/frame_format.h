// Frame and segment-header constants, format version 1. The prose spec with a
// worked example is schemas/format.md; tests/frame_format_test.cc pins the
// example's bytes. Writer, scanner, reader and verify all use this header.
//
// A frame is the unit on disk and on the wire, byte-identical in both places:
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +---------------------------------------------------------------+
//  |                      body_length (u32 LE)                     |  0
//  +---------------------------------------------------------------+
//  |                         crc32c (u32 LE)                       |  4
//  +---------------------------------------------------------------+
//  |                                                               |  8
//  +                          seq (u64 LE)                         +
//  |                                                               |
//  +---------------------------------------------------------------+
//  |                      segment_no (u32 LE)                      | 16
//  +-------------------------------+-------------------------------+
//  |         flags (u16 LE)        |       reserved (u16, 0)       | 20
//  +-------------------------------+-------------------------------+
//  |        body: a reel.fb.Record FlatBuffer, body_length bytes  ... 24
//  +---------------------------------------------------------------+
//  |        zero padding to the next multiple of 8 bytes          ...
//  +---------------------------------------------------------------+
//
// Padding: where the ingest ring wrapped, the WAL holds a padding region
// instead of a frame: a u32 word 0x80000000 | padding_bytes (padding_bytes a
// multiple of 8, at least 8, the word included) followed only by zero bytes.
// It carries no seq and is skipped by every reader. Frame bodies are at most
// 64 MiB, so bit 31 never appears in a frame's body_length; a real frame's
// bytes are never all zeros after its first word, so damage cannot pass for
// padding.
//
// crc32c covers bytes [0, 4) and [8, frame end): everything but itself,
// padding included, so every bit of a frame is checked. body_length == 0
// never occurs in a frame, so a zero word (preallocated space) marks the end
// of data.
#pragma once

#include <cstddef>
#include <cstdint>

namespace reel::wal {

inline constexpr uint32_t kFormatVersion = 1;

inline constexpr size_t kFrameAlignment = 8;
inline constexpr size_t kFrameHeaderBytes = 24;
inline constexpr size_t kFrameLengthOffset = 0;
inline constexpr size_t kFrameChecksumOffset = 4;
inline constexpr size_t kFrameSeqOffset = 8;
inline constexpr size_t kFrameSegmentNoOffset = 16;
inline constexpr size_t kFrameFlagsOffset = 20;
inline constexpr size_t kFrameReservedOffset = 22;
inline constexpr size_t kFrameBodyOffset = kFrameHeaderBytes;

// Flags. A reader that meets an unknown flag outside kFlagsSafeToIgnore must
// stop: the frame uses a feature it does not know.
inline constexpr uint16_t kFlagSafeToIgnoreMask = 0xff00;  // bits 8..15
inline constexpr uint16_t kKnownFlags = 0x0000;

// Largest body a frame may carry (the record, not counting the frame header).
inline constexpr uint32_t kMaxFrameBodyBytes = 64u << 20;

inline constexpr uint32_t kPaddingBit = 0x80000000u;

inline constexpr size_t frame_bytes_for_body(size_t body_length) {
  return (kFrameHeaderBytes + body_length + kFrameAlignment - 1) & ~(kFrameAlignment - 1);
}

// Segment header: the first kSegmentHeaderBytes of every segment file.
//
//   0   magic "REELWAL1" (8 bytes)
//   8   format_version   u32 LE
//   12  header_bytes     u32 LE (= 64)
//   16  store_id         u64 LE (random, fixed when the store is created)
//   24  first_seq        u64 LE (also the file name)
//   32  segment_no       u32 LE (0 for the first segment, +1 per roll)
//   36  flags            u32 LE (0)
//   40  capacity_bytes   u64 LE (preallocated size of the file)
//   48  reserved         12 bytes of zeros
//   60  crc32c           u32 LE over bytes [0, 60)
inline constexpr char kSegmentMagic[8] = {'R', 'E', 'E', 'L', 'W', 'A', 'L', '1'};
inline constexpr size_t kSegmentHeaderBytes = 64;
inline constexpr size_t kSegHdrVersionOffset = 8;
inline constexpr size_t kSegHdrHeaderBytesOffset = 12;
inline constexpr size_t kSegHdrStoreIdOffset = 16;
inline constexpr size_t kSegHdrFirstSeqOffset = 24;
inline constexpr size_t kSegHdrSegmentNoOffset = 32;
inline constexpr size_t kSegHdrFlagsOffset = 36;
inline constexpr size_t kSegHdrCapacityOffset = 40;
inline constexpr size_t kSegHdrChecksumOffset = 60;

}  // namespace reel::wal
