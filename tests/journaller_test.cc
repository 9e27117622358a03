// The journaller writes frames built in the ring by several producers into
// real segments through io_uring; what it writes reads back and verifies.
#include <atomic>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "fault_env.h"
#include "pipeline/journaller.h"
#include "pipeline/ring_indexer.h"
#include "reel/reel.h"
#include "ring/wait_strategy.h"
#include "store/store_internal.h"
#include "store/verify.h"
#include "test_util.h"
#include "wal/frame.h"

namespace reel::pipeline {
namespace {

constexpr uint64_t kSegment = 64 * 1024;

struct Recorder : JournalListener {
  std::atomic<uint64_t> written{0}, durable{0};
  std::vector<std::pair<uint64_t, uint64_t>> segments;
  Status failure;
  void on_written(uint64_t seq) override { written = seq; }
  void on_durable(uint64_t seq) override { durable = seq; }
  void on_segment(uint64_t index, uint64_t first_seq) override {
    segments.emplace_back(index, first_seq);
  }
  void on_failure(const Status& s) override { failure = s; }
};

// Appends `each` records from each of `producers` threads through the ring.
void produce(FrameRing* ring, int producers, int each, ring::YieldingWait* wait) {
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([=] {
      wal::FrameEncoder enc;
      for (int i = 0; i < each; ++i) {
        const std::string payload =
            std::to_string(p) + ":" + std::to_string(i) + std::string(i % 300, 'x');
        const std::string key = "k" + std::to_string(i % 10);
        wal::RecordFields f;
        f.seq = 1;
        f.ts_ns = 1000 + i;
        f.stream = 1;
        f.payload = payload;
        f.key = key;
        if (i == 0) f.stream_name = "ticks";
        const size_t bytes = enc.prepare(f);
        FrameRing::Claim c;
        ring->claim(bytes, &c, *wait);
        f.seq = c.seq;
        enc.prepare(f);
        const uint32_t segment_no = static_cast<uint32_t>(ring->segment_of(c.position));
        ring->publish(c, enc.write_unpublished(segment_no, {c.data, c.bytes}));
      }
    });
  }
  for (auto& t : threads) t.join();
}

TEST(Journaller, WritesRingFramesIntoSegmentsThatReadBackAndVerify) {
  testing::TempDir dir;
  std::filesystem::create_directories(dir / "wal");
  auto env = wal::make_uring_env();
  ASSERT_TRUE(env);
  wal::SegmentWriter writer(env->get(), dir / "wal", 42, kSegment);
  FrameRing ring(32 * 1024, 8 * 1024, 1, 1, 0, kSegment, wal::kSegmentHeaderBytes);
  Recorder recorder;
  Journaller::Options options;
  options.sync.mode = SyncPolicy::Mode::kAlways;
  options.segment_bytes = kSegment;
  Journaller journaller(&ring, &writer, &recorder, options, 0);

  constexpr int kProducers = 3, kEach = 4000;
  ring::YieldingWait wait;
  std::atomic<bool> saw_undurable{false};
  std::thread journal([&] {
    while (!journaller.failed() && recorder.written < uint64_t{kProducers} * kEach) {
      if (!journaller.step()) std::this_thread::yield();
      // With sync always, nothing written is ever left undurable after a step.
      if (recorder.durable != recorder.written) saw_undurable = true;
    }
    if (journaller.failed()) {
      std::fprintf(stderr, "journaller failed: %s\n", recorder.failure.to_string().c_str());
      std::abort();  // producers would wait forever on a ring nobody drains
    }
  });
  produce(&ring, kProducers, kEach, &wait);
  journal.join();
  ASSERT_TRUE(recorder.failure.is_ok()) << recorder.failure.to_string();
  EXPECT_FALSE(saw_undurable) << "a step returned with written > durable under sync always";
  EXPECT_EQ(recorder.durable, uint64_t{kProducers} * kEach);
  EXPECT_GT(recorder.segments.size(), 5u);
  ASSERT_TRUE(writer.seal());

  auto reader = Reader::open(dir.path());
  ASSERT_TRUE(reader);
  Cursor cursor = (*reader)->range(1);
  RecordView v;
  uint64_t expect = 1;
  std::vector<int> next_of(kProducers, 0);
  while (cursor.next(&v)) {
    ASSERT_EQ(v.seq(), expect++);
    const std::string payload(v.payload());
    const int p = payload[0] - '0';
    ASSERT_EQ(payload.substr(0, payload.find('x')),
              std::to_string(p) + ":" + std::to_string(next_of[p]++));
  }
  ASSERT_TRUE(cursor.status()) << cursor.status().to_string();
  EXPECT_EQ(expect, uint64_t{kProducers} * kEach + 1);
  auto report = store::verify_store(dir.path(), nullptr);
  ASSERT_TRUE(report);
  EXPECT_EQ(report->records, uint64_t{kProducers} * kEach);
  for (const auto& fault : report->faults) {
    EXPECT_EQ(fault.rfind("index:", 0), 0u) << fault;  // no index here; the WAL must be clean
  }
  for (const auto& [index, first_seq] : recorder.segments) {
    EXPECT_TRUE(std::filesystem::exists(testing::segment_path(dir.path(), first_seq))) << index;
  }
}

TEST(Journaller, FailedWriteStopsTheJournallerAndNothingIsReleased) {
  testing::TempDir dir;
  std::filesystem::create_directories(dir / "wal");
  testing::FaultEnv::Plan plan;
  plan.fail_write_at = 3;  // the header write of segment 0 is write 0
  testing::FaultEnv env(&plan);
  wal::SegmentWriter writer(&env, dir / "wal", 42, kSegment);
  FrameRing ring(32 * 1024, 8 * 1024, 1, 1, 0, kSegment, wal::kSegmentHeaderBytes);
  Recorder recorder;
  Journaller::Options options;
  options.sync.mode = SyncPolicy::Mode::kNone;
  options.segment_bytes = kSegment;
  options.max_batch_bytes = 256;  // small runs: several writes
  Journaller journaller(&ring, &writer, &recorder, options, 0);
  ring::YieldingWait wait;
  produce(&ring, 1, 20, &wait);
  for (int i = 0; i < 100 && !journaller.failed(); ++i) journaller.step();
  ASSERT_TRUE(journaller.failed());
  EXPECT_EQ(recorder.failure.code(), Code::kIoError) << recorder.failure.to_string();
  const uint64_t stuck = journaller.position();
  EXPECT_FALSE(journaller.step());
  EXPECT_EQ(journaller.position(), stuck);
  EXPECT_EQ(ring.consumer_position(0), stuck) << "failed data must not be released";
}

// Writes `producers` x `each` records through a journaller on a FaultEnv
// (nothing fails: it counts) under `mode`, stepping with `writeback`, and
// returns the env's count of start_writeback calls that reached it; then
// `*later`: the count after one start_writeback() of the journaller's.
int writebacks_while_journalling(SyncPolicy::Mode mode, bool writeback, int* syncs,
                                 int* later = nullptr) {
  testing::TempDir dir;
  std::filesystem::create_directories(dir / "wal");
  testing::FaultEnv::Plan plan;
  testing::FaultEnv env(&plan);
  wal::SegmentWriter writer(&env, dir / "wal", 42, kSegment);
  FrameRing ring(32 * 1024, 8 * 1024, 1, 1, 0, kSegment, wal::kSegmentHeaderBytes);
  Recorder recorder;
  Journaller::Options options;
  options.sync.mode = mode;
  options.segment_bytes = kSegment;
  options.max_batch_bytes = 2048;  // several writes, each completing a page or not
  Journaller journaller(&ring, &writer, &recorder, options, 0);
  ring::YieldingWait wait;
  produce(&ring, 1, 60, &wait);  // ~15 KB: pages to write back
  for (int i = 0; i < 1000 && journaller.step(/*sync=*/true, writeback); ++i) {
  }
  EXPECT_TRUE(recorder.failure.is_ok()) << recorder.failure.to_string();
  EXPECT_EQ(journaller.written_seq(), 60u);
  *syncs = env.syncs;
  const int during = env.writebacks;
  journaller.start_writeback();
  if (later != nullptr) *later = env.writebacks;
  return during;
}

// Writeback (sync_file_range) right before an fdatasync only costs the
// thread a call the sync does anyway: a step that syncs starts none.
TEST(Journaller, AStepThatSyncsStartsNoWriteback) {
  int syncs = 0;
  EXPECT_EQ(writebacks_while_journalling(SyncPolicy::Mode::kAlways, true, &syncs), 0);
  EXPECT_GT(syncs, 1);  // the segment's creation, then the steps' syncs
  EXPECT_GT(writebacks_while_journalling(SyncPolicy::Mode::kNone, true, &syncs), 0)
      << "steps that do not sync start writeback of the pages they complete";
  int later = 0;
  EXPECT_EQ(writebacks_while_journalling(SyncPolicy::Mode::kNone, false, &syncs, &later), 0);
  EXPECT_EQ(later, 1) << "start_writeback() covers every page the steps left";
}

// Forwards segment starts from the journaller to the indexer.
struct Forwarder : Recorder {
  RingIndexer* indexer = nullptr;
  void on_segment(uint64_t index, uint64_t first_seq) override {
    Recorder::on_segment(index, first_seq);
    indexer->note_segment(index, first_seq);
  }
};

TEST(RingIndexer, IndexesWhatTheJournallerWroteAndTheIndexAgreesWithTheWal) {
  testing::TempDir dir;
  std::filesystem::create_directories(dir / "wal");
  std::filesystem::create_directories(dir / "index");
  auto env = wal::make_uring_env();
  ASSERT_TRUE(env);
  auto index = index::Index::open(dir / "index", false, uint64_t{1} << 30);
  ASSERT_TRUE(index);
  wal::SegmentWriter writer(env->get(), dir / "wal", 42, kSegment);
  FrameRing ring(32 * 1024, 8 * 1024, 2, 1, 0, kSegment, wal::kSegmentHeaderBytes);
  RingIndexer::Options io;
  io.segment_bytes = kSegment;
  RingIndexer indexer(&ring, index->get(), io, 0);
  Forwarder listener;
  listener.indexer = &indexer;
  Journaller::Options jo;
  jo.sync.mode = SyncPolicy::Mode::kNone;
  jo.segment_bytes = kSegment;
  Journaller journaller(&ring, &writer, &listener, jo, 0);

  constexpr int kProducers = 2, kEach = 5000;
  constexpr uint64_t kTotal = uint64_t{kProducers} * kEach;
  std::thread journal([&] {
    while (!journaller.failed() && journaller.written_seq() < kTotal) {
      if (!journaller.step()) std::this_thread::yield();
    }
  });
  std::thread indexing([&] {
    while (indexer.status().is_ok() && indexer.indexed_seq() < kTotal) {
      if (!indexer.step()) std::this_thread::yield();
    }
  });
  ring::YieldingWait wait;
  produce(&ring, kProducers, kEach, &wait);
  journal.join();
  indexing.join();
  ASSERT_TRUE(listener.failure.is_ok()) << listener.failure.to_string();
  ASSERT_TRUE(indexer.status()) << indexer.status().to_string();
  EXPECT_EQ(indexer.indexed_seq(), kTotal);
  ASSERT_TRUE(writer.seal());
  ASSERT_TRUE((*index)->sync());
  index->reset();

  auto report = store::verify_store(dir.path(), nullptr);
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->clean()) << report->faults.front();
  EXPECT_EQ(report->indexed_seq, kTotal);
  auto reader = Reader::open(dir.path());
  ASSERT_TRUE(reader);
  Cursor by_key = (*reader)->by_key("ticks", "k3");
  RecordView v;
  int hits = 0;
  while (by_key.next(&v)) {
    EXPECT_EQ(v.key(), "k3");
    ++hits;
  }
  EXPECT_EQ(hits, kProducers * kEach / 10);
  auto one = (*reader)->get(kTotal / 2);
  ASSERT_TRUE(one) << one.status().to_string();
  reader->reset();

  // Rebuilding the index from the WAL (padding and all) gives one that
  // verifies just the same.
  uint64_t rebuilt = 0;
  ASSERT_TRUE(store::reindex_store(dir.path(), &rebuilt));
  EXPECT_EQ(rebuilt, kTotal);
  report = store::verify_store(dir.path(), nullptr);
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->clean()) << report->faults.front();
}

}  // namespace
}  // namespace reel::pipeline
