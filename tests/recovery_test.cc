// Recovery and faults: torn tails at every byte, corruption that must not be
// cut, full disks, failed writes and syncs through the I/O seam, the writer
// lock, and readers without write access.
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include <lmdb.h>

#include <gtest/gtest.h>

#include "fault_env.h"
#include "reel/reel.h"
#include "store/head_format.h"
#include "store/store_internal.h"
#include "store/verify.h"
#include "test_util.h"
#include "wal/frame_format.h"

namespace reel {
namespace {

using testing::FaultEnv;
using testing::TempDir;
namespace fs = std::filesystem;

StoreOptions small(uint64_t segment = 32 * 1024) {
  StoreOptions o;
  o.segment_bytes_max = segment;
  return o;
}

void fill(const std::string& dir, int count, const StoreOptions& o = small()) {
  auto store = Store::open(dir, o);
  ASSERT_TRUE(store) << store.status().to_string();
  for (int i = 1; i <= count; ++i)
    ASSERT_TRUE((*store)->append("s", "record-" + std::to_string(i)));
  ASSERT_TRUE((*store)->close());
}

// Offset and size of the frame of `seq` in its segment.
std::pair<uint64_t, uint64_t> frame_location(const std::string& dir, uint64_t seq,
                                             const std::string& segment) {
  auto reader = Reader::open(dir);
  EXPECT_TRUE(reader);
  auto v = (*reader)->get(seq);
  EXPECT_TRUE(v) << v.status().to_string();
  const std::string bytes = testing::read_all(segment);
  // Find the frame by its bytes (the view points into the reader's mapping).
  std::string frame(reinterpret_cast<const char*>(v->frame().data()), v->frame().size());
  auto pos = bytes.find(frame);
  EXPECT_NE(pos, std::string::npos);
  return {pos, frame.size()};
}

TEST(Recovery, TornTailAtEveryByteOfTheLastFrameRecoversToTheFrameBefore) {
  TempDir base;
  const std::string pristine = base / "pristine";
  fill(pristine, 40);
  const std::string seg = testing::segment_path(pristine, 1);
  auto [start, size] = frame_location(pristine, 40, seg);
  for (uint64_t cut = start + 1; cut < start + size; ++cut) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    const std::string dir = base / ("cut" + std::to_string(cut));
    fs::copy(pristine, dir, fs::copy_options::recursive);
    testing::truncate_file(testing::segment_path(dir, 1), cut);
    {
      auto store = Store::open(dir, small());
      ASSERT_TRUE(store) << store.status().to_string();
      EXPECT_EQ((*store)->last_seq(), 39u);
      auto seq = (*store)->append("s", "after-recovery");
      ASSERT_TRUE(seq);
      EXPECT_EQ(*seq, 40u);
    }
    auto reader = Reader::open(dir);
    ASSERT_TRUE(reader);
    EXPECT_EQ((*reader)->get(39)->payload(), "record-39");
    EXPECT_EQ((*reader)->get(40)->payload(), "after-recovery");
    auto report = store::verify_store(dir, nullptr);
    ASSERT_TRUE(report);
    EXPECT_TRUE(report->clean()) << report->faults.front();
    fs::remove_all(dir);
  }
}

TEST(Recovery, GarbageAfterTheLastFrameIsCutAfterACrash) {
  TempDir dir;
  fill(dir.path(), 10);
  const std::string seg = testing::segment_path(dir.path(), 1);
  auto [start, size] = frame_location(dir.path(), 10, seg);
  testing::flip_bit(seg, start + size + 1000, 3);
  // Simulate a crash: no clean-shutdown marker.
  {
    std::string head = testing::read_all(dir / "head");
    head[store::kHeadCleanShutdownOffset] = 0;
    testing::write_all(dir / "head", head);
  }
  auto store = Store::open(dir.path(), small());
  ASSERT_TRUE(store) << store.status().to_string();
  EXPECT_EQ((*store)->last_seq(), 10u);
  ASSERT_TRUE((*store)->close());
  auto report = store::verify_store(dir.path(), nullptr);
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->clean()) << report->faults.front();
}

