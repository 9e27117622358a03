// Simulated power loss through the I/O seam (power_loss_env.h): a writer
// appends records of mixed sizes under a random sync policy and segment size,
// the power goes off after a random number of I/O operations, unsynced pages
// are kept, lost, torn or garbled and unsynced renames undone, the index is
// sometimes lost too, and then a plain Store::open must recover unaided and
// hold every record acknowledged durable (sync() returned), dense from seq 1,
// each with its exact payload, no duplicate, verify clean.
//
// REEL_POWER_CUTS sets the number of cuts (default 200; docs/durability.md's long run
// uses thousands). A failure prints the cut's own REEL_TEST_SEED, which
// replays that one cut.
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <string>

#include <gtest/gtest.h>

#include "power_loss_env.h"
#include "reel/reel.h"
#include "store/segment_set.h"
#include "store/store_internal.h"
#include "store/verify.h"
#include "test_util.h"

namespace reel {
namespace {

using testing::PowerLossEnv;
using testing::TempDir;
namespace fs = std::filesystem;

struct Model {
  std::map<uint64_t, std::string> payloads;  // every seq append() returned
  uint64_t acked_durable = 0;                // last seq a successful sync() covered
};

std::string payload(std::mt19937_64& rng, uint64_t n) {
  const uint64_t pick = rng() % 100;
  size_t size = pick < 60 ? 1 + rng() % 64 : pick < 95 ? 64 + rng() % 2000 : 4096 + rng() % 20000;
  std::string p(size, '\0');
  for (auto& c : p) c = static_cast<char>(rng());
  std::memcpy(p.data(), &n, std::min(sizeof n, p.size()));
  return p;
}

StoreOptions options_for(std::mt19937_64& rng) {
  StoreOptions o;
  const uint64_t segments[] = {16 << 10, 64 << 10, 256 << 10};
  o.segment_bytes_max = segments[rng() % 3];
  o.ring_bytes = o.segment_bytes_max;
  switch (rng() % 3) {
    case 0:
      o.sync.mode = SyncPolicy::Mode::kNone;
      break;
    case 1:
      o.sync.mode = SyncPolicy::Mode::kInterval;
      o.sync.interval = std::chrono::milliseconds(1);
      break;
    default:
      o.sync.mode = SyncPolicy::Mode::kAlways;
  }
  o.index_sync_interval = std::chrono::milliseconds(rng() % 2 == 0 ? 1 : 1000);
  return o;
}

// Appends until the power goes off (or 400 records), syncing now and then.
void write_until_cut(const std::string& dir, const StoreOptions& o, std::mt19937_64& rng,
                     PowerLossEnv* env, Model* model) {
  auto store = store::open_store_with_env(dir, o, std::make_unique<testing::BorrowedEnv>(env));
  if (!store) return;  // the power went off during recovery
  env->cut_after(1 + rng() % 300);
  const uint64_t sync_every = 1 + rng() % 40;
  for (uint64_t i = 1; i <= 400 && !env->is_cut(); ++i) {
    std::string p = payload(rng, i);
    auto seq = (*store)->append(testing::numbered("s", rng() % 3), p);
    if (!seq) break;
    model->payloads[*seq] = std::move(p);
    if (i % sync_every == 0) {
      if (!(*store)->sync()) break;
      model->acked_durable = *seq;
    }
  }
  env->cut();
  store->reset();
}

// After the cut: everything acknowledged durable is there, dense, exact.
void check_recovered(const std::string& dir, const StoreOptions& o, const Model& model,
                     const std::string& what) {
  auto store = Store::open(dir, o);
  ASSERT_TRUE(store) << what << ": the store did not open: " << store.status().to_string();
  const uint64_t last = (*store)->last_seq();
  ASSERT_GE(last, model.acked_durable) << what << ": acknowledged durable records were lost";
  ASSERT_TRUE((*store)->close());
  auto reader = Reader::open(dir);
  ASSERT_TRUE(reader) << reader.status().to_string();
  Cursor c = (*reader)->range(1);
  RecordView v;
  uint64_t expect = 1;
  while (c.next(&v)) {
    ASSERT_EQ(v.seq(), expect) << what << ": a gap or a duplicate";
    auto it = model.payloads.find(v.seq());
    ASSERT_NE(it, model.payloads.end()) << what << ": seq " << v.seq() << " was never appended";
    ASSERT_EQ(v.payload(), it->second) << what << ": seq " << v.seq() << " has other bytes";
    ++expect;
  }
  ASSERT_TRUE(c.status()) << what << ": " << c.status().to_string();
  ASSERT_EQ(expect - 1, last) << what;
  auto report = store::verify_store(dir, nullptr);
  ASSERT_TRUE(report) << what << ": " << report.status().to_string();
  ASSERT_TRUE(report->clean()) << what << ": verify: " << report->faults.front();
}

// One seeded cut, possibly after earlier sessions on the same store.
uint64_t one_cut(uint64_t seed) {  // returns the records acknowledged durable
  std::mt19937_64 rng(seed);
  TempDir dir;
  Model model;
  const StoreOptions o = options_for(rng);
  const int sessions = 1 + static_cast<int>(rng() % 2);
  uint64_t acked = 0;
  std::string what;
  for (int session = 0; session < sessions; ++session) {
    PowerLossEnv env;
    const uint64_t before = model.acked_durable;
    write_until_cut(dir.path(), o, rng, &env, &model);
    auto damage = env.apply_power_loss(rng);
    const uint64_t fate = rng() % 8;
    if (fate == 0) fs::remove_all(dir / "index");  // LMDB lost its unsynced commits
    if (fate == 1) fs::remove(dir / "head");       // the head file too
    what = "REEL_TEST_SEED=" + std::to_string(seed) + " (session " + std::to_string(session) +
           ": " + std::to_string(env.ops()) + " ops, unsynced writes kept " +
           std::to_string(damage.writes_kept) + " reverted " +
           std::to_string(damage.writes_reverted) + " torn " + std::to_string(damage.writes_torn) +
           " garbled " + std::to_string(damage.writes_garbled) + ", renames undone " +
           std::to_string(damage.renames_undone) + ", fate " + std::to_string(fate) +
           ", acked durable " + std::to_string(model.acked_durable) + ")";
    check_recovered(dir.path(), o, model, what);
    if (::testing::Test::HasFatalFailure()) return 0;
    // What was never acknowledged may be gone: the model keeps only what the
    // store now holds, so later sessions append after it.
    auto reader = Reader::open(dir.path());
    const uint64_t last = (*reader)->stats()->last_seq;
    model.payloads.erase(model.payloads.upper_bound(last), model.payloads.end());
    acked += model.acked_durable - before;  // acknowledged in this session
    model.acked_durable = last;             // recovery synced what it kept
  }
  return acked;
}

// A writer in a child process appends `count` records with sync none, waits
// until they are written and indexed (`durable`: synced too), then dies
// without closing.
void crash_after_appending(const std::string& dir, int count, bool durable,
                           uint64_t segment = 64 << 20) {
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    StoreOptions o;
    o.segment_bytes_max = segment;
    o.sync.mode = SyncPolicy::Mode::kNone;
    auto store = Store::open(dir, o);
    if (!store) _exit(2);
    for (int i = 1; i <= count; ++i) {
      if (!(*store)->append("s", "record-" + std::to_string(i) + std::string(100, 'x'))) _exit(3);
    }
    if (!(durable ? (*store)->sync() : (*store)->flush())) _exit(4);
    _exit(0);  // no close: a crash
  }
  ASSERT_EQ(testing::wait_child(pid, std::chrono::seconds(60)), 0);
}

// A page of never-synced data lost (zeroed) under
// records the index already covers. The next writer must open, cut from the
// damage on, say so, and leave a store that verifies clean.
TEST(PowerLoss, LostPageOfNeverSyncedDataIsCutEvenWhereIndexed) {
  TempDir dir;
  crash_after_appending(dir.path(), 20000, false);
  const std::string seg = testing::segment_path(dir.path(), 1);
  const uint64_t page_offset = 1 << 20;  // ~ seq 5,000 (frames of ~210 bytes)
  {
    const std::string zeros(4096, '\0');
    int fd = ::open(seg.c_str(), O_WRONLY);
    ASSERT_EQ(::pwrite(fd, zeros.data(), zeros.size(), page_offset), 4096);
    ::close(fd);
  }
  StoreOptions o;
  o.segment_bytes_max = 64 << 20;
  auto store = Store::open(dir.path(), o);
  ASSERT_TRUE(store) << store.status().to_string();
  const uint64_t last = (*store)->last_seq();
  EXPECT_GT(last, 4000u);
  EXPECT_LT(last, 6000u);
  auto seq = (*store)->append("s", "after the cut");
  ASSERT_TRUE(seq);
  EXPECT_EQ(*seq, last + 1);
  ASSERT_TRUE((*store)->close());
  auto report = store::verify_store(dir.path(), nullptr);
  ASSERT_TRUE(report) << report.status().to_string();
  EXPECT_TRUE(report->clean()) << report->faults.front();
  EXPECT_EQ(report->last_seq, last + 1);
  auto reader = Reader::open(dir.path());
  auto v = (*reader)->get(last);
  ASSERT_TRUE(v) << v.status().to_string();
  EXPECT_EQ(v->payload(), "record-" + std::to_string(last) + std::string(100, 'x'));
}

// The same damage below the durable point is corruption: the open fails,
// names the seq, and nothing is cut.
TEST(PowerLoss, LostPageBelowTheDurablePointIsCorruptionAndNothingIsCut) {
  TempDir dir;
  crash_after_appending(dir.path(), 20000, true);
  fs::remove_all(dir / "index");  // recovery trusts durable bytes the index covers
  const std::string seg = testing::segment_path(dir.path(), 1);
  testing::flip_bit(seg, 1 << 20, 3);
  const std::string before = testing::read_all(seg);
  StoreOptions o;
  o.segment_bytes_max = 64 << 20;
  auto store = Store::open(dir.path(), o);
  ASSERT_FALSE(store);
  EXPECT_EQ(store.status().code(), Code::kCorruption);
  EXPECT_NE(store.status().message().find("durable point seq 20000"), std::string::npos)
      << store.status().message();
  EXPECT_EQ(testing::read_all(seg), before) << "recovery changed a corrupt segment";
}

// RecoveryMode::kNeverCut: where recovery would cut, the open fails naming
// what it would cut, and the WAL stays as it is.
TEST(PowerLoss, NeverCutModeRefusesInsteadOfCutting) {
  TempDir dir;
  crash_after_appending(dir.path(), 2000, false);
  const std::string seg = testing::segment_path(dir.path(), 1);
  testing::flip_bit(seg, 100000, 1);
  const std::string before = testing::read_all(seg);
  StoreOptions o;
  o.segment_bytes_max = 64 << 20;
  o.recovery = RecoveryMode::kNeverCut;
  auto store = Store::open(dir.path(), o);
  ASSERT_FALSE(store);
  EXPECT_EQ(store.status().code(), Code::kCorruption);
  EXPECT_NE(store.status().message().find("would be cut"), std::string::npos)
      << store.status().message();
  EXPECT_EQ(testing::read_all(seg), before);
  o.recovery = RecoveryMode::kTruncateTornTail;
  auto cut = Store::open(dir.path(), o);
  ASSERT_TRUE(cut) << cut.status().to_string();
  EXPECT_LT((*cut)->last_seq(), 2000u);
}

// A search past a stop reads only what was written: the preallocated rest of
// a 64 MiB segment holding ~1.5 MiB is a hole to SEEK_DATA, past the data
// and the window the writer zeroed ahead of it (StoreOptions::zero_ahead_bytes,
// plus the chunk that may have been under way).
TEST(PowerLoss, SearchesStopAtTheSegmentsWrittenData) {
  TempDir dir;
  crash_after_appending(dir.path(), 8000, false);
  store::SegmentSet segs(dir.path() + "/wal");
  ASSERT_TRUE(segs.refresh());
  ASSERT_EQ(segs.size(), 1u);
  const uint64_t end = segs.data_end(0);
  EXPECT_GE(end, 8000u * 100);
  const uint64_t bound =
      (uint64_t{4} << 20) + StoreOptions{}.zero_ahead_bytes + (uint64_t{1} << 20);
  EXPECT_LT(end, bound) << "SEEK_HOLE did not bound the search on this file system";
  StoreOptions o;
  o.segment_bytes_max = 64 << 20;
  auto store = Store::open(dir.path(), o);
  ASSERT_TRUE(store) << store.status().to_string();
  EXPECT_EQ((*store)->last_seq(), 8000u);
  // A file that cannot be measured is searched whole, never treated as
  // holding no data (which would turn damage into the end of the log).
  ASSERT_TRUE((*store)->close());
  fs::remove(testing::segment_path(dir.path(), 1));
  EXPECT_EQ(segs.data_end(0), UINT64_MAX);
}

// A torn frame whose few bytes (fewer than 8) are all that follows the last
// whole frame (found by the cut test: a wrap padding frame half written at
// a segment's end) is cut, not left behind for verify to report.
TEST(PowerLoss, TornFrameOfFewerThanEightBytesIsCut) {
  TempDir dir;
  crash_after_appending(dir.path(), 100, false);
  uint64_t end = 0;
  {
    auto reader = Reader::open(dir.path());
    auto last = (*reader)->get(100);
    ASSERT_TRUE(last);
    const std::string bytes = testing::read_all(testing::segment_path(dir.path(), 1));
    const std::string frame(reinterpret_cast<const char*>(last->frame().data()),
                            last->frame().size());
    end = bytes.find(frame) + frame.size();
  }
  const std::string seg = testing::segment_path(dir.path(), 1);
  {
    int fd = ::open(seg.c_str(), O_WRONLY);
    ASSERT_EQ(::pwrite(fd, "\x11\x22\x33\x44\x55", 5, static_cast<off_t>(end)), 5);
    ::close(fd);
  }
  StoreOptions o;
  o.segment_bytes_max = 64 << 20;
  auto store = Store::open(dir.path(), o);
  ASSERT_TRUE(store) << store.status().to_string();
  EXPECT_EQ((*store)->last_seq(), 100u);
  ASSERT_TRUE((*store)->close());
  auto report = store::verify_store(dir.path(), nullptr);
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->clean()) << report->faults.front();
}

