// FrameRing: the ByteRing whose records are WAL frames, built in place.
//
// A frame's first 4 bytes (body_length) are the ring's length word: the
// producer builds the frame with FrameEncoder::write_unpublished() in its
// claimed slot and publishes the returned body_length. Ring padding is the
// WAL's padding region (wal/frame_format.h: 0x80000000 | bytes, then zeros),
// so the journaller writes ring memory as it is and the WAL is an exact image
// of the ring's positions.
#pragma once

#include "ring/byte_ring.h"
#include "wal/frame_format.h"

namespace reel::pipeline {

struct FrameRingTraits {
  static constexpr uint32_t kPaddingBit = wal::kPaddingBit;
  static size_t record_bytes(uint32_t w) {
    return (w & kPaddingBit) != 0 ? (w & ~kPaddingBit) : wal::frame_bytes_for_body(w);
  }
  static bool is_padding(uint32_t w) { return (w & kPaddingBit) != 0; }
  static uint32_t padding_word(size_t bytes) { return kPaddingBit | static_cast<uint32_t>(bytes); }
};
static_assert(wal::kMaxFrameBodyBytes < FrameRingTraits::kPaddingBit);

using FrameRing = ring::ByteRing<FrameRingTraits>;

}  // namespace reel::pipeline
