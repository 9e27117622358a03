// ByteRing: claims, publication, wrap padding, backpressure, consumer
// chains, and a multi-producer stress under every wait strategy.
#include <atomic>
#include <cstring>
#include <functional>
#include <random>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "ring/byte_ring.h"
#include "ring/wait_strategy.h"
#include "test_util.h"

namespace reel::ring {
namespace {

// Test records: [u32 length word][u32 producer][u64 seq][u64 count][filler].
// Bit 31 of the length word marks padding.
struct TestTraits {
  static size_t record_bytes(uint32_t w) { return w & 0x7fffffffu; }
  static bool is_padding(uint32_t w) { return (w & 0x80000000u) != 0; }
  static uint32_t padding_word(size_t bytes) { return 0x80000000u | static_cast<uint32_t>(bytes); }
};
using Ring = ByteRing<TestTraits>;
constexpr size_t kHeader = 24;

void write_record(Ring::Claim& c, uint32_t producer, uint64_t count) {
  std::memcpy(c.data + 4, &producer, 4);
  std::memcpy(c.data + 8, &c.seq, 8);
  std::memcpy(c.data + 16, &count, 8);
  for (size_t i = kHeader; i < c.bytes; ++i) c.data[i] = static_cast<uint8_t>(c.seq + i);
}

struct Seen {
  uint32_t producer;
  uint64_t seq, count;
  bool intact;
};

// Reads the published records in [from, end) of `ring`.
std::vector<Seen> read_records(Ring& ring, uint64_t from, uint64_t end) {
  std::vector<Seen> out;
  for (uint64_t p = from; p < end;) {
    const uint32_t w = ring.length_word(p);
    const size_t n = TestTraits::record_bytes(w);
    if (!TestTraits::is_padding(w)) {
      const uint8_t* d = ring.at(p);
      Seen s{};
      std::memcpy(&s.producer, d + 4, 4);
      std::memcpy(&s.seq, d + 8, 8);
      std::memcpy(&s.count, d + 16, 8);
      s.intact = true;
      for (size_t i = kHeader; i < n; ++i) s.intact &= d[i] == static_cast<uint8_t>(s.seq + i);
      out.push_back(s);
    }
    p += n;
  }
  return out;
}

TEST(ByteRing, PublishedRecordsComeBackInSeqOrder) {
  Ring ring(1 << 16, 4096, 1, 1, 0);
  for (uint64_t i = 0; i < 100; ++i) {
    Ring::Claim c;
    ASSERT_EQ(ring.try_claim(kHeader + 8 * (i % 5), &c), Ring::ClaimStatus::kOk);
    EXPECT_EQ(c.seq, 1 + i);
    write_record(c, 0, i);
    ring.publish(c, static_cast<uint32_t>(c.bytes));
  }
  const uint64_t end = ring.published_end(0, 1 << 16);
  auto seen = read_records(ring, 0, end);
  ASSERT_EQ(seen.size(), 100u);
  for (uint64_t i = 0; i < 100; ++i) {
    EXPECT_EQ(seen[i].seq, 1 + i);
    EXPECT_TRUE(seen[i].intact);
  }
}

TEST(ByteRing, UnpublishedRecordStopsTheRunEvenIfLaterOnesArePublished) {
  Ring ring(1 << 12, 512, 1, 1, 0);
  Ring::Claim a, b;
  ASSERT_EQ(ring.try_claim(32, &a), Ring::ClaimStatus::kOk);
  ASSERT_EQ(ring.try_claim(32, &b), Ring::ClaimStatus::kOk);
  write_record(b, 0, 1);
  ring.publish(b, 32);
  EXPECT_EQ(ring.published_end(0, 4096), 0u);
  write_record(a, 0, 0);
  ring.publish(a, 32);
  EXPECT_EQ(ring.published_end(0, 4096), 64u);
}

// A closing store closes claims: every later claim fails, and what was
// claimed before (published or not yet) stays to be consumed.
TEST(ByteRing, ClaimsAfterCloseFailAndWhatWasClaimedStays) {
  Ring ring(1 << 12, 512, 1, 1, 0);
  Ring::Claim a, b, c;
  ASSERT_EQ(ring.try_claim(32, &a), Ring::ClaimStatus::kOk);
  ASSERT_EQ(ring.try_claim(32, &b), Ring::ClaimStatus::kOk);
  write_record(a, 0, 0);
  ring.publish(a, 32);
  ring.close_claims();
  EXPECT_EQ(ring.try_claim(32, &c), Ring::ClaimStatus::kClosed);
  EXPECT_EQ(ring.next_seq(), 3u);
  EXPECT_EQ(ring.next_position(), 64u);
  write_record(b, 0, 1);
  ring.publish(b, 32);  // claimed before the close: still published
  EXPECT_EQ(ring.published_end(0, 4096), 64u);
  ring.close_claims();  // twice: the same
  EXPECT_EQ(ring.next_seq(), 3u);
}

// Claims records of random sizes for `rounds` rounds, draining (and checking
// order and content) whenever the ring is full; `check` sees every claim.
void claim_randomly(Ring& ring, int rounds, const std::function<void(const Ring::Claim&)>& check) {
  std::mt19937_64 rng(testing::test_seed());
  uint64_t consumed = 0, expect_seq = 1;
  for (int round = 0; round < rounds; ++round) {
    Ring::Claim c;
    const size_t bytes = kHeader + 8 * (rng() % 120);
    auto status = ring.try_claim(bytes, &c);
    if (status == Ring::ClaimStatus::kFull) {
      const uint64_t end = ring.published_end(consumed, ring.capacity());
      for (const auto& s : read_records(ring, consumed, end)) {
        ASSERT_EQ(s.seq, expect_seq++);
        ASSERT_TRUE(s.intact);
      }
      ring.release(0, end);
      consumed = end;
      continue;
    }
    ASSERT_EQ(status, Ring::ClaimStatus::kOk);
    check(c);
    write_record(c, 0, 0);
    ring.publish(c, static_cast<uint32_t>(c.bytes));
  }
}

TEST(ByteRing, RecordsNeverWrapAndPaddingFillsTheEnd) {
  Ring ring(4096, 1024, 1, 1, 0);
  int paddings = 0;
  claim_randomly(ring, 2000, [&](const Ring::Claim& c) {
    ASSERT_LE((c.position & 4095) + c.bytes, 4096u) << "record wraps";
    paddings += c.padding_bytes > 0;
  });
  EXPECT_GT(paddings, 10);
}

TEST(ByteRing, FullRingClaimsNothingUntilTheLastConsumerReleases) {
  Ring ring(1024, 256, 2, 1, 0);
  Ring::Claim c;
  int claimed = 0;
  while (ring.try_claim(64, &c) == Ring::ClaimStatus::kOk) {
    write_record(c, 0, 0);
    ring.publish(c, 64);
    ++claimed;
  }
  EXPECT_EQ(claimed, 16);
  const uint64_t next = ring.next_seq();
  EXPECT_EQ(ring.try_claim(64, &c), Ring::ClaimStatus::kFull);
  EXPECT_EQ(ring.next_seq(), next);
  ring.release(0, 512);  // the first consumer alone frees nothing
  EXPECT_EQ(ring.try_claim(64, &c), Ring::ClaimStatus::kFull);
  ring.release(1, 512);
  ASSERT_EQ(ring.try_claim(64, &c), Ring::ClaimStatus::kOk);
  EXPECT_EQ(c.seq, next);
  EXPECT_EQ(ring.length_word(c.position), 0u) << "released space must read as zero";
}

TEST(ByteRing, FullRingWithALaggingLastConsumerShowsNoStaleRecords) {
  // When the ring is full, the claim point is exactly where the previous
  // lap's unreleased records start; consumer 0 must not read them again.
  Ring ring(1024, 256, 2, 1, 0);
  Ring::Claim c;
  while (ring.try_claim(64, &c) == Ring::ClaimStatus::kOk) {
    write_record(c, 0, 0);
    ring.publish(c, 64);
  }
  const uint64_t end = ring.published_end(0, 1 << 20);
  EXPECT_EQ(end, 1024u);
  ring.release(0, end);
  EXPECT_EQ(ring.published_end(end, 1 << 20), end) << "consumer 0 walked into the old lap";
}

TEST(ByteRing, SegmentsStartWithAHeaderGapAndNoRecordCrossesOne) {
  constexpr uint64_t kSegment = 8192;
  Ring ring(4096, 1024, 1, 1, 0, kSegment, 64);
  uint64_t segments_started = 0;
  claim_randomly(ring, 3000, [&](const Ring::Claim& c) {
    ASSERT_EQ(ring.segment_of(c.position), ring.segment_of(c.position + c.bytes - 1))
        << "record at " << c.position << " crosses a segment boundary";
    ASSERT_GE(ring.segment_offset(c.position), 64u) << "record inside a segment header";
    if (c.gap_bytes > 0) {
      EXPECT_EQ(c.gap_bytes, 64u);
      EXPECT_EQ(ring.segment_offset(c.gap_position), 0u);
      EXPECT_EQ(ring.segment_offset(c.position), 64u);
      ++segments_started;
    }
  });
  EXPECT_GT(segments_started, 20u);
}

TEST(ByteRing, FirstClaimOfAFreshStoreLeavesRoomForTheFirstSegmentHeader) {
  Ring ring(4096, 1024, 1, 1, 0, 4096, 64);
  Ring::Claim c;
  ASSERT_EQ(ring.try_claim(32, &c), Ring::ClaimStatus::kOk);
  EXPECT_EQ(c.position, 64u);
  // Resuming a segment after recovery starts exactly where its data ended.
  Ring resumed(4096, 1024, 1, 7, 4096 * 3 + 1000, 4096, 64);
  ASSERT_EQ(resumed.try_claim(32, &c), Ring::ClaimStatus::kOk);
  EXPECT_EQ(c.position, 4096u * 3 + 1000);
  EXPECT_EQ(c.seq, 7u);
  EXPECT_EQ(c.gap_bytes, 0u);
}

TEST(ByteRing, OversizedAndMisalignedClaimsAreRefused) {
  Ring ring(1024, 256, 1, 1, 0);
  Ring::Claim c;
  EXPECT_EQ(ring.try_claim(264, &c), Ring::ClaimStatus::kTooLarge);
  EXPECT_EQ(ring.try_claim(30, &c), Ring::ClaimStatus::kTooLarge);
  EXPECT_EQ(ring.try_claim(0, &c), Ring::ClaimStatus::kTooLarge);
  EXPECT_EQ(ring.next_seq(), 1u);
}

// N producers x M records through a chain of two consumers.
template <class Wait>
void stress(int producers, uint64_t each, uint64_t segment_bytes = 0) {
  Ring ring(1 << 16, 2048, 2, 1, 0, segment_bytes, segment_bytes != 0 ? 64 : 0);
  Wait producer_wait, consumer_wait;
  const uint64_t total = static_cast<uint64_t>(producers) * each;
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      std::mt19937 rng(static_cast<unsigned>(p));
      for (uint64_t i = 0; i < each; ++i) {
        Ring::Claim c;
        if (ring.claim(kHeader + 8 * (rng() % 64), &c, producer_wait) != Ring::ClaimStatus::kOk) {
          failed = true;
          return;
        }
        write_record(c, static_cast<uint32_t>(p), i);
        ring.publish(c, static_cast<uint32_t>(c.bytes));
        consumer_wait.notify();
      }
    });
  }
  // Consumer 0 checks order; consumer 1 trails it and checks it never passes.
  std::vector<uint64_t> last_count(producers, 0);
  std::vector<bool> started(producers, false);
  uint64_t expect_seq = 1, seen_by_second = 0;
  std::thread second([&] {
    uint64_t at = 0;
    while (seen_by_second < total) {
      uint64_t end = 0;
      consumer_wait.wait_until([&] { return (end = ring.upstream_end(1)) > at; });
      seen_by_second += read_records(ring, at, end).size();
      ring.release(1, end);
      producer_wait.notify();
      at = end;
    }
  });
  uint64_t at = 0, consumed = 0;
  while (consumed < total) {  // drains everything even after a failure, so nothing hangs
    uint64_t end = 0;
    consumer_wait.wait_until([&] { return (end = ring.published_end(at, 1 << 16)) > at; });
    for (const auto& s : read_records(ring, at, end)) {
      ++consumed;
      if (s.seq != expect_seq++ || !s.intact ||
          (started[s.producer] && s.count != last_count[s.producer] + 1)) {
        if (!failed) {
          ADD_FAILURE() << "seq " << s.seq << " (expected " << expect_seq - 1 << ") producer "
                        << s.producer << " count " << s.count << " intact " << s.intact;
        }
        failed = true;
      }
      started[s.producer] = true;
      last_count[s.producer] = s.count;
    }
    ring.release(0, end);
    consumer_wait.notify();
    at = end;
  }
  for (auto& t : threads) t.join();
  consumer_wait.notify();
  second.join();
  EXPECT_FALSE(failed);
  EXPECT_EQ(expect_seq, total + 1);
  EXPECT_EQ(seen_by_second, total);
  for (int p = 0; p < producers; ++p) EXPECT_EQ(last_count[p], each - 1);
}

