// The ingest pipeline behind Store, end to end: many producers, wait levels,
// backpressure, the Tailer (in this process and in another), and a writer
// process killed with SIGKILL under load.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "fault_env.h"
#include "reel/reel.h"
#include "store/store_internal.h"
#include "store/verify.h"
#include "test_util.h"

namespace reel {
namespace {

using namespace std::chrono_literals;
using testing::FaultEnv;
using testing::TempDir;

StoreOptions small(uint64_t segment = 64 * 1024) {
  StoreOptions o;
  o.segment_bytes_max = segment;
  return o;
}

// "t:i:" then filler, so that frame sizes vary and ring wraps land anywhere.
std::string payload_for(int thread, int i, std::mt19937& rng) {
  std::string p = std::to_string(thread) + ":" + std::to_string(i) + ":";
  p.append(rng() % 300, static_cast<char>('a' + i % 26));
  return p;
}

std::pair<int, int> parse_payload(std::string_view p) {
  const size_t a = p.find(':'), b = p.find(':', a + 1);
  return {std::stoi(std::string(p.substr(0, a))),
          std::stoi(std::string(p.substr(a + 1, b - a - 1)))};
}

// Reads the whole store back: every seq 1..last once, and each producer's
// records dense and in its own order. Returns the number of records.
uint64_t check_store(const std::string& dir, int threads) {
  auto reader = Reader::open(dir);
  EXPECT_TRUE(reader);
  if (!reader) return 0;
  std::vector<int> next(threads, 0);
  uint64_t expected = 1;
  Cursor cursor = (*reader)->range(1);
  RecordView v;
  while (cursor.next(&v)) {
    EXPECT_EQ(v.seq(), expected);
    if (v.seq() != expected) return 0;
    ++expected;
    auto [t, i] = parse_payload(v.payload());
    EXPECT_EQ(i, next[t]) << "producer " << t << " at seq " << v.seq();
    next[t] = i + 1;
  }
  EXPECT_TRUE(cursor.status()) << cursor.status().to_string();
  return expected - 1;
}

TEST(Pipeline, ManyProducersGetEverySeqOnceAndKeepTheirOwnOrder) {
  TempDir dir;
  constexpr int kThreads = 6, kEach = 20000;
  std::vector<std::vector<uint64_t>> seqs(kThreads);
  {
    auto store = Store::open(dir.path(), small());
    ASSERT_TRUE(store) << store.status().to_string();
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        std::mt19937 rng(testing::test_seed() + t);
        for (int i = 0; i < kEach; ++i) {
          auto seq = (*store)->append(testing::numbered("p", t % 3), payload_for(t, i, rng));
          if (!seq) {
            ADD_FAILURE() << seq.status().to_string();
            return;
          }
          seqs[t].push_back(*seq);
        }
      });
    }
    for (auto& th : threads) th.join();
    ASSERT_TRUE((*store)->close());
  }
  std::set<uint64_t> all;
  for (const auto& s : seqs) {
    ASSERT_EQ(s.size(), static_cast<size_t>(kEach));
    EXPECT_TRUE(std::is_sorted(s.begin(), s.end()));
    all.insert(s.begin(), s.end());
  }
  ASSERT_EQ(all.size(), static_cast<size_t>(kThreads * kEach));
  EXPECT_EQ(*all.begin(), 1u);
  EXPECT_EQ(*all.rbegin(), static_cast<uint64_t>(kThreads * kEach));
  EXPECT_EQ(check_store(dir.path(), kThreads), static_cast<uint64_t>(kThreads * kEach));
  auto report = store::verify_store(dir.path(), nullptr);
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->clean());
  EXPECT_EQ(report->records, static_cast<uint64_t>(kThreads * kEach));
}

