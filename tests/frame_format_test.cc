// The frame format: the worked example of schemas/format.md pinned byte for
// byte, a round trip of every header field and accessor, and every way a
// frame can fail to decode.
#include <cstring>
#include <random>
#include <vector>

#include <flatbuffers/flatbuffers.h>
#include <gtest/gtest.h>

#include "test_util.h"
#include "util/coding.h"
#include "util/crc32c.h"
#include "wal/frame.h"
#include "wal/segment_file.h"

namespace reel::wal {
namespace {

RecordFields example_fields() {
  RecordFields f;
  f.seq = 1;
  f.ts_ns = 1763717400123456789ull;  // 2025-11-21T09:30:00.123456789Z
  f.stream = 1;
  f.source_seq = 42;
  f.payload = "hello";
  f.stream_name = "ticks";
  return f;
}

std::vector<uint8_t> encode(const RecordFields& f, uint32_t segment_no = 0) {
  FrameEncoder enc;
  std::vector<uint8_t> buf(enc.prepare(f));
  enc.write(segment_no, buf);
  return buf;
}

// schemas/format.md, "Worked example": the bytes reel writes. The body is
// a Record FlatBuffer in reel's fixed layout ("Record layout"); any valid
// Record reads the same, so a layout change needs no format version, but it
// must change the spec too.
const uint8_t kExampleFrame[] = {
    0x5a, 0x00, 0x00, 0x00, 0xd4, 0x7e, 0x57, 0xd2, 0x01, 0x00, 0x00, 0x00,  //
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  //
    0x1c, 0x00, 0x00, 0x00, 0x52, 0x45, 0x4c, 0x31, 0x12, 0x00, 0x28, 0x00,  //
    0x04, 0x00, 0x0c, 0x00, 0x1c, 0x00, 0x14, 0x00, 0x00, 0x00, 0x20, 0x00,  //
    0x24, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,  //
    0x00, 0x00, 0x00, 0x00, 0x15, 0xbd, 0x88, 0x7e, 0xa1, 0xfb, 0x79, 0x18,  //
    0x2a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,  //
    0x08, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00,  //
    0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00,  //
    0x74, 0x69, 0x63, 0x6b, 0x73, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

TEST(Crc32c, MatchesTheStandardCheckValue) {
  EXPECT_EQ(crc32c::value("123456789", 9), 0xE3069283u);
  EXPECT_EQ(crc32c::value("", 0), 0u);
}

TEST(Crc32c, ExtendEqualsOneShot) {
  std::string data(1000, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7);
  for (size_t cut : {0, 1, 7, 8, 9, 500, 999, 1000}) {
    uint32_t a =
        crc32c::extend(crc32c::value(data.data(), cut), data.data() + cut, data.size() - cut);
    EXPECT_EQ(a, crc32c::value(data.data(), data.size())) << cut;
  }
}

TEST(FrameFormat, WorkedExampleBytesArePinned) {
  auto frame = encode(example_fields());
  ASSERT_EQ(frame.size(), sizeof kExampleFrame);
  EXPECT_EQ(0, std::memcmp(frame.data(), kExampleFrame, sizeof kExampleFrame));
}

TEST(FrameFormat, HeaderFieldsSitAtTheirOffsets) {
  auto frame = encode(example_fields(), 7);
  EXPECT_EQ(frame_bytes_for_body(decode_fixed32(frame.data() + kFrameLengthOffset)), frame.size());
  EXPECT_EQ(decode_fixed64(frame.data() + kFrameSeqOffset), 1u);
  EXPECT_EQ(decode_fixed32(frame.data() + kFrameSegmentNoOffset), 7u);
  EXPECT_EQ(decode_fixed16(frame.data() + kFrameFlagsOffset), 0u);
  EXPECT_EQ(decode_fixed16(frame.data() + kFrameReservedOffset), 0u);
  uint32_t crc = crc32c::value(frame.data(), 4);
  crc = crc32c::extend(crc, frame.data() + 8, frame.size() - 8);  // padding included
  EXPECT_EQ(decode_fixed32(frame.data() + kFrameChecksumOffset), crc);
}

// The direct encoder against FlatBuffers' own builder, the reference: for
// random records, both verify and every accessor agrees.
TEST(FrameFormat, DirectEncodingReadsLikeTheFlatBuffersBuilders) {
  std::mt19937_64 rng(testing::test_seed());
  FrameEncoder enc;
  flatbuffers::FlatBufferBuilder fbb;
  for (int i = 0; i < 2000; ++i) {
    RecordFields f;
    f.seq = rng() | 1;
    f.ts_ns = rng() % 3 == 0 ? 0 : rng();
    f.stream = static_cast<uint32_t>(rng());
    f.source_seq = rng() % 2 == 0 ? 0 : rng();
    const std::string payload(rng() % 300, static_cast<char>('a' + i % 26));
    const std::string key(rng() % 3 == 0 ? 0 : 1 + rng() % 40, 'k');
    const std::string name(rng() % 2 == 0 ? 0 : 1 + rng() % 30, 'n');
    f.payload = payload;
    f.key = key;
    f.stream_name = name;
    std::vector<uint8_t> frame(enc.prepare(f));
    enc.write(5, frame);
    DecodedFrame d;
    ASSERT_EQ(decode_frame(frame, 5, &d), FrameStatus::kOk) << i;
    fbb.Clear();
    auto key_off = key.empty()
                       ? 0
                       : fbb.CreateVector(reinterpret_cast<const uint8_t*>(key.data()), key.size());
    auto payload_off =
        fbb.CreateVector(reinterpret_cast<const uint8_t*>(payload.data()), payload.size());
    auto name_off = name.empty() ? 0 : fbb.CreateString(name);
    reel::fb::RecordBuilder rb(fbb);
    rb.add_seq(f.seq);
    rb.add_ts_ns(f.ts_ns);
    rb.add_stream(f.stream);
    rb.add_source_seq(f.source_seq);
    if (!key.empty()) rb.add_key(key_off);
    rb.add_payload(payload_off);
    if (!name.empty()) rb.add_stream_name(name_off);
    fbb.Finish(rb.Finish(), reel::fb::RecordIdentifier());
    flatbuffers::Verifier verifier(fbb.GetBufferPointer(), fbb.GetSize());
    ASSERT_TRUE(reel::fb::VerifyRecordBuffer(verifier));
    const auto* ref = reel::fb::GetRecord(fbb.GetBufferPointer());
    const auto* got = d.record;
    EXPECT_EQ(got->seq(), ref->seq());
    EXPECT_EQ(got->ts_ns(), ref->ts_ns());
    EXPECT_EQ(got->stream(), ref->stream());
    EXPECT_EQ(got->source_seq(), ref->source_seq());
    auto bytes = [](const flatbuffers::Vector<uint8_t>* v) {
      return v == nullptr ? std::string("<absent>")
                          : std::string(reinterpret_cast<const char*>(v->data()), v->size());
    };
    EXPECT_EQ(bytes(got->key()), bytes(ref->key()));
    EXPECT_EQ(bytes(got->payload()), bytes(ref->payload()));
    EXPECT_EQ(got->stream_name() == nullptr, ref->stream_name() == nullptr);
    if (got->stream_name() != nullptr) {
      EXPECT_EQ(got->stream_name()->str(), ref->stream_name()->str());
    }
  }
}

TEST(FrameFormat, EveryAccessorRoundTrips) {
  RecordFields f = example_fields();
  f.seq = 0x0102030405060708ull;
  f.ts_ns = 0x1122334455667788ull;
  f.stream = 0xA1B2C3D4u;
  f.source_seq = 0xFFEEDDCCBBAA9988ull;
  f.key = "the-key";
  auto frame = encode(f, 3);
  DecodedFrame d;
  ASSERT_EQ(decode_frame(frame, 3, &d), FrameStatus::kOk);
  EXPECT_EQ(d.seq, f.seq);
  EXPECT_EQ(d.frame_bytes, frame.size());
  EXPECT_EQ(d.frame_bytes % kFrameAlignment, 0u);
  EXPECT_EQ(d.record->seq(), f.seq);
  EXPECT_EQ(d.record->ts_ns(), f.ts_ns);
  EXPECT_EQ(d.record->stream(), f.stream);
  EXPECT_EQ(d.record->source_seq(), f.source_seq);
  EXPECT_EQ(d.record->key()->size(), 7u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(d.record->key()->data()), 7), "the-key");
  EXPECT_EQ(d.record->payload()->size(), 5u);
  EXPECT_EQ(d.record->stream_name()->str(), "ticks");
}

TEST(FrameFormat, PaddingIsZeroAndFramesAreAligned) {
  for (size_t len = 0; len < 40; ++len) {
    RecordFields f = example_fields();
    std::string payload(len, 'x');
    f.payload = payload;
    auto frame = encode(f);
    ASSERT_EQ(frame.size() % 8, 0u);
    const uint32_t body = decode_fixed32(frame.data());
    for (size_t i = kFrameHeaderBytes + body; i < frame.size(); ++i) EXPECT_EQ(frame[i], 0);
  }
}

TEST(FrameFormat, ZerosAreTheEndOfData) {
  std::vector<uint8_t> zeros(64, 0);
  DecodedFrame d;
  EXPECT_EQ(decode_frame(zeros, 0, &d), FrameStatus::kEndOfData);
  EXPECT_EQ(decode_frame({}, 0, &d), FrameStatus::kEndOfData);
}

TEST(FrameFormat, ZeroLengthWithDataIsNotTheEnd) {
  std::vector<uint8_t> bytes(64, 0);
  bytes[9] = 1;
  DecodedFrame d;
  EXPECT_EQ(decode_frame(bytes, 0, &d), FrameStatus::kBadLength);
}

TEST(FrameFormat, TruncatedFrameIsReportedAtEveryLength) {
  auto frame = encode(example_fields());
  DecodedFrame d;
  for (size_t n = 1; n < frame.size(); ++n) {
    auto st = decode_frame({frame.data(), n}, 0, &d);
    EXPECT_TRUE(st == FrameStatus::kTruncated) << n << " " << frame_status_name(st);
  }
}

TEST(FrameFormat, EverySingleBitFlipIsDetected) {
  auto frame = encode(example_fields());
  for (size_t byte = 0; byte < frame.size(); ++byte) {  // padding too: it is checksummed
    for (int bit = 0; bit < 8; ++bit) {
      auto damaged = frame;
      damaged[byte] ^= static_cast<uint8_t>(1 << bit);
      DecodedFrame d;
      EXPECT_NE(decode_frame(damaged, 0, &d), FrameStatus::kOk) << byte << ":" << bit;
    }
  }
}

TEST(FrameFormat, WrongSegmentNumberIsRejected) {
  auto frame = encode(example_fields(), 4);
  DecodedFrame d;
  EXPECT_EQ(decode_frame(frame, 5, &d), FrameStatus::kBadHeader);
}

TEST(FrameFormat, ImplausibleLengthIsRejected) {
  auto frame = encode(example_fields());
  encode_fixed32(frame.data(), kMaxFrameBodyBytes + 1);
  DecodedFrame d;
  EXPECT_EQ(decode_frame(frame, 0, &d), FrameStatus::kBadLength);
}

// Recomputes the checksum after a test changed bytes it covers.
void reseal(std::vector<uint8_t>* frame) {
  encode_fixed32(frame->data() + kFrameChecksumOffset,
                 frame_checksum(decode_fixed32(frame->data()), frame->data(), frame->size()));
}

TEST(FrameFormat, ValidChecksumOverBadBodyIsRejected) {
  auto frame = encode(example_fields());
  frame[kFrameBodyOffset] ^= 0xff;  // break the FlatBuffer's root offset
  reseal(&frame);
  DecodedFrame d;
  EXPECT_EQ(decode_frame(frame, 0, &d), FrameStatus::kBadRecord);
}

// A body whose checksum matches is trusted without the verifier, but its
// root and vtable offsets are still bounds-checked, without wrapping.
TEST(FrameFormat, TrustedChecksumStillBoundsChecksTheOffsets) {
  for (uint32_t root : {0xFFFFFFF8u, 0x7FFFFFFCu, 0x1000u}) {
    auto frame = encode(example_fields());
    encode_fixed32(frame.data() + kFrameBodyOffset, root);
    reseal(&frame);
    DecodedFrame d;
    EXPECT_EQ(decode_frame(frame, 0, &d, BodyCheck::kTrustChecksum), FrameStatus::kBadRecord)
        << root;
  }
  auto frame = encode(example_fields());
  DecodedFrame d;
  ASSERT_EQ(decode_frame(frame, 0, &d, BodyCheck::kTrustChecksum), FrameStatus::kOk);
  EXPECT_EQ(d.record->seq(), 1u);
}

// Leaving the checksum to a later checker (the replay server's
// subscribers): a payload bit flip passes, but the verifier still rejects a
// body whose offsets point anywhere, and the header is still checked.
TEST(FrameFormat, LeavingTheChecksumStillVerifiesTheBody) {
  auto frame = encode(example_fields());
  DecodedFrame d;
  auto payload_flip = frame;
  payload_flip[frame.size() - 20] ^= 0x01;
  EXPECT_NE(decode_frame(payload_flip, 0, &d), FrameStatus::kOk);
  EXPECT_EQ(decode_frame(payload_flip, 0, &d, BodyCheck::kVerifyLeaveChecksum), FrameStatus::kOk);
  for (uint32_t root : {0xFFFFFFF8u, 0x7FFFFFFCu, 0x1000u, 0x10u}) {
    auto bad = frame;
    encode_fixed32(bad.data() + kFrameBodyOffset, root);  // no reseal: the CRC is not read
    EXPECT_EQ(decode_frame(bad, 0, &d, BodyCheck::kVerifyLeaveChecksum), FrameStatus::kBadRecord)
        << root;
  }
  EXPECT_EQ(decode_frame(frame, 5, &d, BodyCheck::kVerifyLeaveChecksum), FrameStatus::kBadHeader);
}

TEST(FrameFormat, HeaderSeqMustMatchRecordSeq) {
  auto frame = encode(example_fields());
  encode_fixed64(frame.data() + kFrameSeqOffset, 2);
  reseal(&frame);
  DecodedFrame d;
  EXPECT_EQ(decode_frame(frame, 0, &d), FrameStatus::kBadRecord);
}

TEST(FrameFormat, PaddingRegionDecodesAsPadding) {
  std::vector<uint8_t> pad(32, 0);
  encode_fixed32(pad.data(), kPaddingBit | 32);
  DecodedFrame d;
  ASSERT_EQ(decode_frame(pad, 0, &d), FrameStatus::kPadding);
  EXPECT_EQ(d.frame_bytes, 32u);
  EXPECT_EQ(d.record, nullptr);
  encode_fixed32(pad.data(), kPaddingBit | 8);
  EXPECT_EQ(decode_frame(pad, 0, &d), FrameStatus::kPadding);
  EXPECT_EQ(d.frame_bytes, 8u);
}

TEST(FrameFormat, MalformedPaddingIsDamage) {
  std::vector<uint8_t> pad(32, 0);
  DecodedFrame d;
  for (uint32_t bad_size : {0u, 4u, 12u, 31u}) {
    encode_fixed32(pad.data(), kPaddingBit | bad_size);
    EXPECT_EQ(decode_frame(pad, 0, &d), FrameStatus::kBadLength) << bad_size;
  }
  encode_fixed32(pad.data(), kPaddingBit | 40);
  EXPECT_EQ(decode_frame(pad, 0, &d), FrameStatus::kTruncated);
  encode_fixed32(pad.data(), kPaddingBit | 32);
  pad[20] = 1;  // padding is zeros after its word
  EXPECT_EQ(decode_frame(pad, 0, &d), FrameStatus::kBadLength);
}

TEST(SegmentHeader, RoundTrips) {
  SegmentHeader h;
  h.store_id = 0x1234567890abcdefull;
  h.first_seq = 1000001;
  h.segment_no = 9;
  h.capacity_bytes = 1 << 20;
  uint8_t bytes[kSegmentHeaderBytes];
  encode_segment_header(h, bytes);
  EXPECT_EQ(0, std::memcmp(bytes, "REELWAL1", 8));
  SegmentHeader out;
  ASSERT_TRUE(decode_segment_header(bytes, "x.seg", &out));
  EXPECT_EQ(out.store_id, h.store_id);
  EXPECT_EQ(out.first_seq, h.first_seq);
  EXPECT_EQ(out.segment_no, h.segment_no);
  EXPECT_EQ(out.capacity_bytes, h.capacity_bytes);
  EXPECT_EQ(out.format_version, kFormatVersion);
}

// The segment header's 64 bytes, pinned. The CRC32C was computed outside
// reel (a bitwise Castagnoli CRC in Python), not by reel's encoder.
TEST(SegmentHeader, BytesArePinned) {
  wal::SegmentHeader h;
  h.store_id = 0x0102030405060708ull;
  h.first_seq = 1001;
  h.segment_no = 7;
  h.capacity_bytes = uint64_t{1} << 30;
  uint8_t bytes[wal::kSegmentHeaderBytes];
  wal::encode_segment_header(h, bytes);
  const std::string expected(
      "REELWAL1"
      "\x01\x00\x00\x00\x40\x00\x00\x00"                  // version 1, header_bytes 64
      "\x08\x07\x06\x05\x04\x03\x02\x01"                  // store_id
      "\xe9\x03\x00\x00\x00\x00\x00\x00"                  // first_seq 1001
      "\x07\x00\x00\x00\x00\x00\x00\x00"                  // segment_no 7, flags 0
      "\x00\x00\x00\x40\x00\x00\x00\x00"                  // capacity_bytes 1 GiB
      "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"  // reserved
      "\xc7\xc3\xc2\xb9",                                 // crc32c
      64);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(bytes), sizeof bytes), expected);
}

