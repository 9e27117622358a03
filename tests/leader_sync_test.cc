// Leader sync (JournalStage::lead_sync, store/journal_stage.cc): a producer that waits for
// kDurable writes and syncs its own records under the journal lock, beside
// the journal thread, other leaders, timed waiters and close(). These run
// under TSan too (the "Pipeline" filter in tools/dev.sh).
#include <atomic>
#include <chrono>
#include <cstdio>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "fault_env.h"
#include "reel/reel.h"
#include "store/store_internal.h"
#include "test_util.h"

namespace reel {
namespace {

using namespace std::chrono_literals;
using testing::FaultEnv;
using testing::TempDir;

StoreOptions small_segments() {
  StoreOptions o;
  o.segment_bytes_max = 64 * 1024;  // leaders roll segments too
  return o;
}

// "t:i", built piecewise (GCC 12's -Wrestrict misfires on "a" + b chains).
std::string tag(int t, int i) {
  std::string s = std::to_string(t);
  s += ':';
  s += std::to_string(i);
  return s;
}

// Every seq a wait(kDurable) acknowledged is in the store after a reopen,
// with the payload its producer gave it.
void expect_acked_present(const std::string& dir,
                          const std::vector<std::pair<uint64_t, std::string>>& acked) {
  auto reader = Reader::open(dir);
  ASSERT_TRUE(reader) << reader.status().to_string();
  for (const auto& [seq, payload] : acked) {
    auto v = (*reader)->get(seq);
    ASSERT_TRUE(v) << "acknowledged seq " << seq << ": " << v.status().to_string();
    EXPECT_EQ(v->payload(), payload) << "seq " << seq;
  }
}

Result<std::unique_ptr<Store>> open_with_faults(const std::string& dir, FaultEnv::Plan* plan,
                                                StoreOptions options = small_segments()) {
  return store::open_store_with_env(dir, options, std::make_unique<FaultEnv>(plan));
}

// A store stopped by a fault: close() reports it; a reopen recovers and
// every acknowledged record is there.
void close_failed_reopen_and_check(std::unique_ptr<Store> store, const std::string& dir,
                                   const std::vector<std::pair<uint64_t, std::string>>& acked) {
  EXPECT_FALSE(store->close());
  store.reset();
  auto reopened = Store::open(dir);
  ASSERT_TRUE(reopened) << reopened.status().to_string();
  ASSERT_TRUE((*reopened)->close());
  expect_acked_present(dir, acked);
}

// Four producers append and wait for kDurable after each record (each one a
// leader), a fifth polls with timed waits, while the journal thread runs;
// then close() races the last of them. Every acknowledged record is there
// after a reopen, and the index has every record.
TEST(PipelineLeader, ConcurrentLeadersTimedWaitersAndCloseAckOnlyWhatIsStored) {
  TempDir dir;
  auto store = Store::open(dir.path(), small_segments());
  ASSERT_TRUE(store);
  constexpr int kThreads = 4, kEach = 400;
  std::vector<std::vector<std::pair<uint64_t, std::string>>> acked(kThreads);
  std::atomic<bool> stop{false};
  std::atomic<int> timed_ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        const std::string payload = tag(t, i);
        auto seq = (*store)->append(t % 2 ? "s1" : "s0", payload);
        ASSERT_TRUE(seq) << seq.status().to_string();
        Status s = (*store)->wait(*seq, Level::kDurable);
        ASSERT_TRUE(s) << s.to_string();
        acked[t].emplace_back(*seq, payload);
      }
    });
  }
  std::thread poller([&] {
    while (!stop.load()) {
      const uint64_t last = (*store)->last_seq();
      if (last != 0 && (*store)->wait(last, Level::kDurable, 1ms)) timed_ok.fetch_add(1);
      std::this_thread::sleep_for(100us);
    }
  });
  for (auto& th : threads) th.join();
  stop = true;
  poller.join();
  ASSERT_TRUE((*store)->close());
  std::vector<std::pair<uint64_t, std::string>> all;
  for (const auto& a : acked) all.insert(all.end(), a.begin(), a.end());
  ASSERT_EQ(all.size(), size_t{kThreads * kEach});
  expect_acked_present(dir.path(), all);
  auto reader = Reader::open(dir.path());
  ASSERT_TRUE(reader);
  auto stats = (*reader)->stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->watermarks.indexed_seq, uint64_t{kThreads * kEach});
  std::printf("%d timed waits saw their seq durable\n", timed_ok.load());
}

// close() while producers are leading: each wait() either succeeds (and the
// record is there after a reopen) or fails because the store closed; close()
// reports success only if nothing appended was left unwritten.
TEST(PipelineLeader, CloseWhileLeadersWriteLosesNoAcknowledgedRecord) {
  std::mt19937_64 rng(testing::test_seed());
  for (int round = 0; round < 5; ++round) {
    TempDir dir;
    auto store = Store::open(dir.path(), small_segments());
    ASSERT_TRUE(store);
    std::vector<std::vector<std::pair<uint64_t, std::string>>> acked(3);
    std::vector<std::thread> threads;
    for (int t = 0; t < 3; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0;; ++i) {
          const std::string payload = tag(t, i);
          auto seq = (*store)->append("s", payload);
          if (!seq) return;  // closed
          if (!(*store)->wait(*seq, Level::kDurable)) return;
          acked[t].emplace_back(*seq, payload);
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1 + rng() % 20));
    Status closed = (*store)->close();
    for (auto& th : threads) th.join();
    EXPECT_TRUE(closed) << closed.to_string();
    std::vector<std::pair<uint64_t, std::string>> all;
    for (const auto& a : acked) all.insert(all.end(), a.begin(), a.end());
    expect_acked_present(dir.path(), all);
    auto reader = Reader::open(dir.path());
    ASSERT_TRUE(reader);
    // Everything written before close() is indexed, not only what was acked.
    auto stats = (*reader)->stats();
    ASSERT_TRUE(stats);
    EXPECT_EQ(stats->watermarks.indexed_seq, stats->last_seq) << "round " << round;
  }
}

