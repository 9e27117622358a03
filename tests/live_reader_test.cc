// Readers beside a live writer: threads and another process query a store
// while it is written (small segments, three streams, keys, timestamps out of
// order), and every answer must equal the model's for the snapshot it claims.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include <gtest/gtest.h>

#include "fault_env.h"
#include "index/index.h"
#include "live_model.h"
#include "reel/reel.h"
#include "store/position_cache.h"
#include "store/verify.h"
#include "test_util.h"
#include "wal/io_env.h"
#include "wal/segment_writer.h"

namespace reel {
namespace {

using namespace std::chrono_literals;
using testing::LiveChecker;
using testing::LiveModel;
using testing::TempDir;
namespace fs = std::filesystem;

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
constexpr uint64_t kRecords = 6000;
#else
constexpr uint64_t kRecords = 30000;
#endif

StoreOptions small_segments() {
  StoreOptions o;
  o.segment_bytes_max = 64 * 1024;
  return o;
}

// Appends records 1..n of the model, pausing now and then so that readers
// meet the live end often.
void write_model(Store* store, uint64_t n) {
  for (uint64_t s = 1; s <= n; ++s) {
    const std::string key = LiveModel::key(s);
    AppendOptions ao;
    ao.key = key;
    ao.ts_ns = LiveModel::ts(s);
    auto seq = store->append(LiveModel::stream(s), LiveModel::payload(s), ao);
    ASSERT_TRUE(seq) << seq.status().to_string();
    ASSERT_EQ(*seq, s);
    if (s % 50 == 0) std::this_thread::sleep_for(1ms);
  }
}

// Opens a Reader on a store another thread or process is creating.
std::unique_ptr<Reader> open_when_there(const std::string& path) {
  for (int i = 0; i < 5000; ++i) {
    auto r = Reader::open(path);
    if (r) return std::move(*r);
    std::this_thread::sleep_for(1ms);
  }
  return nullptr;
}

// A child process that checks rounds of queries until `done` exists, then
// one more. Exit 0: every answer was right.
[[noreturn]] void reader_process(const std::string& path, const std::string& done, uint64_t seed,
                                 int verify_every, bool expect_index) {
  auto reader = open_when_there(path);
  if (!reader) ::_exit(3);
  LiveChecker checker(reader.get(), path, seed);
  for (bool last = false;;) {
    last = ::access(done.c_str(), F_OK) == 0;
    if (auto e = checker.round(verify_every); !e.empty()) {
      std::fprintf(stderr, "reader process, round %llu: %s\n",
                   static_cast<unsigned long long>(checker.rounds()), e.c_str());
      ::_exit(1);
    }
    if (last) break;
  }
  if (reader->indexed() != expect_index) {  // by now the writer has made the index
    std::fprintf(stderr, "reader process: indexed() is %d\n", reader->indexed());
    ::_exit(4);
  }
  std::fprintf(stderr, "reader process: %llu rounds\n",
               static_cast<unsigned long long>(checker.rounds()));
  ::_exit(checker.rounds() >= 2 ? 0 : 5);
}

TEST(LiveReaders, ThreadsAndAnotherProcessAgreeWithTheModelBesideAWriter) {
  const uint64_t seed = testing::test_seed();
  TempDir dir;
  const std::string path = dir / "S", done = dir / "done";
  const pid_t child = ::fork();  // before any thread exists
  ASSERT_GE(child, 0);
  if (child == 0) reader_process(path, done, seed + 100, 7, true);

  auto store = Store::open(path, small_segments());
  ASSERT_TRUE(store) << store.status().to_string();
  std::atomic<bool> writing{true};
  std::vector<std::string> errors(3);
  std::vector<uint64_t> rounds(3);
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&, t] {
      auto reader = open_when_there(path);
      if (!reader) return void(errors[t] = "cannot open a reader");
      LiveChecker checker(reader.get(), path, seed + t);
      for (bool last = false; !last && errors[t].empty();) {
        last = !writing.load();
        errors[t] = checker.round(t == 0 ? 5 : 0);
      }
      rounds[t] = checker.rounds();
    });
  }
  readers.emplace_back([&] {  // a tailer: every record once, in order, as it comes
    Tailer::Options from_start;
    from_start.from_seq = 1;
    auto tailer = Tailer::open(path, from_start);
    if (!tailer) return void(errors[2] = tailer.status().to_string());
    RecordView v;
    for (uint64_t s = 1; s <= kRecords; ++s) {
      if (!(*tailer)->next(&v, 20s))
        return void(errors[2] = "tailer stopped before " + std::to_string(s) + ": " +
                                (*tailer)->status().to_string());
      if (v.seq() != s || v.payload() != LiveModel::payload(s)) {
        return void(errors[2] =
                        "tailer got seq " + std::to_string(v.seq()) + " for " + std::to_string(s));
      }
    }
  });
  write_model(store->get(), kRecords);
  ASSERT_TRUE((*store)->close());
  writing = false;
  for (auto& t : readers) t.join();
  testing::write_all(done, "");
  for (int t = 0; t < 3; ++t) EXPECT_EQ(errors[t], "") << "reader thread " << t;
  EXPECT_GE(rounds[0], 2u);
  EXPECT_EQ(testing::wait_child(child, 120s), 0);
  std::printf("reader threads: %llu and %llu rounds\n", static_cast<unsigned long long>(rounds[0]),
              static_cast<unsigned long long>(rounds[1]));
}

