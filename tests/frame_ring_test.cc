// Frames built in ring slots by several producers come out of the ring as
// valid frames, byte-identical to frames encoded the ordinary way.
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "pipeline/frame_ring.h"
#include "ring/wait_strategy.h"
#include "wal/frame.h"

namespace reel::pipeline {
namespace {

wal::RecordFields fields_for(uint64_t seq, const std::string& payload) {
  wal::RecordFields f;
  f.seq = seq;
  f.ts_ns = seq * 10;
  f.stream = 1;
  f.payload = payload;
  return f;
}

TEST(FrameRing, FrameBuiltInASlotEqualsAnOrdinaryFrame) {
  FrameRing ring(1 << 16, 4096, 1, 1, 0);
  wal::FrameEncoder enc;
  const std::string payload = "in-place";
  FrameRing::Claim c;
  ASSERT_EQ(ring.try_claim(enc.prepare(fields_for(1, payload)), &c), FrameRing::ClaimStatus::kOk);
  const uint32_t length = enc.write_unpublished(0, {c.data, c.bytes});
  EXPECT_EQ(ring.length_word(c.position), 0u) << "the length word is written only on publish";
  ring.publish(c, length);
  std::vector<uint8_t> ordinary(c.bytes);
  enc.write(0, ordinary);
  EXPECT_EQ(0, std::memcmp(ordinary.data(), c.data, c.bytes));
  wal::DecodedFrame frame;
  ASSERT_EQ(wal::decode_frame({c.data, c.bytes}, 0, &frame), wal::FrameStatus::kOk);
  EXPECT_EQ(frame.seq, 1u);
}

TEST(FrameRing, ProducersBuildFramesInPlaceAndTheConsumerDecodesEveryOne) {
  FrameRing ring(1 << 16, 4096, 1, 1, 0);
  ring::YieldingWait wait;
  constexpr int kProducers = 3, kEach = 20000;
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      wal::FrameEncoder enc;
      for (int i = 0; i < kEach; ++i) {
        const std::string payload = std::to_string(p) + ":" + std::to_string(i);
        // The seq is known only at claim time. The frame size does not depend
        // on the seq's value as long as it is not 0 (FlatBuffers leaves
        // default-valued scalars out), so size with a placeholder of 1.
        const size_t bytes = enc.prepare(fields_for(1, payload));
        FrameRing::Claim c;
        ASSERT_EQ(ring.claim(bytes, &c, wait), FrameRing::ClaimStatus::kOk);
        ASSERT_EQ(enc.prepare(fields_for(c.seq, payload)), bytes);
        ring.publish(c, enc.write_unpublished(0, {c.data, c.bytes}));
      }
    });
  }
  uint64_t at = 0, expect = 1;
  std::vector<int> next_of(kProducers, 0);
  while (expect <= kProducers * kEach) {
    const uint64_t end = ring.published_end(at, 1 << 16);
    for (uint64_t pos = at; pos < end;) {
      const uint32_t w = ring.length_word(pos);
      if (!FrameRingTraits::is_padding(w)) {
        wal::DecodedFrame frame;
        ASSERT_EQ(wal::decode_frame({ring.at(pos), FrameRingTraits::record_bytes(w)}, 0, &frame),
                  wal::FrameStatus::kOk);
        ASSERT_EQ(frame.seq, expect++);
        const std::string payload(reinterpret_cast<const char*>(frame.record->payload()->data()),
                                  frame.record->payload()->size());
        const int p = payload[0] - '0';
        ASSERT_EQ(payload, std::to_string(p) + ":" + std::to_string(next_of[p]++));
      }
      pos += FrameRingTraits::record_bytes(w);
    }
    ring.release(0, end);
    at = end;
  }
  for (auto& t : producers) t.join();
}

}  // namespace
}  // namespace reel::pipeline