// A failed fdatasync met by a leader: that wait fails, every later wait and
// append fails (rule 7: never acknowledge after a failed sync), and what was
// acknowledged before is in the store after a reopen.
TEST(PipelineLeader, AFailedSyncInALeaderStopsEveryAcknowledgement) {
  TempDir dir;
  FaultEnv::Plan plan;
  plan.fail_sync_at = 40;
  auto store = open_with_faults(dir.path(), &plan);
  ASSERT_TRUE(store);
  std::vector<std::vector<std::pair<uint64_t, std::string>>> acked(3);
  std::vector<int> oks_after_failure(3, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      bool failed = false;
      for (int i = 0; i < 300; ++i) {
        const std::string payload = tag(t, i);
        auto seq = (*store)->append("s", payload);
        if (!seq) {
          failed = true;
          continue;
        }
        if ((*store)->wait(*seq, Level::kDurable)) {
          if (failed) ++oks_after_failure[t];
          acked[t].emplace_back(*seq, payload);
        } else {
          failed = true;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 3; ++t) EXPECT_EQ(oks_after_failure[t], 0) << "thread " << t;
  const uint64_t last = (*store)->last_seq();
  EXPECT_FALSE((*store)->wait(last, Level::kDurable));
  std::vector<std::pair<uint64_t, std::string>> all;
  for (const auto& a : acked) all.insert(all.end(), a.begin(), a.end());
  EXPECT_LT(all.size(), size_t{900});
  close_failed_reopen_and_check(std::move(*store), dir.path(), all);
}

// A failed write-back start (sync_file_range) is a failed write: ext4 may
// drop pages it could not map without telling the next fdatasync, so that
// record and every later one must never be acknowledged as durable.
TEST(PipelineLeader, AFailedWriteBackStopsEveryAcknowledgement) {
  TempDir dir;
  FaultEnv::Plan plan;
  plan.fail_writeback_at = 2;
  // Writeback starts only after the journal thread's writes that no sync
  // follows (neither a leader's nor a producer's quiet write starts one):
  // producers leave every write to it, and the policy's sync never falls
  // due during the test.
  StoreOptions o = small_segments();
  o.write_when_idle = false;
  o.sync.interval = std::chrono::hours(1);
  auto store = open_with_faults(dir.path(), &plan, o);
  ASSERT_TRUE(store);
  std::vector<std::pair<uint64_t, std::string>> acked;
  Status first_failure;
  int oks_after_failure = 0;
  auto note = [&](const Status& s, uint64_t seq, const std::string& payload) {
    if (s) {
      if (!first_failure.is_ok()) ++oks_after_failure;
      if (seq != 0) acked.emplace_back(seq, payload);
    } else if (first_failure.is_ok()) {
      first_failure = s;
    }
  };
  for (int round = 0; round < 12; ++round) {
    // A page of records nobody waits for (the journal thread writes them and
    // starts their writeback), then one a leader waits for.
    for (int i = 0; i < 9; ++i) {
      auto seq = (*store)->append("s", tag(round, i) + std::string(500, 'w'));
      note(seq.status(), 0, "");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    const std::string payload = tag(round, 9) + std::string(500, 'w');
    auto seq = (*store)->append("s", payload);
    Status s = seq.status();
    if (s) s = (*store)->wait(*seq, Level::kDurable);
    note(s, seq ? *seq : 0, payload);
  }
  EXPECT_FALSE(first_failure.is_ok()) << "the write-back failure was not reported";
  EXPECT_NE(first_failure.message().find("write-back"), std::string::npos)
      << first_failure.to_string();
  EXPECT_EQ(oks_after_failure, 0);
  close_failed_reopen_and_check(std::move(*store), dir.path(), acked);
}

// Under `always` the journal thread syncs after every write: a writeback
// started in between would only cost it a sync_file_range that the
// fdatasync does anyway. With the producers leaving every write to the
// journal thread, no writeback reaches the disk at all.
TEST(PipelineLeader, UnderSyncAlwaysNoWritebackPrecedesTheJournalsSyncs) {
  TempDir dir;
  FaultEnv::Plan plan;
  auto env = std::make_unique<FaultEnv>(&plan);
  FaultEnv* counts = env.get();
  StoreOptions o = small_segments();
  o.sync.mode = SyncPolicy::Mode::kAlways;
  o.write_when_idle = false;
  auto store = store::open_store_with_env(dir.path(), o, std::move(env));
  ASSERT_TRUE(store) << store.status().to_string();
  uint64_t last = 0;
  for (int i = 0; i < 300; ++i) {
    auto seq = (*store)->append("s", tag(0, i) + std::string(500, 'a'));  // pages fill
    ASSERT_TRUE(seq) << seq.status().to_string();
    last = *seq;
  }
  ASSERT_TRUE((*store)->wait(last, Level::kDurable, std::chrono::seconds(30)));
  EXPECT_GT(counts->syncs.load(), 2);
  EXPECT_EQ(counts->writebacks.load(), 0);
  ASSERT_TRUE((*store)->close());
}

}  // namespace
}  // namespace reel