TEST(Pipeline, WaitReachesEachLevelRefusesUnappendedSeqsAndReportsAFullDisk) {
  TempDir dir;
  StoreOptions o = small();
  o.sync.mode = SyncPolicy::Mode::kNone;
  auto store = Store::open(dir.path(), o);
  ASSERT_TRUE(store);
  AppendOptions ao;
  ao.key = "k1";
  auto seq = (*store)->append("s", "hello", ao);
  ASSERT_TRUE(seq);
  ASSERT_TRUE((*store)->wait(*seq, Level::kWritten));
  auto reader = Reader::open(dir.path());
  ASSERT_TRUE(reader);
  EXPECT_EQ((*reader)->get(*seq)->payload(), "hello");
  ASSERT_TRUE((*store)->wait(*seq, Level::kIndexed));
  EXPECT_GE((*store)->watermarks().indexed_seq, *seq);
  EXPECT_EQ((*store)->watermarks().durable_seq, 0u);  // policy none: nobody synced yet
  ASSERT_TRUE((*store)->wait(*seq, Level::kDurable));
  EXPECT_GE((*store)->watermarks().durable_seq, *seq);
  EXPECT_EQ((*store)->wait(*seq + 1, Level::kWritten).code(), Code::kInvalidArgument);
  // A record appended but held in the ring (the disk is full) times out.
  o.segment_bytes_max = 8192;
  FaultEnv::Plan plan;
  plan.fail_create_after = 0;
  TempDir other;
  auto full = store::open_store_with_env(other.path(), o, std::make_unique<FaultEnv>(&plan));
  ASSERT_TRUE(full);
  auto held = (*full)->append("s", "held");
  ASSERT_TRUE(held);
  EXPECT_EQ((*full)->wait(*held, Level::kWritten, 20ms).code(), Code::kNoSpace);
  plan.fail_create_after = -1;
  EXPECT_TRUE((*full)->wait(*held, Level::kWritten, 5s));
}

// With the disk full the journaller cannot start the next segment: the ring
// fills, append() says kNoSpace (or kBusy when asked not to wait), nothing
// appended is lost, and everything is written once space returns.
TEST(Pipeline, FullRingWaitsOrSaysBusyAndLosesNothing) {
  TempDir dir;
  FaultEnv::Plan plan;
  plan.fail_create_after = 1;
  auto store =
      store::open_store_with_env(dir.path(), small(8192), std::make_unique<FaultEnv>(&plan));
  ASSERT_TRUE(store);
  Status failure;
  uint64_t last = 0;
  for (int i = 0; i < 1000 && failure; ++i) {
    auto seq = (*store)->append("s", std::string(200, 'x'));
    if (seq) last = *seq;
    failure = seq.status();
  }
  EXPECT_EQ(failure.code(), Code::kNoSpace) << failure.to_string();
  AppendOptions no_wait;
  no_wait.fail_if_full = true;
  EXPECT_EQ((*store)->append("s", std::string(200, 'y'), no_wait).status().code(), Code::kBusy);
  EXPECT_EQ((*store)->last_seq(), last);
  plan.fail_create_after = -1;
  ASSERT_TRUE((*store)->flush());
  ASSERT_TRUE((*store)->close());
  auto reader = Reader::open(dir.path());
  ASSERT_TRUE(reader);
  auto stats = (*reader)->stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->last_seq, last);
  EXPECT_EQ(stats->record_count, last);
}

