// Store and Reader against a real store on disk: bulk round trip, queries
// against a reference model, rolling, reopening and index rebuilds.
#include <algorithm>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "reel/reel.h"
#include "store/store_internal.h"
#include "store/verify.h"
#include "test_util.h"

namespace reel {
namespace {

using testing::TempDir;

StoreOptions small_segments(uint64_t bytes = 64 * 1024) {
  StoreOptions o;
  o.segment_bytes_max = bytes;
  return o;
}

std::unique_ptr<Store> open_store(const std::string& dir, const StoreOptions& o = {}) {
  auto store = Store::open(dir, o);
  EXPECT_TRUE(store) << store.status().to_string();
  return store ? std::move(*store) : nullptr;
}

std::unique_ptr<Reader> open_reader(const std::string& dir) {
  auto reader = Reader::open(dir);
  EXPECT_TRUE(reader) << reader.status().to_string();
  return reader ? std::move(*reader) : nullptr;
}

TEST(Store, AppendAndReadBackAMillionRecords) {
  TempDir dir;
  constexpr uint64_t kCount = 1'000'000;
  {
    auto store = open_store(dir.path());
    for (uint64_t i = 1; i <= kCount; ++i) {
      auto seq = store->append("default", std::to_string(i));
      ASSERT_TRUE(seq) << seq.status().to_string();
      ASSERT_EQ(*seq, i);
    }
    ASSERT_TRUE(store->close());
  }
  auto reader = open_reader(dir.path());
  Cursor cursor = reader->range(1);
  RecordView v;
  uint64_t expected = 1;
  while (cursor.next(&v)) {
    ASSERT_EQ(v.seq(), expected);
    ASSERT_EQ(v.payload(), std::to_string(expected));
    ++expected;
  }
  ASSERT_TRUE(cursor.status()) << cursor.status().to_string();
  EXPECT_EQ(expected, kCount + 1);
  auto one = reader->get(777777);
  ASSERT_TRUE(one);
  EXPECT_EQ(one->payload(), "777777");
  auto stats = reader->stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->record_count, kCount);
  EXPECT_EQ(stats->last_seq, kCount);
  EXPECT_EQ(stats->watermarks.durable_seq, kCount);
  EXPECT_EQ(stats->watermarks.indexed_seq, kCount);
}

// A reference model of what a store holds.
struct ModelRecord {
  uint64_t seq;
  std::string stream, key, payload;
  uint64_t ts;
};

class ReaderModelTest : public ::testing::Test {
 protected:
  void fill(Store* store, int count) {
    std::uniform_int_distribution<int> stream_pick(0, 2), key_pick(0, 20), size_pick(0, 300);
    const char* streams[] = {"trades", "quotes", "news"};
    for (int i = 0; i < count; ++i) {
      ModelRecord r;
      r.stream = streams[stream_pick(rng_)];
      int k = key_pick(rng_);
      r.key = k < 5 ? "" : "k" + std::to_string(k);
      r.payload =
          std::string(static_cast<size_t>(size_pick(rng_)), static_cast<char>('a' + i % 26));
      r.ts = 1'000'000'000ull + static_cast<uint64_t>(i) * 1000 + (rng_() % 5000);  // not monotonic
      AppendOptions ao;
      ao.key = r.key;
      ao.ts_ns = r.ts;
      ao.source_seq = static_cast<uint64_t>(i);
      auto seq = store->append(r.stream, r.payload, ao);
      ASSERT_TRUE(seq) << seq.status().to_string();
      r.seq = *seq;
      model_.push_back(r);
      if (rng_() % 500 == 0) {
        ASSERT_TRUE(store->flush());
      }
    }
  }

