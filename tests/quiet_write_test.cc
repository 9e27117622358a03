// Writes without the journal thread: an append after a quiet spell written on
// the producer's thread (StoreOptions::write_when_idle), and the journal
// thread's fdatasync made with the journal lock free (SegmentWriter's
// SyncTicket), so that producers and leaders write while the disk syncs.
#include <sched.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "fault_env.h"
#include "reel/reel.h"
#include "store_stress.h"
#include "test_util.h"
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

// With the journal thread asleep (nothing to sync: kNone), an append after a
// quiet spell is written before append() returns.
TEST(QuietWrite, AnAppendAfterAQuietSpellIsWrittenWhenItReturns) {
  testing::TempDir dir;
  auto store = Store::open(dir / "S", small_store("none"));
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
  // Not 20: the journal thread's own 100 ms wake-up may hold the lock.
  EXPECT_GE(written_at_return, 18);
  ASSERT_TRUE((*store)->close());
}

// A write made while the journal thread slept is synced as the policy says,
// without a wait() asking: kAlways at once, kInterval within its interval
// (without a policy the journal thread's idle sleep is 100 ms: these wait
// at most 50).
TEST(QuietWrite, ThePolicysSyncFollowsAWriteMadeWhileTheJournalSlept) {
  for (const char* sync : {"always", "interval:1ms"}) {
    SCOPED_TRACE(sync);
    testing::TempDir dir;
    auto store = Store::open(dir / "S", small_store(sync));
    ASSERT_TRUE(store) << store.status().to_string();
    for (int i = 0; i < 5; ++i) {
      std::this_thread::sleep_for(milliseconds(20));  // synced; the journal thread asleep
      auto seq = (*store)->append("s", testing::numbered("r", i));
      ASSERT_TRUE(seq);
      const auto deadline = std::chrono::steady_clock::now() + milliseconds(50);
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
// a second interval (up to twice the promise).
TEST(QuietWrite, AWriteAfterALeadersSyncIsDurableWithinTheInterval) {
  testing::TempDir dir;
  auto store = Store::open(dir / "S", small_store("interval:50ms"));
  ASSERT_TRUE(store) << store.status().to_string();
  for (int i = 0; i < 5; ++i) {
    std::this_thread::sleep_for(milliseconds(60 + 7 * i));  // the journal thread asleep
    auto led = (*store)->append("s", testing::numbered("led ", i));
    ASSERT_TRUE(led);
    ASSERT_TRUE((*store)->wait(*led, Level::kDurable));  // a leader's sync
    auto quiet = (*store)->append("s", testing::numbered("quiet ", i));
    ASSERT_TRUE(quiet);
    const auto start = std::chrono::steady_clock::now();
    while ((*store)->watermarks().durable_seq < *quiet &&
           std::chrono::steady_clock::now() - start < milliseconds(500)) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    const auto waited = std::chrono::steady_clock::now() - start;
    EXPECT_LT(waited, milliseconds(70))
        << "record " << i << " waited " << std::chrono::duration<double, std::milli>(waited).count()
        << " ms for a 50 ms interval";
  }
  ASSERT_TRUE((*store)->close());
}

// A waiter whose record cannot be written yet (another producer's, before
// it, is claimed but not yet published: a large one, still being encoded)
// asks the journal thread to sync. The other producer then writes both
// itself, and must pass the request on: no wait may last until the journal
// thread's 100 ms idle wake-up (kNone: no policy sync wakes it either).
TEST(QuietWrite, NoDurableWaitLastsUntilTheIdleWakeUp) {
  const uint64_t seed = testing::test_seed();
  testing::TempDir dir;
  auto store = Store::open(dir / "S", small_store("none"));
  ASSERT_TRUE(store) << store.status().to_string();
  std::atomic<bool> done{false};
  std::thread large([&] {
    const std::string big(256 << 10, 'L');
    while (!done.load()) {
      if (!(*store)->append("large", big)) return;
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  });
  std::mt19937_64 rng(seed);
  int64_t longest_us = 0;
  for (int i = 0; i < 1000; ++i) {
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 200));
    auto seq = (*store)->append("small", "x");
    ASSERT_TRUE(seq);
    const auto start = std::chrono::steady_clock::now();
    ASSERT_TRUE((*store)->wait(*seq, Level::kDurable));
    longest_us =
        std::max<int64_t>(longest_us, std::chrono::duration_cast<std::chrono::microseconds>(
                                          std::chrono::steady_clock::now() - start)
                                          .count());
  }
  done = true;
  large.join();
  EXPECT_LT(longest_us, 50'000) << "seed " << seed;
  ASSERT_TRUE((*store)->close());
}

// The index thread is batch work: woken with a tailer by the same write, it
// must not preempt it (store_stages.cc).
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