TEST(SegmentHeader, EveryBitFlipIsDetected) {
  SegmentHeader h;
  h.store_id = 77;
  h.first_seq = 1;
  uint8_t bytes[kSegmentHeaderBytes];
  encode_segment_header(h, bytes);
  for (size_t byte = 0; byte < kSegmentHeaderBytes; ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      uint8_t damaged[kSegmentHeaderBytes];
      std::memcpy(damaged, bytes, sizeof damaged);
      damaged[byte] ^= static_cast<uint8_t>(1 << bit);
      SegmentHeader out;
      Status s = decode_segment_header(damaged, "wal/x.seg", &out);
      EXPECT_FALSE(s.is_ok()) << byte << ":" << bit;
      EXPECT_NE(s.message().find("wal/x.seg"), std::string::npos);
    }
  }
}

TEST(SegmentFileName, RoundTrips) {
  EXPECT_EQ(segment_file_name(1), "00000000000000000001.seg");
  EXPECT_EQ(parse_segment_file_name("00000000000000000001.seg"), 1u);
  EXPECT_EQ(parse_segment_file_name("00000000000001000001.seg"), 1000001u);
  EXPECT_FALSE(parse_segment_file_name("0000000000000000001.seg"));
  EXPECT_FALSE(parse_segment_file_name("00000000000000000001.seg.tmp"));
  EXPECT_FALSE(parse_segment_file_name("0000000000000000000x.seg"));
}

}  // namespace
}  // namespace reel::wal