// Without write permission on index/lock.mdb a reader cannot register with
// LMDB, so it must not read the index beside a writer (MDB_NOLOCK would let
// the writer reuse pages under it): it reads the WAL, and stays right.
TEST(LiveReaders, ReaderWithoutWritePermissionReadsTheWalBesideAWriter) {
  if (::getuid() != 0) GTEST_SKIP() << "needs root to run a reader as user nobody";
  const uint64_t seed = testing::test_seed();
  TempDir dir;
  const std::string path = dir / "S", done = dir / "done";
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(10);
    if (::access(dir.path().c_str(), R_OK | X_OK) != 0) ::_exit(20);
    reader_process(path, done, seed, 0, false);
  }
  {
    auto store = Store::open(path, small_segments());
    ASSERT_TRUE(store) << store.status().to_string();
    write_model(store->get(), kRecords / 3);
    ASSERT_TRUE((*store)->close());
  }
  testing::write_all(done, "");
  const int code = testing::wait_child(child, 120s);
  if (code == 20) GTEST_SKIP() << "user nobody cannot reach " << dir.path();
  EXPECT_EQ(code, 0);
}

// A crash while an older reel created a segment in place left a last segment
// whose header never reached the disk: for a reader it is the end of the log.
TEST(LiveReaders, HeaderlessLastSegmentIsTheEndOfTheLog) {
  TempDir dir;
  const std::string path = dir / "S";
  {
    auto store = Store::open(path, small_segments());
    ASSERT_TRUE(store);
    write_model(store->get(), 3000);
  }
  testing::write_all(testing::segment_path(path, 3001), std::string(64 * 1024, '\0'));
  auto reader = Reader::open(path);
  ASSERT_TRUE(reader);
  LiveChecker checker(reader->get(), path, 1);
  for (int i = 0; i < 20; ++i) ASSERT_EQ(checker.round(1), "");
  auto stats = (*reader)->stats();
  ASSERT_TRUE(stats) << stats.status().to_string();
  EXPECT_EQ(stats->last_seq, 3000u);
  Cursor c = (*reader)->range(1);
  RecordView v;
  uint64_t n = 0;
  while (c.next(&v)) ++n;
  EXPECT_TRUE(c.status()) << c.status().to_string();
  EXPECT_EQ(n, 3000u);
  auto store = Store::open(path, small_segments());  // a writer removes it and goes on
  ASSERT_TRUE(store) << store.status().to_string();
  EXPECT_EQ(*(*store)->append("a", "next"), 3001u);
}

// A segment is created under a temporary name and renamed into place only
// once its header is durable: a creation that fails leaves nothing under
// the final name, and a leftover temporary file is invisible to readers and
// removed by the next writer.
TEST(LiveReaders, SegmentCreationThatFailsLeavesNoSegmentUnderItsFinalName) {
  TempDir dir;
  fs::create_directories(dir / "wal");
  testing::FaultEnv::Plan plan;
  plan.fail_sync_at = 0;  // the sync of the new header
  testing::FaultEnv env(&plan);
  wal::SegmentWriter writer(&env, dir / "wal", 7, 64 * 1024);
  EXPECT_FALSE(writer.start_segment(1, 0));
  for (const auto& entry : fs::directory_iterator(dir / "wal")) {
    ADD_FAILURE() << "left behind: " << entry.path();
  }
}

TEST(LiveReaders, UnfinishedCreationIsInvisibleAndRemovedByTheWriter) {
  TempDir dir;
  const std::string path = dir / "S";
  {
    auto store = Store::open(path, small_segments());
    ASSERT_TRUE(store);
    write_model(store->get(), 1000);
  }
  const std::string temp = testing::segment_path(path, 1001) + ".tmp";
  testing::write_all(temp, std::string(64 * 1024, '\0'));
  auto reader = Reader::open(path);
  ASSERT_TRUE(reader);
  auto stats = (*reader)->stats();
  ASSERT_TRUE(stats) << stats.status().to_string();
  EXPECT_EQ(stats->last_seq, 1000u);
  uint64_t segments = 0;
  for (const auto& entry : fs::directory_iterator(path + "/wal")) {
    segments += entry.path().extension() == ".seg";
  }
  EXPECT_EQ(stats->segment_count, segments);
  auto store = Store::open(path, small_segments());
  ASSERT_TRUE(store) << store.status().to_string();
  EXPECT_FALSE(fs::exists(temp));
}

