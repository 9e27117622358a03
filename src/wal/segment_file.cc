#include "wal/segment_file.h"

#include <cstdio>
#include <cstring>

#include "util/coding.h"
#include "util/crc32c.h"
#include "util/time_format.h"

namespace reel::wal {

void encode_segment_header(const SegmentHeader& h, uint8_t* dst) {
  std::memset(dst, 0, kSegmentHeaderBytes);
  std::memcpy(dst, kSegmentMagic, sizeof kSegmentMagic);
  encode_fixed32(dst + kSegHdrVersionOffset, h.format_version);
  encode_fixed32(dst + kSegHdrHeaderBytesOffset, kSegmentHeaderBytes);
  encode_fixed64(dst + kSegHdrStoreIdOffset, h.store_id);
  encode_fixed64(dst + kSegHdrFirstSeqOffset, h.first_seq);
  encode_fixed32(dst + kSegHdrSegmentNoOffset, h.segment_no);
  encode_fixed32(dst + kSegHdrFlagsOffset, 0);
  encode_fixed64(dst + kSegHdrCapacityOffset, h.capacity_bytes);
  encode_fixed32(dst + kSegHdrChecksumOffset, crc32c::value(dst, kSegHdrChecksumOffset));
}

Status decode_segment_header(std::span<const uint8_t> bytes, const std::string& name,
                             SegmentHeader* out) {
  if (bytes.size() < kSegmentHeaderBytes) {
    return Status::corruption(name + ": file too short for a segment header (" +
                              std::to_string(bytes.size()) + " bytes)");
  }
  const uint8_t* p = bytes.data();
  if (std::memcmp(p, kSegmentMagic, sizeof kSegmentMagic) != 0) {
    return Status::corruption(name + ": not a reel segment (bad magic)");
  }
  if (crc32c::value(p, kSegHdrChecksumOffset) != decode_fixed32(p + kSegHdrChecksumOffset)) {
    return Status::corruption(name + ": bad segment header checksum at offset 0");
  }
  out->format_version = decode_fixed32(p + kSegHdrVersionOffset);
  if (out->format_version != kFormatVersion) {
    return Status::corruption(
        name + ": segment format version " + std::to_string(out->format_version) +
        " is not supported (this build reads version " + std::to_string(kFormatVersion) + ")");
  }
  if (decode_fixed32(p + kSegHdrHeaderBytesOffset) != kSegmentHeaderBytes) {
    return Status::corruption(name + ": unexpected segment header size");
  }
  out->store_id = decode_fixed64(p + kSegHdrStoreIdOffset);
  out->first_seq = decode_fixed64(p + kSegHdrFirstSeqOffset);
  out->segment_no = decode_fixed32(p + kSegHdrSegmentNoOffset);
  out->capacity_bytes = decode_fixed64(p + kSegHdrCapacityOffset);
  return Status::ok();
}

std::string segment_file_name(uint64_t first_seq) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%020llu.seg", static_cast<unsigned long long>(first_seq));
  return buf;
}

std::optional<uint64_t> parse_segment_file_name(std::string_view name) {
  if (name.size() != 24 || name.substr(20) != ".seg") return std::nullopt;
  return parse_u64(name.substr(0, 20));
}

}  // namespace reel::wal