// Takes every free descriptor under a lowered limit until released (or
// destroyed), then restores the limit.
struct DescriptorsTaken {
  rlimit old{};
  std::vector<int> fds;
  explicit DescriptorsTaken(rlim_t limit) {
    ::getrlimit(RLIMIT_NOFILE, &old);
    rlimit low = old;
    low.rlim_cur = std::min(old.rlim_cur, limit);
    ::setrlimit(RLIMIT_NOFILE, &low);
    for (int fd; (fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;) fds.push_back(fd);
  }
  void release() {
    for (int fd : fds) ::close(fd);
    fds.clear();
    ::setrlimit(RLIMIT_NOFILE, &old);
  }
  ~DescriptorsTaken() { release(); }
};

// Out of file descriptors when the next segment is created (a real EMFILE:
// every free descriptor taken under a lowered limit): the store stalls as
// on a full disk instead of failing; append() says kNoSpace once the ring
// is full, and once descriptors return everything appended is written.
TEST(Pipeline, OutOfDescriptorsAtSegmentCreationStallsAndLosesNothing) {
#ifdef __SANITIZE_ADDRESS__
  // UBSan (built with ASan here) checks a virtual call's object through a
  // pipe: with no descriptor free it reports every such call as invalid.
  GTEST_SKIP() << "needs every descriptor taken: not under ASan + UBSan";
#endif
  TempDir dir;
  auto store = Store::open(dir.path(), small(8192));
  ASSERT_TRUE(store);
  ASSERT_TRUE((*store)->append("s", "before"));
  ASSERT_TRUE((*store)->flush());
  Status failure;
  uint64_t last = 0;
  {
    DescriptorsTaken taken(512);
    for (int i = 0; i < 1000 && failure; ++i) {
      auto seq = (*store)->append("s", std::string(200, 'a' + i % 26));
      if (seq) last = *seq;
      failure = seq.status();
    }
    taken.release();
  }
  EXPECT_EQ(failure.code(), Code::kNoSpace) << failure.to_string();
  EXPECT_NE(failure.message().find("Too many open files"), std::string::npos) << failure.message();
  ASSERT_GT(last, 30u);  // past the first segment
  Status s = (*store)->flush();
  ASSERT_TRUE(s) << s.to_string();
  auto after = (*store)->append("s", "after");
  ASSERT_TRUE(after) << after.status().to_string();
  EXPECT_EQ(*after, last + 1);
  ASSERT_TRUE((*store)->close());
  auto reader = Reader::open(dir.path());
  ASSERT_TRUE(reader);
  for (uint64_t q = 2; q <= last; ++q) {
    auto r = (*reader)->get(q);
    ASSERT_TRUE(r) << q;
    EXPECT_EQ(r->payload(), std::string(200, 'a' + (q - 2) % 26)) << q;
  }
  EXPECT_EQ((*reader)->get(last + 1)->payload(), "after");
}

TEST(Tailer, DeliversHistoryThenLiveRecordsWithNoGapOrDuplicate) {
  TempDir dir;
  constexpr int kHistory = 1000, kThreads = 2, kEach = 4000;
  constexpr uint64_t kTotal = kHistory + kThreads * kEach;
  auto store = Store::open(dir.path(), small());
  ASSERT_TRUE(store);
  std::mt19937 rng(testing::test_seed());
  for (int i = 0; i < kHistory; ++i) ASSERT_TRUE((*store)->append("h", payload_for(0, i, rng)));
  auto tailer = Tailer::open(dir.path(), {});
  ASSERT_TRUE(tailer) << tailer.status().to_string();
  std::vector<uint64_t> got;
  std::thread follower([&] {
    RecordView v;
    while (got.size() < kTotal && (*tailer)->next(&v, 10s)) got.push_back(v.seq());
  });
  std::vector<std::thread> producers;
  for (int t = 0; t < kThreads; ++t) {
    producers.emplace_back([&, t] {
      std::mt19937 r(t);
      for (int i = 0; i < kEach; ++i) (void)(*store)->append("live", payload_for(t + 1, i, r));
    });
  }
  for (auto& p : producers) p.join();
  follower.join();
  ASSERT_TRUE((*tailer)->status()) << (*tailer)->status().to_string();
  ASSERT_EQ(got.size(), kTotal);
  for (uint64_t i = 0; i < kTotal; ++i) ASSERT_EQ(got[i], i + 1);
}

TEST(Tailer, FollowsTheDurableWatermarkWhenAsked) {
  TempDir dir;
  StoreOptions o = small();
  o.sync.mode = SyncPolicy::Mode::kNone;
  auto store = Store::open(dir.path(), o);
  ASSERT_TRUE(store);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE((*store)->append("s", testing::numbered("r", i)));
  ASSERT_TRUE((*store)->flush());
  Tailer::Options durable;
  durable.follow = Level::kDurable;
  auto tailer = Tailer::open(dir.path(), durable);
  ASSERT_TRUE(tailer);
  RecordView v;
  EXPECT_FALSE((*tailer)->next(&v, 20ms));  // written, not durable
  EXPECT_TRUE((*tailer)->status());
  ASSERT_TRUE((*store)->sync());
  for (uint64_t seq = 1; seq <= 10; ++seq) {
    ASSERT_TRUE((*tailer)->next(&v, 1s));
    EXPECT_EQ(v.seq(), seq);
  }
}

TEST(Tailer, StartsAtATimeFiltersAStreamAndWaitsForANewOne) {
  TempDir dir;
  auto store = Store::open(dir.path(), small());
  ASSERT_TRUE(store);
  for (uint64_t i = 1; i <= 100; ++i) {
    AppendOptions ao;
    ao.ts_ns = 1000 * i;
    ASSERT_TRUE((*store)->append(i % 2 ? "odd" : "even", std::to_string(i), ao));
  }
  ASSERT_TRUE((*store)->flush());
  Tailer::Options from_time;
  from_time.from_ts_ns = 90'500;  // records 91..100
  from_time.stream = "even";
  auto tailer = Tailer::open(dir.path(), from_time);
  ASSERT_TRUE(tailer) << tailer.status().to_string();
  RecordView v;
  for (const char* want : {"92", "94", "96", "98", "100"}) {
    ASSERT_TRUE((*tailer)->next(&v, 1s));
    EXPECT_EQ(v.payload(), want);
  }
  EXPECT_FALSE((*tailer)->next(&v, 0ns));
  Tailer::Options later;
  later.stream = "new";
  auto waiting = Tailer::open(dir.path(), later);
  ASSERT_TRUE(waiting);
  EXPECT_FALSE((*waiting)->next(&v, 0ns));
  ASSERT_TRUE((*store)->append("odd", "not this"));
  ASSERT_TRUE((*store)->append("new", "first of new"));
  ASSERT_TRUE((*waiting)->next(&v, 1s));
  EXPECT_EQ(v.payload(), "first of new");
  EXPECT_EQ(v.seq(), 102u);
}

// Waits for a child process; fails the test if it does not exit in time.

// The tailer runs in another process (forked before this one starts any
// thread) while three threads append here.
TEST(Tailer, SecondProcessSeesEveryRecordWithNoGap) {
  TempDir dir;
  const std::string path = dir / "S";
  constexpr uint64_t kTotal = 30000;
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    std::unique_ptr<Tailer> tailer;
    for (int i = 0; i < 5000 && !tailer; ++i) {  // until the parent has created the store
      auto t = Tailer::open(path, {});
      if (t) {
        tailer = std::move(*t);
      } else {
        std::this_thread::sleep_for(1ms);
      }
    }
    if (!tailer) _exit(3);
    RecordView v;
    for (uint64_t expected = 1; expected <= kTotal; ++expected) {
      if (!tailer->next(&v, 10s)) {
        std::fprintf(stderr, "tailer: nothing after seq %llu: %s\n",
                     static_cast<unsigned long long>(expected - 1),
                     tailer->status().to_string().c_str());
        _exit(2);
      }
      if (v.seq() != expected) {
        std::fprintf(stderr, "tailer: got seq %llu, expected %llu\n",
                     static_cast<unsigned long long>(v.seq()),
                     static_cast<unsigned long long>(expected));
        _exit(1);
      }
    }
    _exit(0);
  }
  {
    auto store = Store::open(path, small());
    ASSERT_TRUE(store) << store.status().to_string();
    std::vector<std::thread> producers;
    for (int t = 0; t < 3; ++t) {
      producers.emplace_back([&, t] {
        std::mt19937 rng(t);
        for (uint64_t i = 0; i < kTotal / 3; ++i) {
          (void)(*store)->append(testing::numbered("s", t),
                                 payload_for(t, static_cast<int>(i), rng));
          if (i % 1000 == 0) std::this_thread::sleep_for(1ms);  // let the tailer catch the live end
        }
      });
    }
    for (auto& p : producers) p.join();
    ASSERT_TRUE((*store)->close());
  }
  EXPECT_EQ(testing::wait_child(child, std::chrono::seconds(60)), 0);
}

