// Writes without the journal thread: an append after a quiet spell written on
// the producer's thread (StoreOptions::write_when_idle), and the journal
// thread's fdatasync made with the journal lock free (SegmentWriter's
// SyncTicket), so that producers and leaders write while the disk syncs.
#include <sched.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "fault_env.h"
#include "reel/reel.h"
#include "store/store_internal.h"
#include "store_stress.h"
#include "test_util.h"
#include "wal/io_env.h"
#include "wal/segment_writer.h"

namespace reel {
namespace {

using std::chrono::milliseconds;

// A writer on a fault env with one segment started (sync 0: its header's).
struct WriterOnFaults {
  testing::TempDir dir;
  testing::FaultEnv::Plan plan;
  testing::FaultEnv env{&plan};
  std::unique_ptr<wal::SegmentWriter> writer;
  const std::string bytes = std::string(300, 'x');

  WriterOnFaults() {
    std::filesystem::create_directories(dir / "wal");
    writer = std::make_unique<wal::SegmentWriter>(&env, dir / "wal", 42, 1 << 20);
    EXPECT_TRUE(writer->start_segment(1, 0));
  }
  Status append() {
    return writer->append_batch({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()});
  }
};

// A failed fdatasync may have taken the error from the file: another
// fdatasync right after could succeed without the pages the kernel dropped.
// So after a failed run_sync, sync() fails without asking the disk, and
// appends stop, before the journal has called end_sync().
TEST(SyncTicket, AFailedSyncFailsTheNextSyncAndAppendBeforeEndSync) {
  WriterOnFaults w;
  w.plan.fail_sync_at = 1;
  ASSERT_TRUE(w.append());
  auto ticket = w.writer->begin_sync();
  ASSERT_GE(ticket.fd, 0);
  w.writer->run_sync(ticket);
  ASSERT_FALSE(ticket.status);
  EXPECT_FALSE(w.writer->sync()) << "a sync after a failed one must not succeed";
  EXPECT_EQ(w.env.syncs.load(), 2) << "and must not ask the disk again";
  EXPECT_FALSE(w.append());
  EXPECT_FALSE(w.writer->end_sync(ticket));
  EXPECT_FALSE(w.writer->failure().is_ok());
}

// seal() closes the descriptor a ticket syncs: it waits for run_sync, and
// then has nothing left to sync (a leader's sync() after the journal's).
TEST(SyncTicket, SealWaitsForTheSyncInProgress) {
  WriterOnFaults w;
  ASSERT_TRUE(w.append());
  auto ticket = w.writer->begin_sync();
  ASSERT_GE(ticket.fd, 0);
  std::atomic<bool> sealed{false};
  std::thread sealer([&] {
    EXPECT_TRUE(w.writer->seal());
    sealed = true;
  });
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_FALSE(sealed.load()) << "seal() returned while a sync held the descriptor";
  w.writer->run_sync(ticket);
  sealer.join();
  EXPECT_TRUE(ticket.status) << ticket.status.to_string();
  EXPECT_TRUE(w.writer->end_sync(ticket));
  EXPECT_FALSE(w.writer->has_segment());
  EXPECT_EQ(w.env.syncs.load(), 2) << "seal() synced again what the ticket had synced";
}

StoreOptions small_store(const char* sync) {
  StoreOptions o;
  o.segment_bytes_max = uint64_t{16} << 20;
  o.ring_bytes = uint64_t{1} << 20;
  o.sync = *SyncPolicy::parse(sync);
  return o;
}

// With the journal thread asleep (nothing to sync: kNone; its idle wake-up
// an hour away), an append after a quiet spell is written before append()
// returns.
TEST(QuietWrite, AnAppendAfterAQuietSpellIsWrittenWhenItReturns) {
  testing::TempDir dir;
  store::TestSeams seams;
  seams.journal_idle_wakeup = std::chrono::hours(1);
  auto env = wal::make_uring_env();
  ASSERT_TRUE(env) << env.status().to_string();
  auto store = store::open_store_with_env(dir / "S", small_store("none"), std::move(*env), seams);
  ASSERT_TRUE(store) << store.status().to_string();
  ASSERT_TRUE((*store)->append("s", "first"));
  ASSERT_TRUE((*store)->flush());
  int written_at_return = 0;
  for (int i = 0; i < 20; ++i) {
    std::this_thread::sleep_for(milliseconds(2));
    auto seq = (*store)->append("s", testing::numbered("quiet ", i));
    ASSERT_TRUE(seq);
    if ((*store)->watermarks().written_seq >= *seq) ++written_at_return;
  }
  // Not 20: on a busy machine the journal thread may not be asleep yet
  // after the first record (then it writes the next one itself).
  EXPECT_GE(written_at_return, 18);
  ASSERT_TRUE((*store)->close());
}

// A write made while the journal thread slept is synced as the policy says,
// without a wait() asking: kAlways at once, kInterval at its next tick. The
// journal thread's idle wake-up is an hour here, so only the policy's sync
// can make the record durable; the 30 s deadline only ends a hung test.
TEST(QuietWrite, ThePolicysSyncFollowsAWriteMadeWhileTheJournalSlept) {
  for (const char* sync : {"always", "interval:1ms"}) {
    SCOPED_TRACE(sync);
    testing::TempDir dir;
    store::TestSeams seams;
    seams.journal_idle_wakeup = std::chrono::hours(1);
    auto env = wal::make_uring_env();
    ASSERT_TRUE(env) << env.status().to_string();
    auto store = store::open_store_with_env(dir / "S", small_store(sync), std::move(*env), seams);
    ASSERT_TRUE(store) << store.status().to_string();
    for (int i = 0; i < 5; ++i) {
      std::this_thread::sleep_for(milliseconds(20));  // synced; the journal thread asleep
      auto seq = (*store)->append("s", testing::numbered("r", i));
      ASSERT_TRUE(seq);
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
      while ((*store)->watermarks().durable_seq < *seq &&
             std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
      EXPECT_GE((*store)->watermarks().durable_seq, *seq) << "record " << i;
    }
    ASSERT_TRUE((*store)->close());
  }
}

// Under kInterval a quiet write does not wake the journal thread; its
// interval tick syncs it. A leader's sync just before the write moves the
// policy's clock, and the tick must sync anyway: otherwise the write waits
// for a second tick (up to twice the promise). Checked by the event, not the
// clock: the first tick after the write makes it durable. The 30 s deadline
// only ends a hung test.
TEST(QuietWrite, TheFirstTickAfterAQuietWriteMakesItDurable) {
  testing::TempDir dir;
  std::atomic<uint64_t> ticks{0};
  store::TestSeams seams;
  seams.journal_deadline_wakeups = &ticks;
  auto env = wal::make_uring_env();
  ASSERT_TRUE(env) << env.status().to_string();
  auto store =
      store::open_store_with_env(dir / "S", small_store("interval:50ms"), std::move(*env), seams);
  ASSERT_TRUE(store) << store.status().to_string();
  for (int i = 0; i < 5; ++i) {
    std::this_thread::sleep_for(milliseconds(60 + 7 * i));  // the journal thread asleep
    auto led = (*store)->append("s", testing::numbered("led ", i));
    ASSERT_TRUE(led);
    ASSERT_TRUE((*store)->wait(*led, Level::kDurable));  // a leader's sync
    auto quiet = (*store)->append("s", testing::numbered("quiet ", i));
    ASSERT_TRUE(quiet);
    const uint64_t ticks_at_write = ticks.load();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while ((*store)->watermarks().durable_seq < *quiet &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    const uint64_t ticks_until_durable = ticks.load() - ticks_at_write;
    ASSERT_GE((*store)->watermarks().durable_seq, *quiet) << "record " << i << " never synced";
    EXPECT_LE(ticks_until_durable, 1u)
        << "record " << i << " stayed unsynced through " << ticks_until_durable << " ticks";
  }
  ASSERT_TRUE((*store)->close());
}

// A waiter whose record cannot be written yet (another producer's, before
// it, is claimed but not yet published: a large one, still being encoded)
// asks the journal thread to sync. The other producer then writes both
// itself, and must pass the request on (kNone: no policy sync wakes the
// journal thread either). Each round has one large append racing one small
// append and its wait, and nothing else, so only the pass-on can end the
// wait: the journal thread's idle wake-up is an hour here. A wait that hangs
// is ended by a watchdog, which closes the store after 120 s.
TEST(QuietWrite, NoDurableWaitDependsOnTheIdleWakeUp) {
  const uint64_t seed = testing::test_seed();
  testing::TempDir dir;
  store::TestSeams seams;
  seams.journal_idle_wakeup = std::chrono::hours(1);
  auto env = wal::make_uring_env();
  ASSERT_TRUE(env) << env.status().to_string();
  auto store = store::open_store_with_env(dir / "S", small_store("none"), std::move(*env), seams);
  ASSERT_TRUE(store) << store.status().to_string();
  constexpr int kRounds = 500;
  std::atomic<int> round{0}, large_done{0};
  std::atomic<bool> stop{false};
  std::thread large([&] {
    const std::string big(256 << 10, 'L');
    for (int r = 1; r <= kRounds; ++r) {
      while (round.load() < r && !stop.load()) std::this_thread::yield();
      if (stop.load() || !(*store)->append("large", big)) return;
      large_done = r;
    }
  });
  std::mutex mu;
  std::condition_variable finished;
  bool loop_done = false;
  std::atomic<bool> watchdog_fired{false};
  std::thread watchdog([&] {
    std::unique_lock<std::mutex> lock(mu);
    if (!finished.wait_for(lock, std::chrono::seconds(120), [&] { return loop_done; })) {
      watchdog_fired = true;
      (void)(*store)->close();
    }
  });
  std::mt19937_64 rng(seed);
  Status outcome;
  int r = 1;
  for (; r <= kRounds && outcome; ++r) {
    std::this_thread::sleep_for(std::chrono::microseconds(100 + rng() % 100));  // quiet
    round = r;
    const auto spin_until =
        std::chrono::steady_clock::now() + std::chrono::microseconds(rng() % 60);
    while (std::chrono::steady_clock::now() < spin_until) {
    }
    auto seq = (*store)->append("small", "x");
    outcome = seq ? (*store)->wait(*seq, Level::kDurable) : seq.status();
    while (outcome && large_done.load() < r && !watchdog_fired.load()) std::this_thread::yield();
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    loop_done = true;
  }
  finished.notify_all();
  watchdog.join();
  stop = true;
  large.join();
  EXPECT_FALSE(watchdog_fired.load()) << "seed " << seed << ": a durable wait hung in round " << r;
  EXPECT_TRUE(outcome) << "seed " << seed << ": " << outcome.to_string();
  ASSERT_TRUE((*store)->close());
}

// The index thread is batch work: woken with a tailer by the same write, it
// must not preempt it (IndexStage::run, store/index_stage.cc).
TEST(QuietWrite, TheIndexThreadIsBatchWork) {
  testing::TempDir dir;
  auto store = Store::open(dir / "S", small_store("none"));
  ASSERT_TRUE(store) << store.status().to_string();
  // The thread names and sets itself once it runs: look for up to 5 s.
  int found = 0, batch = 0;
  for (int tries = 0; tries < 500 && batch == 0; ++tries) {
    if (tries > 0) std::this_thread::sleep_for(milliseconds(10));
    found = batch = 0;
    for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
      if (testing::read_all(task.path().string() + "/comm") != "reel-index\n") continue;
      ++found;
      const pid_t tid = static_cast<pid_t>(std::stol(task.path().filename().string()));
      if (sched_getscheduler(tid) == SCHED_BATCH) ++batch;
    }
  }
  EXPECT_EQ(found, 1);
  EXPECT_EQ(batch, 1);
  ASSERT_TRUE((*store)->close());
}

// Producers at every pace (quiet spells: written on their own thread; bursts:
// by the journal thread, which syncs with its lock free while they write),
// some leading their own syncs, beside a tailer; every record is there, in
// order, after a reopen.
TEST(QuietWrite, ProducersAtEveryPaceKeepEveryRecord) {
  testing::TempDir dir;
  testing::stress_producers_and_tailer(
      dir / "S", small_store("always"),
      {.each = 3000, .max_payload = 500, .pause_us = 300, .lead_every = 16}, testing::test_seed());
}

}  // namespace
}  // namespace reel
