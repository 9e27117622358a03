#include "wal/frame.h"

#include <algorithm>

#include <cstring>

#include "util/coding.h"
#include "util/crc32c.h"

namespace reel::wal {

namespace {

// The Record layout reel writes (schemas/format.md, "Record layout"). Body
// offsets; the body starts 8-aligned, so the u64 fields are aligned.
constexpr uint32_t kRootOffset = 0;
constexpr uint32_t kIdentifierOffset = 4;
constexpr uint32_t kVtableOffset = 8;
constexpr uint16_t kVtableBytes = 4 + 2 * 7;  // 7 fields
constexpr uint32_t kTableOffset = 28;         // after the vtable, 4 mod 8
constexpr uint16_t kSeqField = 4, kTsField = 12, kSourceSeqField = 20, kStreamField = 28,
                   kPayloadField = 32;  // then key and stream_name, if present

constexpr uint32_t align4(uint32_t n) {
  return (n + 3) & ~3u;
}

}  // namespace

size_t largest_frame_bytes(size_t record_bytes) {
  // As prepare(), with a key, a new stream's longest name, and the most
  // padding a split of `record_bytes` between payload and key can add.
  const size_t table_end = kTableOffset + kPayloadField + 4 + 4 + 4;
  const size_t body = table_end + (4 + record_bytes + 3) + (4 + 3) + (4 + kMaxStreamNameBytes + 1);
  return frame_bytes_for_body(body);
}

size_t FrameEncoder::prepare(const RecordFields& f) {
  fields_ = f;
  uint32_t at = kTableOffset + kPayloadField + 4;
  if (!f.key.empty()) at += 4;
  if (!f.stream_name.empty()) at += 4;
  table_end_ = at;
  payload_at_ = at;
  at = align4(at + 4 + static_cast<uint32_t>(f.payload.size()));
  key_at_ = 0;
  if (!f.key.empty()) {
    key_at_ = at;
    at = align4(at + 4 + static_cast<uint32_t>(f.key.size()));
  }
  name_at_ = 0;
  if (!f.stream_name.empty()) {
    name_at_ = at;
    at += 4 + static_cast<uint32_t>(f.stream_name.size()) + 1;  // NUL-terminated
  }
  body_bytes_ = at;
  return frame_bytes_for_body(body_bytes_);
}

uint32_t frame_checksum(uint32_t length_word, const uint8_t* frame, size_t frame_bytes) {
  uint8_t word[4];
  encode_fixed32(word, length_word);
  return crc32c::extend(crc32c::value(word, 4), frame + kFrameSeqOffset,
                        frame_bytes - kFrameSeqOffset);
}

uint32_t FrameEncoder::write_unpublished(uint32_t segment_no, std::span<uint8_t> dst) const {
  const size_t total = frame_bytes_for_body(body_bytes_);
  const uint32_t length_word = body_bytes_;
  uint8_t* p = dst.data();
  encode_fixed64(p + kFrameSeqOffset, fields_.seq);
  encode_fixed32(p + kFrameSegmentNoOffset, segment_no);
  encode_fixed16(p + kFrameFlagsOffset, 0);
  encode_fixed16(p + kFrameReservedOffset, 0);
  uint8_t* b = p + kFrameBodyOffset;
  // Everything after the fixed part of the table starts as zeros: alignment
  // gaps, the string's NUL and the frame padding stay so.
  const size_t fixed = kTableOffset + kPayloadField;
  std::memset(b + fixed, 0, total - kFrameBodyOffset - fixed);
  encode_fixed32(b + kRootOffset, kTableOffset);
  std::memcpy(b + kIdentifierOffset, reel::fb::RecordIdentifier(), 4);
  // The vtable: its size, the table's size, then each field's offset in the
  // table, by field id (0: absent).
  const uint16_t key_field = fields_.key.empty() ? 0 : kPayloadField + 4;
  const uint16_t name_field =
      fields_.stream_name.empty() ? 0 : static_cast<uint16_t>(kPayloadField + (key_field ? 8 : 4));
  const uint16_t vtable[] = {kVtableBytes, static_cast<uint16_t>(table_end_ - kTableOffset),
                             kSeqField,    kTsField,
                             kStreamField, kSourceSeqField,
                             key_field,    kPayloadField,
                             name_field,   0 /* padding to the table */};
  for (size_t i = 0; i < sizeof vtable / sizeof vtable[0]; ++i) {
    encode_fixed16(b + kVtableOffset + 2 * i, vtable[i]);
  }
  // The table: the soffset back to its vtable, the scalars, then uoffsets
  // (each relative to its own slot) to the vectors after the table.
  uint8_t* t = b + kTableOffset;
  encode_fixed32(t, kTableOffset - kVtableOffset);
  encode_fixed64(t + kSeqField, fields_.seq);
  encode_fixed64(t + kTsField, fields_.ts_ns);
  encode_fixed64(t + kSourceSeqField, fields_.source_seq);
  encode_fixed32(t + kStreamField, fields_.stream);
  auto put_vector = [&](uint16_t field, uint32_t at, std::string_view bytes) {
    encode_fixed32(t + field, at - (kTableOffset + field));
    encode_fixed32(b + at, static_cast<uint32_t>(bytes.size()));
    std::memcpy(b + at + 4, bytes.data(), bytes.size());
  };
  put_vector(kPayloadField, payload_at_, fields_.payload);
  if (key_field != 0) put_vector(key_field, key_at_, fields_.key);
  if (name_field != 0) put_vector(name_field, name_at_, fields_.stream_name);
  encode_fixed32(p + kFrameChecksumOffset, frame_checksum(length_word, p, total));
  return length_word;
}

void FrameEncoder::write(uint32_t segment_no, std::span<uint8_t> dst) const {
  encode_fixed32(dst.data() + kFrameLengthOffset, write_unpublished(segment_no, dst));
}

const char* frame_status_name(FrameStatus status) {
  switch (status) {
    case FrameStatus::kOk:
      return "ok";
    case FrameStatus::kEndOfData:
      return "end of data";
    case FrameStatus::kTruncated:
      return "truncated frame";
    case FrameStatus::kBadLength:
      return "bad frame length";
    case FrameStatus::kBadChecksum:
      return "bad checksum";
    case FrameStatus::kBadHeader:
      return "bad frame header";
    case FrameStatus::kBadRecord:
      return "bad record body";
    case FrameStatus::kPadding:
      return "padding";
  }
  return "?";
}

uint64_t peek_frame_seq(std::span<const uint8_t> buf) {
  if (buf.size() < kFrameSeqOffset + 8) return 0;
  return decode_fixed64(buf.data() + kFrameSeqOffset);
}

namespace {

FrameStatus decode_padding(std::span<const uint8_t> buf, uint32_t bytes, DecodedFrame* out) {
  if (bytes < 8 || bytes % kFrameAlignment != 0) return FrameStatus::kBadLength;
  if (bytes > buf.size()) return FrameStatus::kTruncated;
  for (size_t i = 4; i < bytes; ++i) {
    if (buf[i] != 0) return FrameStatus::kBadLength;
  }
  *out = DecodedFrame();
  out->data = buf.data();
  out->frame_bytes = bytes;
  return FrameStatus::kPadding;
}

}  // namespace

namespace {

// The root table and its vtable lie inside the body (kTrustChecksum).
bool offsets_in_body(const uint8_t* body, uint32_t body_bytes) {
  // 64-bit arithmetic: no offset in the body can wrap a check around.
  const uint64_t size = body_bytes;
  const uint64_t root = decode_fixed32(body);
  if (root % 4 != 0 || root + 8 > size) return false;
  const int64_t vtable =
      static_cast<int64_t>(root) - int64_t{static_cast<int32_t>(decode_fixed32(body + root))};
  if (vtable < 0 || vtable % 2 != 0 || static_cast<uint64_t>(vtable) + 4 > size) return false;
  const uint64_t vtable_bytes = decode_fixed16(body + vtable);
  const uint64_t table_bytes = decode_fixed16(body + vtable + 2);
  return static_cast<uint64_t>(vtable) + vtable_bytes <= size && root + table_bytes <= size;
}

}  // namespace

FrameStatus decode_frame(std::span<const uint8_t> buf, uint32_t segment_no, DecodedFrame* out,
                         BodyCheck check, bool checksum_verified) {
  if (buf.size() < 4) return buf.empty() ? FrameStatus::kEndOfData : FrameStatus::kTruncated;
  const uint8_t* p = buf.data();
  const uint32_t body = decode_fixed32(p + kFrameLengthOffset);
  if (body == 0) {
    // Preallocated space reads as zeros; a zero length with anything else
    // non-zero in the header is damage, not the end.
    for (size_t i = 4; i < kFrameHeaderBytes && i < buf.size(); ++i) {
      if (p[i] != 0) return FrameStatus::kBadLength;
    }
    return FrameStatus::kEndOfData;
  }
  if ((body & kPaddingBit) != 0) return decode_padding(buf, body & ~kPaddingBit, out);
  if (body > kMaxFrameBodyBytes || body < 8) return FrameStatus::kBadLength;
  const size_t total = frame_bytes_for_body(body);
  if (total > buf.size()) return FrameStatus::kTruncated;
  if (!checksum_verified && check != BodyCheck::kVerifyLeaveChecksum &&
      frame_checksum(body, p, total) != decode_fixed32(p + kFrameChecksumOffset)) {
    return FrameStatus::kBadChecksum;
  }
  const uint16_t flags = decode_fixed16(p + kFrameFlagsOffset);
  if (decode_fixed32(p + kFrameSegmentNoOffset) != segment_no ||
      decode_fixed16(p + kFrameReservedOffset) != 0 ||
      (flags & ~kFlagSafeToIgnoreMask & ~kKnownFlags) != 0) {
    return FrameStatus::kBadHeader;
  }
  const uint64_t seq = decode_fixed64(p + kFrameSeqOffset);
  const uint8_t* body_ptr = p + kFrameBodyOffset;
  if (check != BodyCheck::kTrustChecksum) {
    flatbuffers::Verifier verifier(body_ptr, body);
    if (!reel::fb::VerifyRecordBuffer(verifier)) return FrameStatus::kBadRecord;
  } else if (!offsets_in_body(body_ptr, body)) {
    return FrameStatus::kBadRecord;
  }
  const auto* record = reel::fb::GetRecord(body_ptr);
  if (record->seq() != seq || record->payload() == nullptr) return FrameStatus::kBadRecord;
  out->data = p;
  out->frame_bytes = total;
  out->body_bytes = body;
  out->seq = seq;
  out->flags = flags;
  out->record = record;
  return FrameStatus::kOk;
}

constexpr uint64_t kHopPrefetchBytes = 1024 + 512;

bool hop_to_frame(std::span<const uint8_t> segment, uint32_t segment_no, uint64_t offset,
                  uint64_t seq_at, uint64_t target, BodyCheck check, DecodedFrame* out,
                  uint64_t bytes_per_record) {
  if (seq_at > target) return false;
  const uint8_t* base = segment.data();
  const uint64_t size = segment.size();
  // Each hop's address depends on the load before it: fetch the stretch up
  // to the target at once (where it probably is, else a whole 1 KiB index
  // block), so the hops find it in cache.
  uint64_t stretch = kHopPrefetchBytes;
  if (bytes_per_record != 0) {
    stretch = std::min(stretch, (target - seq_at + 1) * bytes_per_record + 128);
  }
  const uint64_t stretch_end = std::min<uint64_t>(size, offset + stretch);
  for (uint64_t line = offset & ~uint64_t{63}; line < stretch_end; line += 64) {
    __builtin_prefetch(base + line);
  }
  while (offset + kFrameHeaderBytes <= size) {
    const uint32_t word = decode_fixed32(base + offset);
    if ((word & kPaddingBit) != 0) {  // where the ingest ring wrapped
      const uint32_t bytes = word & ~kPaddingBit;
      if (bytes < 8 || bytes % kFrameAlignment != 0) return false;
      offset += bytes;
      continue;
    }
    if (word < 8 || word > kMaxFrameBodyBytes) return false;
    if (decode_fixed64(base + offset + kFrameSeqOffset) != seq_at) return false;
    if (seq_at == target) {
      return decode_frame(segment.subspan(offset), segment_no, out, check) == FrameStatus::kOk &&
             out->seq == target;
    }
    offset += frame_bytes_for_body(word);
    ++seq_at;
  }
  return false;
}

size_t frames_checked_ahead(std::span<const uint8_t> segment, uint64_t offset, uint64_t* offsets,
                            size_t max_frames) {
  constexpr size_t kLanes = 4;
  const uint8_t* base = segment.data();
  size_t found = 0;
  while (found < max_frames) {
    const uint8_t* data[kLanes];
    size_t n[kLanes];
    uint32_t crcs[kLanes];
    uint64_t at[kLanes];
    size_t lanes = 0;
    while (lanes < kLanes && found + lanes < max_frames &&
           offset + kFrameHeaderBytes <= segment.size()) {
      const uint32_t word = decode_fixed32(base + offset);
      if ((word & kPaddingBit) != 0) {
        const uint32_t bytes = word & ~kPaddingBit;
        if (bytes < 8 || bytes % kFrameAlignment != 0) break;
        offset += bytes;
        continue;
      }
      if (word < 8 || word > kMaxFrameBodyBytes) break;
      const uint64_t total = frame_bytes_for_body(word);
      if (offset + total > segment.size()) break;
      at[lanes] = offset;
      crcs[lanes] = crc32c::value(base + offset, 4);  // the length word
      data[lanes] = base + offset + kFrameSeqOffset;  // then all after the checksum
      n[lanes] = total - kFrameSeqOffset;
      ++lanes;
      offset += total;
    }
    if (lanes == 0) return found;
    crc32c::extend_lanes(crcs, data, n, lanes);
    for (size_t i = 0; i < lanes; ++i) {
      if (crcs[i] != decode_fixed32(base + at[i] + kFrameChecksumOffset)) return found;
      offsets[found++] = at[i];
    }
    if (lanes < kLanes) return found;
  }
  return found;
}

}  // namespace reel::wal