// A writer process appends from two threads and reports its durable
// watermark through a pipe; it is killed with SIGKILL mid-stream. Reopening
// must find every record that was reported durable, intact, and each
// producer's records dense and in order.
TEST(Crash, KillDashNineUnderLoadKeepsEveryDurableRecord) {
  TempDir dir;
  const std::string path = dir / "S";
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(fds[0]);
    StoreOptions o = small(1 << 20);
    o.sync = *SyncPolicy::parse("interval:2ms");
    auto store = Store::open(path, o);
    if (!store) _exit(3);
    std::atomic<bool> stop{false};
    std::vector<std::thread> producers;
    for (int t = 0; t < 2; ++t) {
      producers.emplace_back([&, t] {
        std::mt19937 rng(t);
        for (int i = 0; !stop.load(); ++i) {
          if (!(*store)->append(testing::numbered("w", t), payload_for(t, i, rng))) _exit(4);
        }
      });
    }
    for (;;) {  // the reporter: until the parent kills this process
      const uint64_t durable = (*store)->watermarks().durable_seq;
      if (::write(fds[1], &durable, sizeof durable) != sizeof durable) _exit(5);
      std::this_thread::sleep_for(1ms);
    }
  }
  ::close(fds[1]);
  uint64_t durable = 0, reported = 0;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (durable < 50000 && std::chrono::steady_clock::now() < deadline &&
         ::read(fds[0], &reported, sizeof reported) == sizeof reported) {
    durable = std::max(durable, reported);
  }
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  ::close(fds[0]);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "writer exited early";
  ASSERT_GT(durable, 0u);
  auto store = Store::open(path, small(1 << 20));
  ASSERT_TRUE(store) << store.status().to_string();
  EXPECT_GE((*store)->last_seq(), durable);
  ASSERT_TRUE((*store)->close());
  const uint64_t records = check_store(path, 2);
  EXPECT_GE(records, durable);
  auto report = store::verify_store(path, nullptr);
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->clean());
  EXPECT_EQ(report->records, records);
}

}  // namespace
}  // namespace reel