TEST(ByteRing, ManyProducersKeepSeqsDenseAndTheirOwnOrderYielding) {
  stress<YieldingWait>(4, 50000);
}
TEST(ByteRing, ManyProducersKeepSeqsDenseAndTheirOwnOrderBlocking) {
  stress<BlockingWait>(4, 50000);
}
TEST(ByteRing, ManyProducersWithSegmentGapsKeepSeqsDenseAndTheirOwnOrder) {
  stress<YieldingWait>(3, 50000, 1 << 17);
}
TEST(ByteRing, ManyProducersKeepSeqsDenseAndTheirOwnOrderBusySpin) {
  stress<BusySpinWait>(2, 20000);
}

// The sleeper is on the futex (or about to be: its count is up) before the
// flag is set; only notify() can end its sleep before its own 60 s limit.
// The 20 s deadline only ends a hung test.
TEST(BlockingWait, NotifyWakesAWaiterAsleepOnTheFutex) {
  Waiter wait(WaitMode::kBlock);
  std::atomic<bool> flag{false}, returned{false};
  std::thread sleeper([&] {
    wait.wait_for([&] { return flag.load(); }, std::chrono::seconds(60));
    returned = true;
  });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!wait.has_sleeper() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const bool asleep = wait.has_sleeper();
  const bool returned_early = returned.load();
  flag = true;
  wait.notify();
  while (!returned.load() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const bool woken = returned.load();
  sleeper.join();
  EXPECT_TRUE(asleep) << "the waiter never went to sleep";
  EXPECT_FALSE(returned_early) << "the waiter returned before its predicate held";
  EXPECT_TRUE(woken) << "notify() did not wake the sleeping waiter";
}

}  // namespace
}  // namespace reel::ring