TEST(Recovery, FlippedBitInAMiddleFrameIsReportedByReaderAndVerify) {
  TempDir dir;
  fill(dir.path(), 200, small(1 << 20));
  const std::string seg = testing::segment_path(dir.path(), 1);
  auto [start, size] = frame_location(dir.path(), 100, seg);
  testing::flip_bit(seg, start + size / 2, 5);

  auto reader = Reader::open(dir.path());
  ASSERT_TRUE(reader);
  auto v = (*reader)->get(100);
  ASSERT_EQ(v.status().code(), Code::kCorruption);
  EXPECT_NE(v.status().message().find("wal/00000000000000000001.seg"), std::string::npos);
  EXPECT_NE(v.status().message().find("offset " + std::to_string(start)), std::string::npos);
  EXPECT_NE(v.status().message().find("(seq 100)"), std::string::npos);
  EXPECT_TRUE((*reader)->get(99));
  EXPECT_TRUE((*reader)->get(101));
  Cursor c = (*reader)->range(90, 110);
  RecordView rv;
  int seen = 0;
  while (c.next(&rv)) ++seen;
  EXPECT_EQ(seen, 10);
  EXPECT_EQ(c.status().code(), Code::kCorruption);

  auto report = store::verify_store(dir.path(), nullptr);
  ASSERT_TRUE(report);
  ASSERT_EQ(report->faults.size(), 1u);
  EXPECT_NE(report->faults[0].find("(seq 100)"), std::string::npos) << report->faults[0];
}

TEST(Recovery, CorruptionBeforeValidFramesIsNeverCut) {
  TempDir dir;
  fill(dir.path(), 200, small(1 << 20));
  fs::remove_all(dir / "index");  // so recovery scans the whole WAL
  const std::string seg = testing::segment_path(dir.path(), 1);
  auto [start, size] = frame_location(dir.path(), 150, seg);
  testing::flip_bit(seg, start + 30, 0);
  const std::string before = testing::read_all(seg);
  auto store = Store::open(dir.path(), small(1 << 20));
  ASSERT_FALSE(store);
  EXPECT_EQ(store.status().code(), Code::kCorruption);
  EXPECT_NE(store.status().message().find("(seq 150)"), std::string::npos)
      << store.status().message();
  EXPECT_EQ(testing::read_all(seg), before) << "recovery changed a corrupt segment";
}

// Opens the store at `dir` (its index damaged), which must hold `last`
// records, and checks the index it rebuilt.
void expect_reopened_with_whole_index(const std::string& dir, uint64_t last) {
  auto store = Store::open(dir, small(1 << 20));
  ASSERT_TRUE(store) << store.status().to_string();
  EXPECT_EQ((*store)->last_seq(), last);
  ASSERT_TRUE((*store)->close());
  auto report = store::verify_store(dir, nullptr);
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->clean()) << report->faults.front();
  EXPECT_EQ(report->indexed_seq, last);
}

// The index is derived data: one LMDB calls damaged (a file system that lost
// writes, seen with the real EIO test) is started afresh, not a refusal.
TEST(Recovery, DamagedIndexIsRebuiltNotRefused) {
  TempDir dir;
  fill(dir.path(), 200, small(1 << 20));
  testing::write_all(dir.path() + "/index/data.mdb", std::string(16384, '\x5a'));
  expect_reopened_with_whole_index(dir.path(), 200u);
}

// An index file shorter than its last commit (ext4 lost its end after a
// failed device, in the real EIO test): LMDB alone would take a SIGBUS on
// the first page past the end. The writer extends the file, LMDB finds the
// lost pages zero (damage), and the index is rebuilt from the WAL.
TEST(Recovery, IndexFileCutShortIsRebuiltNotASigbus) {
  TempDir dir;
  fill(dir.path(), 3000, small(1 << 20));
  const std::string mdb = dir.path() + "/index/data.mdb";
  ASSERT_GT(std::filesystem::file_size(mdb), 4u * 4096) << "the index is too small to cut";
  testing::truncate_file(mdb, 2 * 4096);  // the meta pages only
  expect_reopened_with_whole_index(dir.path(), 3000u);
}

