// The index thread's batching delay (StoreOptions::index_delay): it indexes
// written records after waiting for more, but nothing that must not wait
// for it does: wait(kIndexed), close(), producers facing a full ring. And
// readers see every written record meanwhile (past the index, from the WAL).
//
// Each test sets a delay far longer than its own deadline: a path that
// waited it out would fail the deadline, not merely run slowly.
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "reel/reel.h"
#include "test_util.h"

namespace reel {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::seconds;

constexpr auto kDelay = std::chrono::seconds(60);
constexpr auto kDeadline = std::chrono::seconds(20);

StoreOptions long_delay() {
  StoreOptions o;
  o.index_delay = kDelay;
  return o;
}

// Long enough for the index thread, woken by a write, to be in its delay.
void settle() {
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
}

std::string payload(int i) {
  std::string p = "record ";
  p += std::to_string(i);
  p.append(static_cast<size_t>(i % 200), 'p');
  return p;
}

TEST(IndexDelay, AWaitForTheIndexDoesNotWaitOutTheDelay) {
  testing::TempDir dir;
  auto store = Store::open(dir.path(), long_delay());
  ASSERT_TRUE(store) << store.status().to_string();
  for (int round = 0; round < 3; ++round) {  // idle index thread, then one that just indexed
    uint64_t last = 0;
    for (int i = 0; i < 10; ++i) last = *(*store)->append("s", payload(i));
    ASSERT_TRUE((*store)->wait(last, Level::kWritten, kDeadline));
    settle();  // the index thread into its delay
    const auto t0 = Clock::now();
    ASSERT_TRUE((*store)->wait(last, Level::kIndexed, kDeadline)) << "round " << round;
    EXPECT_LT(Clock::now() - t0, kDeadline);
    EXPECT_GE((*store)->watermarks().indexed_seq, last);
  }
  ASSERT_TRUE((*store)->flush());  // flush() waits for kIndexed too
  ASSERT_TRUE((*store)->close());
}

TEST(IndexDelay, WithoutARequestRecordsAreIndexedOnceTheDelayIsOver) {
  testing::TempDir dir;
  StoreOptions o;
  o.index_delay = std::chrono::milliseconds(20);
  auto store = Store::open(dir.path(), o);
  ASSERT_TRUE(store) << store.status().to_string();
  uint64_t last = 0;
  for (int i = 0; i < 5; ++i) last = *(*store)->append("s", payload(i));
  const auto deadline = Clock::now() + kDeadline;
  while ((*store)->watermarks().indexed_seq < last && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_GE((*store)->watermarks().indexed_seq, last);
  ASSERT_TRUE((*store)->close());
}

TEST(IndexDelay, CloseDoesNotWaitOutTheDelayAndLeavesEverythingIndexed) {
  testing::TempDir dir;
  uint64_t last = 0;
  {
    auto store = Store::open(dir.path(), long_delay());
    ASSERT_TRUE(store) << store.status().to_string();
    for (int i = 0; i < 100; ++i) last = *(*store)->append("s", payload(i));
    ASSERT_TRUE((*store)->wait(last, Level::kWritten, kDeadline));
    settle();
    const auto t0 = Clock::now();
    ASSERT_TRUE((*store)->close());
    EXPECT_LT(Clock::now() - t0, kDeadline);
  }
  auto reader = Reader::open(dir.path());
  ASSERT_TRUE(reader) << reader.status().to_string();
  EXPECT_EQ((*reader)->watermarks().indexed_seq, last) << "close() indexed everything";
}

TEST(IndexDelay, ProducersFacingAFullRingDoNotWaitOutTheDelay) {
  testing::TempDir dir;
  StoreOptions o = long_delay();
  o.segment_bytes_max = 1 << 20;
  // Filled 300 times over below: a producer that waited for the index
  // thread's delay, or even for its own 100 ms space check, each time the
  // ring fills would miss the deadline.
  o.ring_bytes = 64 * 1024;
  auto store = Store::open(dir.path(), o);
  ASSERT_TRUE(store) << store.status().to_string();
  const auto t0 = Clock::now();
  const std::string big(2000, 'b');
  uint64_t last = 0;
  for (int i = 0; i < 10000 && Clock::now() - t0 < kDeadline; ++i) {  // ~20 MB
    auto seq = (*store)->append("s", big);
    ASSERT_TRUE(seq) << seq.status().to_string();
    last = *seq;
  }
  EXPECT_LT(Clock::now() - t0, kDeadline) << "appends waited for the index's delay";
  EXPECT_EQ(last, 10000u);
  ASSERT_TRUE((*store)->close());
}

TEST(IndexDelay, ReadersSeeWrittenRecordsTheIndexHasNotReached) {
  testing::TempDir dir;
  auto store = Store::open(dir.path(), long_delay());
  ASSERT_TRUE(store) << store.status().to_string();
  ASSERT_TRUE((*store)->flush());  // the index thread idle, its delay ahead of it
  std::vector<uint64_t> seqs;
  for (int i = 0; i < 20; ++i) seqs.push_back(*(*store)->append("s", payload(i)));
  ASSERT_TRUE((*store)->wait(seqs.back(), Level::kWritten, kDeadline));
  auto reader = Reader::open(dir.path());
  ASSERT_TRUE(reader) << reader.status().to_string();
  EXPECT_LT((*reader)->watermarks().indexed_seq, seqs.back())
      << "the index caught up already: this test no longer reads past it";
  for (size_t i = 0; i < seqs.size(); ++i) {
    auto v = (*reader)->get(seqs[i]);
    ASSERT_TRUE(v) << "seq " << seqs[i] << ": " << v.status().to_string();
    EXPECT_EQ(v->payload(), payload(static_cast<int>(i)));
  }
  ASSERT_TRUE((*store)->close());
}

}  // namespace
}  // namespace reel