TEST(PowerLoss, AcknowledgedDurableRecordsSurviveEveryCut) {
  const uint64_t base = testing::test_seed();
  uint64_t cuts = 200;
  if (const char* n = std::getenv("REEL_POWER_CUTS")) cuts = std::strtoull(n, nullptr, 10);
  if (std::getenv("REEL_TEST_SEED") != nullptr) cuts = std::min<uint64_t>(cuts, 1);
  uint64_t acked = 0, cuts_after_acks = 0;
  for (uint64_t i = 0; i < cuts; ++i) {
    const uint64_t n = one_cut(base + i);
    if (HasFatalFailure()) return;
    acked += n;
    cuts_after_acks += n > 0 ? 1 : 0;
  }
  std::printf(
      "[ cuts     ] %llu power cuts (%llu after acknowledgements), %llu records acknowledged "
      "durable, 0 lost\n",
      static_cast<unsigned long long>(cuts), static_cast<unsigned long long>(cuts_after_acks),
      static_cast<unsigned long long>(acked));
  // A cut with nothing acknowledged proves nothing about durability: most
  // cuts must come after some sync() returned, or the workload is broken.
  if (cuts >= 20) {
    EXPECT_GE(cuts_after_acks, cuts / 2) << "too few cuts came after an acknowledged sync";
  }
}

}  // namespace
}  // namespace reel