// `reel reindex` repairs a damaged index instead of refusing it.
TEST(Recovery, ReindexRebuildsADamagedIndex) {
  TempDir dir;
  fill(dir.path(), 50, small(1 << 20));
  testing::write_all(dir.path() + "/index/data.mdb", std::string(16384, '\x5a'));
  uint64_t indexed = 0;
  Status s = store::reindex_store(dir.path(), &indexed);
  ASSERT_TRUE(s) << s.to_string();
  EXPECT_EQ(indexed, 50u);
}

TEST(Recovery, SegmentWhoseCreationWasCutShortIsRemoved) {
  TempDir dir;
  fill(dir.path(), 5);
  testing::write_all(testing::segment_path(dir.path(), 6), std::string(100, '\0'));
  auto store = Store::open(dir.path(), small());
  ASSERT_TRUE(store) << store.status().to_string();
  EXPECT_EQ((*store)->last_seq(), 5u);
  ASSERT_TRUE((*store)->append("s", "six"));
}

TEST(Recovery, SecondWriterIsRefusedInThisAndAnotherProcess) {
  TempDir dir;
  auto first = Store::open(dir.path());
  ASSERT_TRUE(first);
  auto second = Store::open(dir.path());
  ASSERT_EQ(second.status().code(), Code::kBusy);
  EXPECT_NE(second.status().message().find("pid " + std::to_string(::getpid())), std::string::npos)
      << second.status().message();
  pid_t child = ::fork();
  if (child == 0) {
    auto other = Store::open(dir.path());
    ::_exit(other.status().code() == Code::kBusy ? 0 : 1);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ASSERT_TRUE((*first)->close());
  first->reset();
  EXPECT_TRUE(Store::open(dir.path()));
}

// A full disk when the next segment is created: appended records wait in
// the ring, flush() and then append() report kNoSpace, and once space
// returns the journaller creates the segment and writes every one of them.
TEST(Recovery, FullDiskAtSegmentCreationLosesNoAcknowledgedRecord) {
  TempDir dir;
  FaultEnv::Plan plan;
  plan.fail_create_after = 3;
  uint64_t flushed = 0, appended = 0;
  Status failure;
  {
    auto store =
        store::open_store_with_env(dir.path(), small(8192), std::make_unique<FaultEnv>(&plan));
    ASSERT_TRUE(store);
    for (int i = 1; i <= 10000 && failure.is_ok(); ++i) {
      auto seq = (*store)->append("s", std::string(100, 'a' + i % 26));
      if (!seq) {
        failure = seq.status();
        break;
      }
      appended = *seq;
      if (i % 10 == 0) {
        failure = (*store)->flush();
        if (failure) flushed = appended;
      }
    }
    EXPECT_EQ(failure.code(), Code::kNoSpace) << failure.to_string();
    EXPECT_NE(failure.message().find(".seg.tmp: cannot preallocate"), std::string::npos)
        << failure.message();
    EXPECT_GT(flushed, 0u);
    EXPECT_EQ((*store)->flush().code(), Code::kNoSpace);
    // Space returns: the journaller creates the segment and writes the rest.
    plan.fail_create_after = -1;
    Status s = (*store)->flush();
    ASSERT_TRUE(s) << s.to_string();
    appended = (*store)->last_seq();
    auto seq = (*store)->append("s", "after");
    ASSERT_TRUE(seq) << seq.status().to_string();
    EXPECT_EQ(*seq, appended + 1);
    ASSERT_TRUE((*store)->close());
  }
  auto reader = Reader::open(dir.path());
  ASSERT_TRUE(reader);
  for (uint64_t s = 1; s <= appended; ++s) ASSERT_TRUE((*reader)->get(s)) << s;
  EXPECT_EQ((*reader)->get(appended + 1)->payload(), "after");
}

// Counts index commits, and reports the index damaged (MDB_CORRUPTED) at
// commit number `fail_at` (1 = the first; 0: never).
class CorruptCommitEnv final : public testing::UringForwardingEnv {
 public:
  explicit CorruptCommitEnv(int fail_at) : fail_at_(fail_at) {}
  int commits = 0;
  bool fired = false;
  int index_call(const std::function<int()>& call, const std::string& what) override {
    if (what == "index: commit" && ++commits == fail_at_) {
      fired = true;
      return MDB_CORRUPTED;
    }
    return UringForwardingEnv::index_call(call, what);
  }

 private:
  const int fail_at_;
};

// An index whose damage shows only after recovery, at the last commit of
// the open (the store's id written to it; a file system that lost writes
// left such an index): the index is rebuilt from the WAL and the store
// opens, instead of refusing.
TEST(Recovery, IndexDamageFoundAfterRecoveryRebuildsTheIndex) {
  TempDir dir;
  {
    auto store = Store::open(dir.path());
    ASSERT_TRUE(store);
    for (int i = 1; i <= 100; ++i) ASSERT_TRUE((*store)->append("s", testing::numbered("r", i)));
    ASSERT_TRUE((*store)->close());
  }
  // How many commits a clean open makes (the same each time).
  int at_open = 0;
  {
    auto counting = std::make_unique<CorruptCommitEnv>(0);
    auto* counted = counting.get();
    auto store = store::open_store_with_env(dir.path(), StoreOptions{}, std::move(counting));
    ASSERT_TRUE(store);
    at_open = counted->commits;  // before close, which commits too
    ASSERT_TRUE((*store)->close());
  }
  ASSERT_GT(at_open, 0);
  auto env = std::make_unique<CorruptCommitEnv>(at_open);
  auto* seen = env.get();
  {
    auto again = store::open_store_with_env(dir.path(), StoreOptions{}, std::move(env));
    ASSERT_TRUE(again) << again.status().to_string();
    EXPECT_TRUE(seen->fired);
    EXPECT_EQ((*again)->last_seq(), 100u);
    ASSERT_TRUE((*again)->close());
  }
  auto reader = Reader::open(dir.path());
  ASSERT_TRUE(reader);
  EXPECT_TRUE((*reader)->indexed());
  for (int i = 1; i <= 100; ++i) EXPECT_EQ((*reader)->get(i)->payload(), testing::numbered("r", i));
}

TEST(Recovery, RealFullDiskOnATinyTmpfs) {
  TempDir dir;
  const std::string mnt = dir / "mnt";
  fs::create_directory(mnt);
  if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=1m") != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs here (needs root): " << std::strerror(errno);
  }
  uint64_t flushed = 0;
  Status failure;
  {
    auto store = Store::open(mnt + "/S", small(256 * 1024));
    ASSERT_TRUE(store) << store.status().to_string();
    for (int i = 1; i <= 100000 && failure.is_ok(); ++i) {
      auto seq = (*store)->append("s", std::string(200, 'x'));
      if (!seq) {
        failure = seq.status();
        break;
      }
      if (i % 50 == 0) {
        failure = (*store)->flush();
        if (failure) flushed = *seq;
      }
    }
  }  // close() reports the records left in the ring
  EXPECT_EQ(failure.code(), Code::kNoSpace) << failure.to_string();
  EXPECT_NE(failure.message().find("No space left on device"), std::string::npos);
  EXPECT_GT(flushed, 0u);
  {
    auto reader = Reader::open(mnt + "/S");
    ASSERT_TRUE(reader);
    auto stats = (*reader)->stats();
    ASSERT_TRUE(stats);
    EXPECT_GE(stats->last_seq, flushed);
    for (uint64_t s = 1; s <= stats->last_seq; ++s) ASSERT_TRUE((*reader)->get(s)) << s;
  }
  ::umount2(mnt.c_str(), MNT_DETACH);
}