  void check_against_model(Reader* reader) {
    const uint64_t n = model_.size();
    for (int i = 0; i < 300; ++i) {
      const auto& m = model_[rng_() % n];
      auto v = reader->get(m.seq);
      ASSERT_TRUE(v) << v.status().to_string();
      EXPECT_EQ(v->payload(), m.payload);
      EXPECT_EQ(v->key(), m.key);
      EXPECT_EQ(v->ts_ns(), m.ts);
    }
    EXPECT_EQ(reader->get(n + 1).status().code(), Code::kNotFound);
    EXPECT_EQ(reader->get(0).status().code(), Code::kNotFound);
    for (int i = 0; i < 20; ++i) {
      uint64_t a = 1 + rng_() % n, b = 1 + rng_() % n;
      if (a > b) std::swap(a, b);
      Cursor c = reader->range(a, b);
      RecordView v;
      uint64_t expect = a;
      while (c.next(&v)) {
        ASSERT_EQ(v.seq(), expect);
        ASSERT_EQ(v.payload(), model_[expect - 1].payload);
        ++expect;
      }
      ASSERT_TRUE(c.status());
      EXPECT_EQ(expect, b + 1);
    }
    for (const char* stream : {"trades", "quotes", "news"}) {
      for (int i = 0; i < 10; ++i) {
        uint64_t t0 = 1'000'000'000ull + rng_() % (n * 1000), t1 = t0 + rng_() % 200'000;
        std::vector<std::pair<uint64_t, uint64_t>> want;
        for (const auto& m : model_) {
          if (m.stream == stream && m.ts >= t0 && m.ts <= t1) want.emplace_back(m.ts, m.seq);
        }
        std::sort(want.begin(), want.end());
        std::vector<std::pair<uint64_t, uint64_t>> got;
        Cursor c = reader->by_time(stream, t0, t1);
        RecordView v;
        while (c.next(&v)) got.emplace_back(v.ts_ns(), v.seq());
        ASSERT_TRUE(c.status());
        EXPECT_EQ(got, want) << stream << " " << t0 << ".." << t1;
      }
      for (int k = 5; k <= 20; k += 5) {
        const std::string key = "k" + std::to_string(k);
        std::vector<uint64_t> want, got;
        for (const auto& m : model_) {
          if (m.stream == stream && m.key == key) want.push_back(m.seq);
        }
        Cursor c = reader->by_key(stream, key);
        RecordView v;
        while (c.next(&v)) got.push_back(v.seq());
        EXPECT_EQ(got, want) << stream << " " << key;
      }
    }
    auto streams = reader->streams();
    ASSERT_TRUE(streams);
    std::map<std::string, StreamInfo> want;
    for (const auto& m : model_) {
      auto& w = want[m.stream];
      if (w.count == 0) {
        w.first_seq = m.seq;
        w.first_ts_ns = w.last_ts_ns = m.ts;
      }
      ++w.count;
      w.last_seq = m.seq;
      w.first_ts_ns = std::min(w.first_ts_ns, m.ts);
      w.last_ts_ns = std::max(w.last_ts_ns, m.ts);
    }
    ASSERT_EQ(streams->size(), want.size());
    for (const auto& s : *streams) {
      const auto& w = want[s.name];
      EXPECT_EQ(s.count, w.count) << s.name;
      EXPECT_EQ(s.first_seq, w.first_seq) << s.name;
      EXPECT_EQ(s.last_seq, w.last_seq) << s.name;
      EXPECT_EQ(s.first_ts_ns, w.first_ts_ns) << s.name;
      EXPECT_EQ(s.last_ts_ns, w.last_ts_ns) << s.name;
    }
  }

  std::mt19937_64 rng_{testing::test_seed()};
  std::vector<ModelRecord> model_;
};

TEST_F(ReaderModelTest, EveryQueryMatchesTheModelAcrossSegmentsAndReopens) {
  TempDir dir;
  {
    auto store = open_store(dir.path(), small_segments());
    fill(store.get(), 6000);
    ASSERT_TRUE(store->close());
  }
  {
    auto store = open_store(dir.path(), small_segments());
    fill(store.get(), 4000);
    ASSERT_TRUE(store->flush());
    // A reader beside the live writer sees everything flushed.
    auto reader = open_reader(dir.path());
    check_against_model(reader.get());
    ASSERT_TRUE(store->close());
  }
  auto reader = open_reader(dir.path());
  auto stats = reader->stats();
  ASSERT_TRUE(stats);
  EXPECT_GT(stats->segment_count, 10u);
  EXPECT_EQ(stats->record_count, model_.size());
  check_against_model(reader.get());
}

TEST_F(ReaderModelTest, QueriesWorkWithoutAnIndexAndReopenRebuildsIt) {
  TempDir dir;
  {
    auto store = open_store(dir.path(), small_segments());
    fill(store.get(), 3000);
  }
  std::filesystem::remove_all(dir / "index");
  {
    auto reader = open_reader(dir.path());
    check_against_model(reader.get());
  }
  { auto store = open_store(dir.path(), small_segments()); }
  auto report = store::verify_store(dir.path(), nullptr);
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->clean()) << report->faults.front();
  EXPECT_EQ(report->indexed_seq, 3000u);
  auto reader = open_reader(dir.path());
  check_against_model(reader.get());
}

TEST_F(ReaderModelTest, ReindexRebuildsAnIdenticalIndex) {
  TempDir dir;
  {
    auto store = open_store(dir.path(), small_segments());
    fill(store.get(), 2000);
  }
  uint64_t records = 0;
  ASSERT_TRUE(store::reindex_store(dir.path(), &records));
  EXPECT_EQ(records, 2000u);
  auto report = store::verify_store(dir.path(), nullptr);
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->clean());
  auto reader = open_reader(dir.path());
  check_against_model(reader.get());
}

TEST(Store, IndexAheadOfTheWalIsRebuiltOnOpen) {
  TempDir dir, other;
  {
    auto store = open_store(dir.path());
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(store->append("s", "x" + std::to_string(i)));
  }
  {
    // An index from a longer history of the same store: copy it in.
    std::filesystem::copy(dir.path(), other.path(),
                          std::filesystem::copy_options::recursive |
                              std::filesystem::copy_options::overwrite_existing);
    auto store = open_store(other.path());
    for (int i = 0; i < 50; ++i) ASSERT_TRUE(store->append("s", "y"));
  }
  std::filesystem::remove_all(dir / "index");
  std::filesystem::copy(other / "index", dir / "index");
  auto store = open_store(dir.path());
  EXPECT_EQ(store->last_seq(), 100u);
  ASSERT_TRUE(store->close());
  auto report = store::verify_store(dir.path(), nullptr);
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->clean()) << report->faults.front();
}

