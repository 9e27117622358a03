// reel::Replayer through its library API, and the Pacer's schedule: due
// times from one absolute start (speed, max gap, out-of-order records),
// merged (ts, seq) order, seq and time bounds, loops, stop().
#include "reel/replayer.h"

#include <algorithm>
#include <atomic>
#include <random>
#include <thread>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "reel/reel.h"
#include "replay/pacer.h"
#include "test_util.h"

namespace reel {
namespace {

TEST(Pacer, DueTimesComeFromOneStartNotFromDeltas) {
  replay::Pacer p(2.0, 0, 1'000, 0);
  EXPECT_EQ(p.due(5'000), 1'000u);          // the first record: at the start
  EXPECT_EQ(p.due(7'000), 1'000u + 1'000);  // 2000 ns later at 2x
  EXPECT_EQ(p.due(7'000), 2'000u);          // equal times: due together
  EXPECT_EQ(p.due(1'005'000), 1'000u + 500'000);
}

TEST(Pacer, MaxGapShortensOnlyTheLongGaps) {
  replay::Pacer p(1.0, 100, 0, 0);
  EXPECT_EQ(p.due(1'000), 0u);
  EXPECT_EQ(p.due(1'050), 50u);    // a short gap is kept
  EXPECT_EQ(p.due(11'050), 150u);  // 10000 ns of silence becomes 100
  EXPECT_EQ(p.due(11'060), 160u);
  EXPECT_EQ(p.due(11'000), 100u);  // out of order: no earlier than the timeline allows
}

TEST(Pacer, WaitUntilIsNeverEarlyAndStops) {
  replay::Pacer p(1.0, 0, 0, 60'000);
  std::atomic<bool> stop{false};
  for (uint64_t ahead : {0ull, 30'000ull, 2'000'000ull}) {
    const uint64_t due = replay::mono_ns() + ahead;
    ASSERT_TRUE(p.wait_until(due, stop));
    EXPECT_GE(replay::mono_ns(), due);
  }
  stop.store(true);
  EXPECT_FALSE(p.wait_until(replay::mono_ns() + 10'000'000'000ull, stop));
}

struct Rec {
  uint64_t ts, seq;
  std::string payload;
  bool operator<(const Rec& o) const { return std::tie(ts, seq) < std::tie(o.ts, o.seq); }
};

std::vector<Rec> make_store(const std::string& S, uint64_t seed) {
  auto store = Store::open(S);
  EXPECT_TRUE(store);
  std::mt19937_64 rng(seed);
  std::vector<Rec> all;
  for (int i = 0; i < 500; ++i) {
    const std::string stream = testing::numbered("s", static_cast<int>(rng() % 3));
    AppendOptions ao;
    ao.ts_ns = 1'000'000 + (rng() % 200) * 1'000;  // 0.2 ms span, many equal
    std::string p = stream;
    p.append("/").append(std::to_string(i));
    auto seq = (*store)->append(stream, p, ao);
    EXPECT_TRUE(seq);
    all.push_back({ao.ts_ns, *seq, p});
  }
  EXPECT_TRUE((*store)->close());
  return all;
}

std::vector<Rec> replay(const std::string& S, const ReplayOptions& o, Status* status = nullptr) {
  auto r = Replayer::open(S, o);
  EXPECT_TRUE(r) << r.status().to_string();
  std::vector<Rec> got;
  Status s = (*r)->run([&](const RecordView& v, uint64_t) {
    got.push_back({v.ts_ns(), v.seq(), std::string(v.payload())});
    return Status::ok();
  });
  if (status != nullptr) *status = s;
  EXPECT_TRUE(s) << s.to_string();
  return got;
}

TEST(Replayer, MergesEveryStreamByTsThenSeqWithinBounds) {
  const uint64_t seed = testing::test_seed();
  testing::TempDir dir;
  const std::string S = dir.path() + "/S";
  auto all = make_store(S, seed);
  std::sort(all.begin(), all.end());
  ReplayOptions o;
  o.max = true;
  EXPECT_EQ(replay(S, o).size(), all.size());
  auto got = replay(S, o);
  for (size_t i = 0; i < all.size(); ++i) {
    ASSERT_EQ(got[i].seq, all[i].seq) << i;
    ASSERT_EQ(got[i].payload, all[i].payload) << i;
  }
  // Seq bounds, time bounds, one stream, two loops, paced at 10x.
  o.from_seq = 100;
  o.to_seq = 300;
  o.from_ts_ns = 1'050'000;
  o.to_ts_ns = 1'150'000;
  o.streams = {"s1", "s2"};
  o.loops = 2;
  o.max = false;
  o.speed = 10;
  std::vector<Rec> want;
  for (const auto& r : all) {
    if (r.seq >= 100 && r.seq <= 300 && r.ts >= 1'050'000 && r.ts <= 1'150'000 &&
        r.payload[1] != '0') {
      want.push_back(r);
    }
  }
  got = replay(S, o);
  ASSERT_EQ(got.size(), 2 * want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i].seq, want[i % want.size()].seq) << i;
}

TEST(Replayer, UnknownStreamsAndBadSpeedsAreRefusedAndStopEndsARun) {
  testing::TempDir dir;
  const std::string S = dir.path() + "/S";
  make_store(S, 1);
  ReplayOptions o;
  o.streams = {"nope"};
  EXPECT_EQ(Replayer::open(S, o).status().code(), Code::kNotFound);
  o.streams = {};
  o.speed = 0;
  EXPECT_EQ(Replayer::open(S, o).status().code(), Code::kInvalidArgument);
  o.speed = 1e-9;  // 0.2 ms of history would take days
  auto r = Replayer::open(S, o);
  ASSERT_TRUE(r);
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    (*r)->stop();
  });
  Status s = (*r)->run([](const RecordView&, uint64_t) { return Status::ok(); });
  stopper.join();
  EXPECT_TRUE(s) << s.to_string();
  EXPECT_LT((*r)->stats().records, 500u);
}

// Beside a live writer (another thread appending to two streams): every
// replay gives each stream's records from seq 1 with none skipped, in
// (ts, seq) order, and never fewer than the replay before; no false fault.
TEST(Replayer, ReplaysBesideALiveWriterSkipNothing) {
  testing::TempDir dir;
  const std::string S = dir.path() + "/S";
  auto store = Store::open(S);
  ASSERT_TRUE(store);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> appended{0};
  std::thread writer([&] {
    for (uint64_t i = 1; !stop.load() && i <= 20'000; ++i) {  // bounded: slow builds too
      AppendOptions ao;
      ao.ts_ns = 1'000'000 + i * 1'000;
      const std::string p = testing::numbered("r", i);
      if (!(*store)->append(i % 2 ? "odd" : "even", p, ao)) return;
      appended.store(i);
      if (i % 64 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  while (appended.load() < 100) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_TRUE((*store)->wait(100, Level::kWritten));  // visible to readers from here
  uint64_t last_count = 0;
  for (int run = 0; run < 30; ++run) {
    ReplayOptions o;
    o.max = true;
    auto r = Replayer::open(S, o);
    ASSERT_TRUE(r) << r.status().to_string();
    std::vector<uint64_t> seqs;
    uint64_t prev_ts = 0;
    Status s = (*r)->run([&](const RecordView& v, uint64_t) {
      EXPECT_GE(v.ts_ns(), prev_ts);
      prev_ts = v.ts_ns();
      EXPECT_EQ(v.payload(), testing::numbered("r", v.seq()));
      seqs.push_back(v.seq());
      return Status::ok();
    });
    ASSERT_TRUE(s) << "run " << run << ": " << s.to_string();
    // Each stream's records are a prefix; together, since times follow
    // seqs here, seqs 1..n with at most the newest of one stream missing.
    std::sort(seqs.begin(), seqs.end());
    for (size_t i = 0; i + 1 < seqs.size(); ++i) {
      ASSERT_LE(seqs[i + 1] - seqs[i], 2u) << "run " << run << " skipped after seq " << seqs[i];
    }
    ASSERT_FALSE(seqs.empty());
    EXPECT_LE(seqs.front(), 2u);
    EXPECT_GE(seqs.size() + 1, last_count) << "a replay saw less than the one before";
    last_count = seqs.size();
  }
  stop.store(true);
  writer.join();
  ASSERT_TRUE((*store)->close());
}

}  // namespace
}  // namespace reel