TEST(Recovery, FailedWriteStopsAcknowledgingAndReopenKeepsWhatWasWritten) {
  TempDir dir;
  FaultEnv::Plan plan;
  StoreOptions o = small(1 << 20);
  {
    auto store = store::open_store_with_env(dir.path(), o, std::make_unique<FaultEnv>(&plan));
    ASSERT_TRUE(store);
    for (int i = 0; i < 10; ++i) ASSERT_TRUE((*store)->append("s", "kept"));
    ASSERT_TRUE((*store)->flush());
    plan.fail_write_at = 0;
    auto* env_writes = &plan;  // next write_some fails: count from the env's own counter
    (void)env_writes;
  }
  FaultEnv::Plan plan2;
  plan2.fail_write_at = 0;  // the very first write of this session fails
  auto store = store::open_store_with_env(dir.path(), o, std::make_unique<FaultEnv>(&plan2));
  ASSERT_TRUE(store) << store.status().to_string();
  ASSERT_TRUE((*store)->append("s", "lost"));
  Status s = (*store)->flush();
  EXPECT_EQ(s.code(), Code::kIoError) << s.to_string();
  auto again = (*store)->append("s", "refused");
  EXPECT_EQ(again.status().code(), Code::kFailed) << again.status().to_string();
  EXPECT_EQ((*store)->sync().code(), Code::kFailed);
  store->reset();
  auto reopened = Store::open(dir.path(), o);
  ASSERT_TRUE(reopened);
  EXPECT_EQ((*reopened)->last_seq(), 10u);
}