TEST(Store, KeysTimesAndSourceSeqsAreStored) {
  TempDir dir;
  auto store = open_store(dir.path());
  AppendOptions ao;
  ao.key = "AAPL";
  ao.ts_ns = 1795253400123000000ull;
  ao.source_seq = 987654321;
  auto seq = store->append("ticks", "payload", ao);
  ASSERT_TRUE(seq);
  ASSERT_TRUE(store->flush());
  auto reader = open_reader(dir.path());
  auto v = reader->get(*seq);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->key(), "AAPL");
  EXPECT_EQ(v->ts_ns(), ao.ts_ns);
  EXPECT_EQ(v->source_seq(), 987654321u);
  EXPECT_EQ(v->record()->stream_name()->str(), "ticks");
  EXPECT_EQ(v->frame().size() % 8, 0u);
}

TEST(Store, BadArgumentsAreRejectedAndNothingIsWritten) {
  TempDir dir;
  StoreOptions o;
  o.max_record_bytes = 1000;
  auto store = open_store(dir.path(), o);
  EXPECT_EQ(store->append("s", std::string(1001, 'x')).status().code(), Code::kInvalidArgument);
  AppendOptions long_key;
  std::string key(600, 'k');
  long_key.key = key;
  EXPECT_EQ(store->append("s", "x", long_key).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(store->append("", "x").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(store->last_seq(), 0u);
  auto ok = store->append("s", "fine");
  ASSERT_TRUE(ok);
  EXPECT_EQ(*ok, 1u);
}

TEST(Store, OpeningAMissingStoreWithoutCreateFails) {
  TempDir dir;
  StoreOptions o;
  o.create_if_missing = false;
  auto store = Store::open(dir / "nothing", o);
  EXPECT_EQ(store.status().code(), Code::kNotFound);
  EXPECT_EQ(Reader::open(dir / "nothing").status().code(), Code::kNotFound);
}

TEST(Store, SyncPolicyParsesAndRejects) {
  EXPECT_EQ(SyncPolicy::parse("always")->mode, SyncPolicy::Mode::kAlways);
  EXPECT_EQ(SyncPolicy::parse("none")->mode, SyncPolicy::Mode::kNone);
  auto p = SyncPolicy::parse("interval:250us");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->interval, std::chrono::microseconds(250));
  for (const char* bad : {"", "sometimes", "interval:", "interval:10", "interval:0ms", "Always"}) {
    EXPECT_FALSE(SyncPolicy::parse(bad)) << bad;
  }
}

TEST(Store, WatermarksFollowFlushAndSync) {
  TempDir dir;
  StoreOptions o;
  o.sync.mode = SyncPolicy::Mode::kNone;
  auto store = open_store(dir.path(), o);
  ASSERT_TRUE(store->append("s", "a"));
  ASSERT_TRUE(store->append("s", "b"));
  ASSERT_TRUE(store->flush());
  EXPECT_EQ(store->watermarks().written_seq, 2u);
  EXPECT_EQ(store->watermarks().indexed_seq, 2u);
  EXPECT_EQ(store->watermarks().durable_seq, 0u);
  ASSERT_TRUE(store->sync());
  EXPECT_EQ(store->watermarks().durable_seq, 2u);
  auto reader = open_reader(dir.path());
  EXPECT_EQ(reader->watermarks().written_seq, 2u);
}

TEST(Store, BackgroundFlushMakesRecordsVisibleWithoutFlush) {
  TempDir dir;
  auto store = open_store(dir.path());
  ASSERT_TRUE(store->append("s", "hello"));
  auto reader = open_reader(dir.path());
  for (int i = 0; i < 500 && !reader->get(1); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  auto v = reader->get(1);
  ASSERT_TRUE(v) << v.status().to_string();
  EXPECT_EQ(v->payload(), "hello");
}

TEST(Store, ManyThreadsAppendWithDenseSeqs) {
  TempDir dir;
  auto store = open_store(dir.path(), small_segments());
  constexpr int kThreads = 4, kEach = 5000;
  std::vector<std::thread> threads;
  std::vector<std::vector<uint64_t>> seqs(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        auto seq =
            store->append(testing::numbered("t", t), std::to_string(t) + ":" + std::to_string(i));
        if (seq) seqs[t].push_back(*seq);
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_TRUE(store->close());
  std::set<uint64_t> all;
  for (const auto& s : seqs) {
    ASSERT_EQ(s.size(), static_cast<size_t>(kEach));
    EXPECT_TRUE(std::is_sorted(s.begin(), s.end()));
    all.insert(s.begin(), s.end());
  }
  EXPECT_EQ(all.size(), static_cast<size_t>(kThreads * kEach));
  EXPECT_EQ(*all.rbegin(), static_cast<uint64_t>(kThreads * kEach));
  auto report = store::verify_store(dir.path(), nullptr);
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->clean());
}

}  // namespace
}  // namespace reel
