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
#include "wal/frame.h"

namespace reel {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::seconds;

constexpr auto kDelay = std::chrono::seconds(60);
constexpr auto kDeadline = std::chrono::seconds(20);

StoreOptions long_delay() {
  StoreOptions o;
  o.index_delay = kDelay;
  o.index_sync_interval = kDelay;  // which caps the delay
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

TEST(IndexDelay, ABacklogOfASixteenthOfTheRingDoesNotWaitOutTheDelay) {
  testing::TempDir dir;
  StoreOptions o = long_delay();
  o.segment_bytes_max = 1 << 20;
  // Filled ~480 times over below: producers that waited for the index
  // thread's delay, or even for their own 100 ms space check, each time
  // the ring fills would miss the deadline.
  o.ring_bytes = 64 * 1024;
  auto store = Store::open(dir.path(), o);
  ASSERT_TRUE(store) << store.status().to_string();
  constexpr auto kLonger = std::chrono::seconds(30);
  const auto t0 = Clock::now();
  const std::string big(2000, 'b');
  uint64_t last = 0;
  for (int i = 0; i < 15000 && Clock::now() - t0 < kLonger; ++i) {  // ~30 MB
    auto seq = (*store)->append("s", big);
    ASSERT_TRUE(seq) << seq.status().to_string();
    last = *seq;
  }
  EXPECT_LT(Clock::now() - t0, kLonger) << "appends waited for the index's delay";
  EXPECT_EQ(last, 15000u);
  ASSERT_TRUE((*store)->close());
}

// The frame reel writes for a `payload_bytes` payload in stream 1 (with
// the stream's name "s" when `first`).
size_t frame_bytes(size_t payload_bytes, bool first) {
  const std::string payload(payload_bytes, 'x');
  wal::RecordFields f;
  f.stream = 1;
  f.payload = payload;
  if (first) f.stream_name = "s";
  wal::FrameEncoder encoder;
  return encoder.prepare(f);
}

// The largest payload whose frame is at most `frame` bytes (`first` as above).
size_t payload_for_frame(size_t frame, bool first) {
  size_t p = frame;
  while (frame_bytes(p, first) > frame) --p;
  return p;
}

// A record of half the ring right after a small one still unindexed, placed
// so that the big one's claim must wrap: the ring is then "full" with a
// backlog of one small record, far below what ends the delay. The producer
// asks for the index itself (store.cc); without that, its append waits out
// the delay (blocking) or is refused until then (fail_if_full).
TEST(IndexDelay, AnAppendFindingTheRingFullDoesNotWaitOutTheDelay) {
  constexpr size_t kRing = 64 * 1024;
  // The largest frame the ring takes: half of it less a segment header.
  const size_t big_payload = payload_for_frame(kRing / 2 - wal::kSegmentHeaderBytes, false);
  const size_t big = frame_bytes(big_payload, false);
  const size_t small = frame_bytes(100, false);
  // The small record ends just past kRing - big: the big one wraps, and its
  // padding + itself + the small record are more than the ring.
  const size_t filler = kRing - big + 8 - wal::kSegmentHeaderBytes - small;
  const size_t filler_payload = payload_for_frame(filler, true);
  ASSERT_EQ(frame_bytes(filler_payload, true), filler) << "no payload makes that frame";
  for (const bool fail_if_full : {false, true}) {
    SCOPED_TRACE(fail_if_full ? "fail_if_full" : "blocking");
    testing::TempDir dir;
    StoreOptions o = long_delay();
    o.segment_bytes_max = 1 << 20;
    o.ring_bytes = kRing;
    auto store = Store::open(dir.path(), o);
    ASSERT_TRUE(store) << store.status().to_string();
    auto first = (*store)->append("s", std::string(filler_payload, 'f'));
    ASSERT_TRUE(first && (*store)->wait(*first, Level::kIndexed, kDeadline));
    auto pending = (*store)->append("s", std::string(100, 's'));
    ASSERT_TRUE(pending && (*store)->wait(*pending, Level::kWritten, kDeadline));
    settle();  // the small record waits in the index thread's delay
    AppendOptions ao;
    ao.fail_if_full = true;
    auto seq = (*store)->append("s", std::string(big_payload, 'B'), ao);
    ASSERT_FALSE(seq) << "the ring did not fill: this test's layout is off";
    ASSERT_EQ(seq.status().code(), Code::kBusy) << seq.status().to_string();
    const auto t0 = Clock::now();
    ao.fail_if_full = fail_if_full;
    do {
      seq = (*store)->append("s", std::string(big_payload, 'B'), ao);
    } while (!seq && seq.status().code() == Code::kBusy && Clock::now() - t0 < kDeadline);
    ASSERT_TRUE(seq) << seq.status().to_string();
    EXPECT_LT(Clock::now() - t0, kDeadline);
    ASSERT_TRUE((*store)->close());
  }
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

// Store::request() asks and returns: the index thread indexes now instead
// of after its delay (a minute here), and the journal thread syncs a store
// whose policy never does (kNone). The 30 s deadlines only end a hung test.
TEST(IndexDelay, ARequestIndexesAndSyncsWithoutWaiting) {
  testing::TempDir dir;
  StoreOptions o = long_delay();
  o.sync.mode = SyncPolicy::Mode::kNone;
  auto store = Store::open(dir.path(), o);
  ASSERT_TRUE(store) << store.status().to_string();
  auto seq = (*store)->append("s", "one");
  ASSERT_TRUE(seq);
  ASSERT_TRUE((*store)->wait(*seq, Level::kWritten));
  settle();
  ASSERT_LT((*store)->watermarks().indexed_seq, *seq) << "indexed before any request";
  ASSERT_LT((*store)->watermarks().durable_seq, *seq) << "synced before any request";
  ASSERT_TRUE((*store)->request(*seq, Level::kIndexed));
  ASSERT_TRUE((*store)->request(*seq, Level::kDurable));
  const auto deadline = Clock::now() + seconds(30);
  while (((*store)->watermarks().indexed_seq < *seq || (*store)->watermarks().durable_seq < *seq) &&
         Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_GE((*store)->watermarks().indexed_seq, *seq);
  EXPECT_GE((*store)->watermarks().durable_seq, *seq);
  EXPECT_EQ((*store)->request(*seq + 1, Level::kDurable).code(), Code::kInvalidArgument);
  ASSERT_TRUE((*store)->close());
}

}  // namespace
}  // namespace reel
