#include "wal/frame.h"

#include <cassert>
#include <cstring>

#include "util/coding.h"
#include "util/crc32c.h"

namespace reel::wal {

size_t FrameEncoder::prepare(const RecordFields& f) {
  seq_ = f.seq;
  builder_.Clear();
  flatbuffers::Offset<flatbuffers::Vector<uint8_t>> key_off;
  if (!f.key.empty()) {
    key_off = builder_.CreateVector(reinterpret_cast<const uint8_t*>(f.key.data()), f.key.size());
  }
  auto payload_off =
      builder_.CreateVector(reinterpret_cast<const uint8_t*>(f.payload.data()), f.payload.size());
  flatbuffers::Offset<flatbuffers::String> name_off;
  if (!f.stream_name.empty()) {
    name_off = builder_.CreateString(f.stream_name.data(), f.stream_name.size());
  }
  reel::fb::RecordBuilder rb(builder_);
  rb.add_seq(f.seq);
  rb.add_ts_ns(f.ts_ns);
  rb.add_source_seq(f.source_seq);
  rb.add_stream(f.stream);
  if (!f.key.empty()) rb.add_key(key_off);
  rb.add_payload(payload_off);
  if (!f.stream_name.empty()) rb.add_stream_name(name_off);
  builder_.Finish(rb.Finish(), reel::fb::RecordIdentifier());
  return frame_bytes_for_body(builder_.GetSize());
}

void FrameEncoder::set_seq(uint64_t seq) {
  auto* table = flatbuffers::GetMutableRoot<flatbuffers::Table>(builder_.GetBufferPointer());
  const bool stored = table->SetField<uint64_t>(reel::fb::Record::VT_SEQ, seq, 0);
  assert(stored && "prepare() with a non-zero seq first");
  (void)stored;
  seq_ = seq;
}

uint32_t frame_checksum(uint32_t length_word, const uint8_t* frame, size_t frame_bytes) {
  uint8_t word[4];
  encode_fixed32(word, length_word);
  return crc32c::extend(crc32c::value(word, 4), frame + kFrameSeqOffset,
                        frame_bytes - kFrameSeqOffset);
}

uint32_t FrameEncoder::write_unpublished(uint32_t segment_no, std::span<uint8_t> dst) const {
  const size_t body = builder_.GetSize();
  const size_t total = frame_bytes_for_body(body);
  const auto length_word = static_cast<uint32_t>(body);
  uint8_t* p = dst.data();
  encode_fixed64(p + kFrameSeqOffset, seq_);
  encode_fixed32(p + kFrameSegmentNoOffset, segment_no);
  encode_fixed16(p + kFrameFlagsOffset, 0);
  encode_fixed16(p + kFrameReservedOffset, 0);
  std::memcpy(p + kFrameBodyOffset, builder_.GetBufferPointer(), body);
  std::memset(p + kFrameBodyOffset + body, 0, total - kFrameBodyOffset - body);
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

FrameStatus decode_frame(std::span<const uint8_t> buf, uint32_t segment_no, DecodedFrame* out) {
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
  if (frame_checksum(body, p, total) != decode_fixed32(p + kFrameChecksumOffset)) {
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
  flatbuffers::Verifier verifier(body_ptr, body);
  if (!reel::fb::VerifyRecordBuffer(verifier)) return FrameStatus::kBadRecord;
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

}  // namespace reel::wal
