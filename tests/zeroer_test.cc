// Zeroing ahead (wal/zeroer.h) under the segment writer: it must never put a
// zero over a byte the writer wrote, it must leave the blocks ahead written
// (not merely preallocated), and the page-end padding of each write must stay
// inside its page.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "reel/reel.h"
#include "store_stress.h"
#include "test_util.h"
#include "wal/frame_format.h"
#include "wal/io_env.h"
#include "wal/segment_file.h"
#include "wal/segment_writer.h"

namespace reel::wal {
namespace {

constexpr uint64_t kCapacity = uint64_t{16} << 20;

std::unique_ptr<IoEnv> real_env() {
  auto env = make_uring_env();
  EXPECT_TRUE(env) << env.status().to_string();
  return std::move(*env);
}

// What the disk holds, not the page cache (a zeroing write that lands after
// the data was written back shows only there). The file must be synced.
std::string on_disk(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  EXPECT_GE(fd, 0) << path;
  EXPECT_EQ(::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0) << path;
  ::close(fd);
  return testing::read_all(path);
}

// A chunk in flight never overlaps what the writer has written.
void expect_clear_of(const SegmentWriter& writer, uint64_t written_end) {
  uint64_t from = 0, to = 0;
  if (writer.zeroer()->in_flight(&from, &to)) {
    ASSERT_GE(from, written_end) << "a zeroing chunk [" << from << ", " << to
                                 << ") is in flight over written bytes";
  }
}

// A segment writer zeroing with a one-page window: each chunk starts a page
// past the data, where the next write goes.
class ZeroerOnePageWindow : public ::testing::Test {
 protected:
  void SetUp() override {
    writer_.set_zero_ahead(4096);
    ASSERT_TRUE(writer_.start_segment(1, 0));
    if (writer_.zeroer() == nullptr) GTEST_SKIP() << "no O_DIRECT under " << dir_.path();
  }
  testing::TempDir dir_;
  std::unique_ptr<IoEnv> env_ = real_env();
  SegmentWriter writer_{env_.get(), dir_.path(), 7, kCapacity};
};

// Random batches, half of them followed by a sync and zero_ahead() (which
// starts the next chunk): the writer keeps running into chunks in flight. The
// file must hold exactly what was appended, and zeros after it.
TEST_F(ZeroerOnePageWindow, NeverZeroesOverWrittenBytes) {
  const uint64_t seed = testing::test_seed();
  std::mt19937_64 rng(seed);
  SegmentWriter& writer = writer_;
  std::string expect;
  std::vector<uint8_t> batch;
  while (writer.remaining_bytes() > (uint64_t{1} << 20)) {
    // Mostly small, now and then past a chunk in flight.
    const size_t n = rng() % 8 == 0 ? 1 + rng() % (600 << 10) : 1 + rng() % 9000;
    batch.resize(n);
    for (auto& b : batch) b = static_cast<uint8_t>(1 + rng() % 255);  // never zero
    ASSERT_TRUE(writer.append_batch(batch));
    expect_clear_of(writer, writer.end_offset());
    expect.append(batch.begin(), batch.end());
    if (rng() % 2 == 0) {
      ASSERT_TRUE(writer.sync());
      writer.zero_ahead();
    }
  }
  if (writer.zeroer()->stopped()) GTEST_SKIP() << "the file system refused the zeroing writes";
  EXPECT_GT(writer.zeroer()->waits(), 0u) << "the writer never met a chunk in flight";
  std::printf("waits %llu\n", static_cast<unsigned long long>(writer.zeroer()->waits()));
  EXPECT_GT(writer.zeroer()->zeroed_to(), kCapacity / 2) << "seed " << seed;
  ASSERT_TRUE(writer.seal());
  const std::string file = on_disk(writer.path());
  ASSERT_EQ(file.size(), kCapacity);
  const std::string data = file.substr(kSegmentHeaderBytes, expect.size());
  ASSERT_TRUE(data == expect) << "appended bytes changed; seed " << seed;
  EXPECT_EQ(file.find_first_not_of('\0', kSegmentHeaderBytes + expect.size()), std::string::npos)
      << "seed " << seed;
}

// The worst case, once per chunk: zero_ahead() starts a chunk at the page after
// the data, and the next write goes into it at once and is synced at once.
// (This kernel happened to keep the data even when the writer did not wait
// for the chunk, in every run tried; the order of two writes in flight to
// the same blocks is not promised, so the writer waits.)
TEST_F(ZeroerOnePageWindow, WriteIntoAChunkInFlightKeepsItsBytes) {
  SegmentWriter& writer = writer_;
  std::string expect;
  std::vector<uint8_t> batch(9000);
  for (int i = 0; writer.remaining_bytes() > (uint64_t{2} << 20); ++i) {
    std::memset(batch.data(), 'a' + i % 26, batch.size());
    ASSERT_TRUE(writer.append_batch(batch));
    expect_clear_of(writer, writer.end_offset());
    ASSERT_TRUE(writer.sync());
    writer.zero_ahead();
    expect.append(batch.begin(), batch.end());
  }
  // A chunk covers 1 MiB: one collision per chunk, ~13 in 14 MiB, of which
  // most find it still under way (1 MiB takes ~0.6 ms here; the write and
  // sync before it ~0.1 ms).
  EXPECT_GE(writer.zeroer()->waits(), 3u);
  ASSERT_TRUE(writer.seal());
  const std::string file = on_disk(writer.path());
  ASSERT_TRUE(file.substr(kSegmentHeaderBytes, expect.size()) == expect)
      << "zeros landed on appended bytes";
}

// Zeroing ahead leaves the blocks past the data written, so a sync into
// them commits no conversion; without it they stay preallocated only.
TEST(Zeroer, LeavesBlocksAheadWritten) {
  testing::TempDir dir;
  auto env = real_env();
  for (const uint64_t window : {uint64_t{0}, uint64_t{4} << 20}) {
    SegmentWriter writer(env.get(), dir.path(), 7, kCapacity);
    writer.set_zero_ahead(window);
    ASSERT_TRUE(writer.start_segment(1 + window, 0));
    const std::vector<uint8_t> record(1000, 0x5a);
    // Until the window is zeroed (a chunk starts after a sync once the one
    // before it completed), or 10,000 syncs.
    for (int i = 0; i < (window == 0 ? 40 : 10'000); ++i) {
      ASSERT_TRUE(writer.append_batch(record));
      ASSERT_TRUE(writer.sync());
      writer.zero_ahead();
      if (writer.zeroer() && writer.zeroer()->zeroed_to() >= writer.end_offset() + window) break;
    }
    // Whatever is in flight completes before the file is looked at.
    const std::string path = writer.path();
    const uint64_t zeroed = writer.zeroer() ? writer.zeroer()->zeroed_to() : 0;
    ASSERT_TRUE(writer.seal());
    const uint64_t probe = uint64_t{2} << 20;  // well past the 40 KB of data
    const auto unwritten = testing::unwritten_at(path, probe);
    if (!unwritten) GTEST_SKIP() << "FIEMAP not supported under " << dir.path();
    const bool probe_unwritten = *unwritten;
    if (window == 0) {
      EXPECT_TRUE(probe_unwritten) << "preallocated space reads as written: FIEMAP says nothing";
    } else {
      EXPECT_GE(zeroed, window) << "zeroing did not reach its window in 10,000 syncs";
      EXPECT_FALSE(probe_unwritten) << "offset " << probe << " was not zeroed ahead";
    }
  }
}

// The page-end padding goes to the page's end and no further.
TEST(Zeroer, PaddedWriteStopsAtTheTail) {
  testing::TempDir dir;
  auto env = real_env();
  const std::string path = dir / "f";
  testing::write_all(path, std::string(3 * 4096, '\xff'));
  auto fd = env->open_for_write(path);
  ASSERT_TRUE(fd);
  const uint8_t abc[] = {'a', 'b', 'c'};
  ASSERT_TRUE(write_all(env.get(), *fd, abc, 4096 + 10, path, 4096 - 13));
  env->close(*fd);
  const std::string file = testing::read_all(path);
  EXPECT_EQ(file.substr(0, 4096 + 10), std::string(4096 + 10, '\xff'));
  EXPECT_EQ(file.substr(4096 + 10, 3), "abc");
  EXPECT_EQ(file.substr(4096 + 13, 4096 - 13), std::string(4096 - 13, '\0'));
  EXPECT_EQ(file.substr(2 * 4096), std::string(4096, '\xff'));
}

// The whole store with a short zeroing window (chunks land just past the
// data): two producers making their records durable as leaders, the journal
// thread starting the chunks, a tailer reading beside them; then every
// record must be there after a reopen.
TEST(Zeroer, StoreKeepsEveryRecordBesideLeadersAndATailer) {
  testing::TempDir dir;
  StoreOptions o;
  o.segment_bytes_max = uint64_t{16} << 20;
  o.ring_bytes = uint64_t{1} << 20;
  o.zero_ahead_bytes = 64 << 10;
  testing::stress_producers_and_tailer(dir / "S", o, {.each = 4000, .max_payload = 3000},
                                       testing::test_seed());
}

}  // namespace
}  // namespace reel::wal