TEST(Recovery, FailedFsyncIsNeverRetriedThenAcknowledged) {
  TempDir dir;
  FaultEnv::Plan plan;
  StoreOptions o = small(1 << 20);
  o.sync.mode = SyncPolicy::Mode::kNone;
  auto env = std::make_unique<FaultEnv>(&plan);
  FaultEnv* raw = env.get();
  auto store = store::open_store_with_env(dir.path(), o, std::move(env));
  ASSERT_TRUE(store);
  ASSERT_TRUE((*store)->append("s", "a"));
  plan.fail_sync_at = raw->syncs.load();  // the next fdatasync fails
  EXPECT_EQ((*store)->sync().code(), Code::kIoError);
  EXPECT_EQ((*store)->watermarks().durable_seq, 0u);
  // The kernel would report the next fsync as fine; reel must not believe it.
  EXPECT_EQ((*store)->sync().code(), Code::kFailed);
  EXPECT_EQ((*store)->watermarks().durable_seq, 0u);
}

TEST(Recovery, ShortWritesAreResubmitted) {
  TempDir dir;
  FaultEnv::Plan plan;
  plan.short_writes = true;
  {
    auto store =
        store::open_store_with_env(dir.path(), small(64 * 1024), std::make_unique<FaultEnv>(&plan));
    ASSERT_TRUE(store);
    for (int i = 1; i <= 2000; ++i) ASSERT_TRUE((*store)->append("s", std::to_string(i)));
  }
  auto report = store::verify_store(dir.path(), nullptr);
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->clean());
  EXPECT_EQ(report->records, 2000u);
}

TEST(Recovery, ReaderWorksWithoutWriteAccessToTheStore) {
  TempDir dir;
  fill(dir.path(), 300);
  pid_t child = ::fork();
  if (child == 0) {
    // Drop every privilege that could write: run as nobody (root bypasses
    // permission bits), or remove write bits when not root.
    if (::getuid() == 0) {
      if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(10);
    } else {
      for (auto& entry : fs::recursive_directory_iterator(dir.path())) {
        fs::permissions(entry.path(),
                        fs::perms::owner_write | fs::perms::group_write | fs::perms::others_write,
                        fs::perm_options::remove);
      }
      fs::permissions(dir.path(), fs::perms::owner_write, fs::perm_options::remove);
    }
    if (::access((dir.path() + "/wal").c_str(), R_OK | X_OK) != 0) ::_exit(20);  // cannot reach it
    if (::access((dir.path() + "/wal").c_str(), W_OK) == 0) ::_exit(11);
    auto reader = Reader::open(dir.path());
    if (!reader) ::_exit(12);
    auto v = (*reader)->get(123);
    if (!v || v->payload() != "record-123") ::_exit(13);
    Cursor c = (*reader)->by_time("s", 0, UINT64_MAX);
    RecordView rv;
    int n = 0;
    while (c.next(&rv)) ++n;
    if (n != 300 || !c.status()) ::_exit(14);
    auto stats = (*reader)->stats();
    if (!stats || stats->record_count != 300) ::_exit(15);
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 20) {
    GTEST_SKIP() << "user nobody cannot reach " << dir.path() << " (is $TMPDIR private?)";
  }
  EXPECT_EQ(WEXITSTATUS(status), 0) << "child failed at step " << WEXITSTATUS(status);
  if (::getuid() != 0) {
    for (auto& entry : fs::recursive_directory_iterator(dir.path())) {
      fs::permissions(entry.path(), fs::perms::owner_write, fs::perm_options::add);
    }
  }
}

}  // namespace
}  // namespace reel
