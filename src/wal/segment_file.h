// Segment header encoding and segment file naming.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "reel/status.h"
#include "wal/frame_format.h"

namespace reel::wal {

struct SegmentHeader {
  uint32_t format_version = kFormatVersion;
  uint64_t store_id = 0;
  uint64_t first_seq = 0;
  uint32_t segment_no = 0;
  uint64_t capacity_bytes = 0;
};

void encode_segment_header(const SegmentHeader& header, uint8_t* dst /* kSegmentHeaderBytes */);

// Checks magic, version, size and checksum. `name` only labels the error.
Status decode_segment_header(std::span<const uint8_t> bytes, const std::string& name,
                             SegmentHeader* out);

// A segment being created lives under its final name plus this suffix until
// its header and preallocation are durable; readers never list such files.
inline constexpr const char* kSegmentTempSuffix = ".tmp";

// "00000000000000000001.seg" for first_seq 1.
std::string segment_file_name(uint64_t first_seq);
// The first seq encoded in a segment file name, or nullopt if it is not one.
std::optional<uint64_t> parse_segment_file_name(std::string_view name);

}  // namespace reel::wal
