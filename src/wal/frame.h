// FrameEncoder builds complete frames; decode_frame checks and reads one.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "reel/record_generated.h"
#include "wal/frame_format.h"

namespace reel::wal {

// The fields of one record, borrowed: the views must outlive the encode call.
struct RecordFields {
  uint64_t seq = 0;
  uint64_t ts_ns = 0;
  uint32_t stream = 0;
  uint64_t source_seq = 0;
  std::string_view key;  // empty = no key
  std::string_view payload;
  std::string_view stream_name;  // empty = not declared in this record
};

// The longest a stream's name may be (bytes).
inline constexpr size_t kMaxStreamNameBytes = 255;

// An upper bound on the frame of any record whose payload and key hold
// `record_bytes` in all (with a new stream's longest name).
size_t largest_frame_bytes(size_t record_bytes);

// Builds frames. The Record FlatBuffer is written straight into the
// destination (a ring slot), in one fixed layout (schemas/format.md, "Record
// layout"), so a frame is serialised exactly once, where it will live; no
// FlatBufferBuilder, no intermediate copy. Allocates nothing. Not
// thread-safe; the fields' views must stay valid until write().
class FrameEncoder {
 public:
  // Takes `fields` and returns the size of the whole frame (header, body and
  // padding). Nothing is written yet.
  size_t prepare(const RecordFields& fields);

  // Changes the seq of the prepared frame: producers prepare first, learn
  // the seq when they claim ring space of that size, then set it and write.
  void set_seq(uint64_t seq) { fields_.seq = seq; }

  // Writes the prepared frame as a frame of segment `segment_no` into `dst`,
  // which must hold the size prepare() returned; padding is zeroed.
  void write(uint32_t segment_no, std::span<uint8_t> dst) const;

  // As write(), but leaves the first 4 bytes (the length word) untouched and
  // returns their value instead: for frames built in a ring slot, where the
  // length word is stored last, with release, to publish the frame. The
  // checksum already covers the returned value.
  uint32_t write_unpublished(uint32_t segment_no, std::span<uint8_t> dst) const;

  // prepare() + write(); returns the frame size.
  size_t encode(const RecordFields& fields, uint32_t segment_no, std::span<uint8_t> dst) {
    size_t n = prepare(fields);
    write(segment_no, dst);
    return n;
  }

 private:
  RecordFields fields_;
  uint32_t body_bytes_ = 0;
  // Body offsets of the table's end and of each vector (0: absent).
  uint32_t table_end_ = 0, payload_at_ = 0, key_at_ = 0, name_at_ = 0;
};

enum class FrameStatus {
  kOk,
  kEndOfData,    // a zero length word: preallocated space, nothing written here
  kTruncated,    // the frame runs past the end of the buffer
  kBadLength,    // body_length is not plausible
  kBadChecksum,  // crc32c does not match
  kBadHeader,    // wrong segment_no, unknown flag or non-zero reserved bits
  kBadRecord,    // the body is not a valid Record, or its seq differs from the header
  kPadding,      // a padding region (frame_format.h): skip frame_bytes, no record
};
const char* frame_status_name(FrameStatus status);

// A frame that passed every check. Points into the decoded buffer; valid as
// long as that buffer is; never write through it.
struct DecodedFrame {
  const uint8_t* data = nullptr;  // first byte of the frame
  size_t frame_bytes = 0;         // padded size: the next frame starts here
  size_t body_bytes = 0;
  uint64_t seq = 0;
  uint16_t flags = 0;
  const reel::fb::Record* record = nullptr;
};

// How much of a frame's body decode_frame checks once its CRC32C matched.
enum class BodyCheck {
  // The FlatBuffers verifier walks every offset of the Record. Always used
  // for bytes from a network, by recovery and by verify.
  kVerify,
  // The CRC32C match is trusted: the body holds exactly the bytes reel's
  // FrameEncoder wrote into the store's own file (every single-bit error and
  // every burst up to 32 bits is caught, other damage with probability
  // 1 - 2^-32), and that encoder writes one fixed, valid layout (tested
  // against FlatBuffers' own builder). Only the root and vtable offsets are
  // bounds-checked. Bytes crafted by someone who can write the store's files
  // could still point a reader outside the frame: open such stores with
  // ReaderOptions::verify_records. Saves the verifier's ~25 ns per record.
  kTrustChecksum,
  // The FlatBuffers verifier only: the CRC32C is not computed (the frame's
  // lengths, header fields and seq are still checked). For a reader that
  // hands the bytes on to a checker of its own, as the replay server does
  // (every subscriber checks CRC32C and the verifier): the verifier keeps
  // this reader's own accesses to the record in bounds. Damage inside a
  // payload passes here and is caught by that checker.
  kVerifyLeaveChecksum,
};

// Checks the frame at the start of `buf`: length, checksum, header fields
// (segment_no must equal `segment_no`), and that the body is a Record whose
// seq equals the header's (`check` says how thoroughly). A padding region
// gives kPadding with only frame_bytes filled in. Never reads outside `buf`.
// `checksum_verified`: the caller already checked this frame's CRC32C
// (frames_checked_ahead below); it is not computed again.
FrameStatus decode_frame(std::span<const uint8_t> buf, uint32_t segment_no, DecodedFrame* out,
                         BodyCheck check = BodyCheck::kVerify, bool checksum_verified = false);

// Reads ahead of a sequential scan: from the frame boundary `offset`, hops
// up to `max_frames` frames by their length words (skipping padding) and
// checks their CRC32Cs side by side (crc32c::extend_lanes). Writes the
// offsets of the frames whose checksum matched, in order, stopping at the
// first that does not or at anything that is not a frame; returns how many.
size_t frames_checked_ahead(std::span<const uint8_t> segment, uint64_t offset, uint64_t* offsets,
                            size_t max_frames);

// The frame checksum: crc32c over the length word and bytes [8, frame_bytes)
// of `frame` (everything but the checksum field, padding included).
uint32_t frame_checksum(uint32_t length_word, const uint8_t* frame, size_t frame_bytes);

// From the frame boundary `offset` of `segment`, where the frame carrying
// `seq_at` starts, hops frame to frame by their length words (checking only
// that each header carries the next seq) to the frame of `target`, and
// decodes that one fully (`check`). False when anything on the way is not
// as expected (zeros, damage, a frame still being written): the caller then
// reads the careful way, which judges what it finds. Never reads outside
// `segment`.
// `bytes_per_record` (0: unknown) says how far to prefetch.
bool hop_to_frame(std::span<const uint8_t> segment, uint32_t segment_no, uint64_t offset,
                  uint64_t seq_at, uint64_t target, BodyCheck check, DecodedFrame* out,
                  uint64_t bytes_per_record = 0);

// Reads only the header's seq, with no checks.
uint64_t peek_frame_seq(std::span<const uint8_t> buf);

}  // namespace reel::wal