// One snapshot answers hits, indexed_seq and stream stats from the same
// committed state, however far the writer goes meanwhile.
TEST(LiveReaders, IndexSnapshotAnswersFromOneCommittedState) {
  TempDir dir;
  auto writer = index::Index::open(dir.path(), false, 64 << 20);
  ASSERT_TRUE(writer);
  auto batch_of = [](uint64_t from, uint64_t to) {
    index::IndexBatch b;
    for (uint64_t s = from; s <= to; ++s) b.add(s, 1000 + s, 1, "k");
    b.declare_stream(1, "a");
    return b;
  };
  ASSERT_TRUE((*writer)->apply(batch_of(1, 10)));
  auto reader = index::Index::open(dir.path(), true, 64 << 20);
  ASSERT_TRUE(reader);
  auto snap = (*reader)->snapshot();
  ASSERT_TRUE(snap);
  ASSERT_TRUE((*writer)->apply(batch_of(11, 20)));
  EXPECT_EQ(*(*reader)->indexed_seq(), 20u);  // a new snapshot sees the commit
  EXPECT_EQ(*(*snap)->indexed_seq(), 10u);    // the old one does not
  std::vector<uint64_t> hits;
  ASSERT_TRUE((*snap)->seqs_by_key(1, "k", &hits));
  EXPECT_EQ(hits.size(), 10u);
  std::vector<StreamInfo> streams;
  ASSERT_TRUE((*snap)->streams(&streams));
  ASSERT_EQ(streams.size(), 1u);
  EXPECT_EQ(streams[0].count, 10u);
  EXPECT_EQ(**(*snap)->stream_id("a"), 1u);
}

}  // namespace
}  // namespace reel

namespace reel {
namespace {

// The interpolation search finds what a binary search finds, on even and
// very uneven spacings alike.
TEST(PositionCache, SearchEqualsABinarySearch) {
  std::mt19937_64 rng(testing::test_seed());
  for (int round = 0; round < 200; ++round) {
    std::vector<store::PositionCache::Entry> entries;
    uint64_t seq = 1 + rng() % 100;
    const size_t n = rng() % 2000;
    for (size_t i = 0; i < n; ++i) {
      entries.push_back({seq, i * 64});
      seq += round % 2 == 0 ? 20 : 1 + (rng() % 8 == 0 ? rng() % 100000 : rng() % 5);
    }
    for (int q = 0; q < 300; ++q) {
      const uint64_t probe = rng() % (seq + 10);
      auto it = std::upper_bound(entries.begin(), entries.end(), probe,
                                 [](uint64_t s, const auto& e) { return s < e.seq; });
      const int64_t want = static_cast<int64_t>(it - entries.begin()) - 1;
      ASSERT_EQ(store::PositionCache::search(entries, probe), want)
          << "round " << round << " probe " << probe;
    }
  }
}

}  // namespace
}  // namespace reel

namespace reel {
namespace {

// A writer that crashed right after creating a segment, restarted with
// another segment size, replaces that empty segment instead of renaming a
// new file over one a reader may have mapped (segments are renamed into
// place with RENAME_NOREPLACE).
TEST(StoreOpen, EmptyLastSegmentOfAnotherSizeIsReplacedCleanly) {
  TempDir dir;
  {
    auto store = Store::open(dir.path(), small_segments());
    ASSERT_TRUE(store);
    write_model(store->get(), 100);
  }
  {  // the creation of segment 101 finished, no record reached it
    auto env = wal::make_uring_env();
    ASSERT_TRUE(env);
    auto reader = Reader::open(dir.path());
    const uint64_t store_id = (*reader)->stats()->store_id;
    wal::SegmentWriter writer(env->get(), dir / "wal", store_id, 64 * 1024);
    ASSERT_TRUE(writer.start_segment(101, 1));
    ASSERT_TRUE(writer.seal());
  }
  StoreOptions bigger = small_segments();
  bigger.segment_bytes_max = 128 * 1024;
  auto store = Store::open(dir.path(), bigger);
  ASSERT_TRUE(store) << store.status().to_string();
  for (uint64_t s = 101; s <= 2000; ++s) ASSERT_EQ(*(*store)->append("a", "x"), s);
  ASSERT_TRUE((*store)->close());
  auto report = store::verify_store(dir.path(), nullptr);
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->clean()) << report->faults.front();
  EXPECT_EQ(report->last_seq, 2000u);
}

// close() releases STORE/LOCK: another writer opens the store while the
// closed Store object still exists (checked: without the release in close()
// the second open is refused with kBusy).
TEST(StoreClose, ReleasesTheWriterLock) {
  TempDir dir;
  auto first = Store::open(dir.path());
  ASSERT_TRUE(first);
  ASSERT_TRUE((*first)->append("s", "one"));
  ASSERT_TRUE((*first)->close());
  auto second = Store::open(dir.path());
  ASSERT_TRUE(second) << second.status().to_string();
  EXPECT_EQ(*(*second)->append("s", "two"), 2u);
}

}  // namespace
}  // namespace reel
