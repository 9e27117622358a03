// The sparse time index (index/time_index.h) answers exactly what a full
// scan answers, whatever the clocks do: runs forward, ties, jumps back,
// records far late, several streams interleaved, records not indexed yet.
#include <gtest/gtest.h>
#include <lmdb.h>

#include <algorithm>
#include <filesystem>
#include <random>
#include <vector>

#include "index/index.h"
#include "reel/reel.h"
#include "store/verify.h"
#include "test_util.h"

namespace reel {
namespace {

using testing::TempDir;

struct Rec {
  uint64_t seq, ts;
  int stream;
};

std::vector<Rec> random_records(std::mt19937_64& rng, size_t n) {
  std::vector<Rec> out;
  uint64_t clock[3] = {1000, 1000, 1000};
  for (size_t i = 0; i < n; ++i) {
    const int stream = static_cast<int>(rng() % 3);
    uint64_t& c = clock[stream];
    switch (rng() % 10) {
      case 0:  // late, by up to 200
        out.push_back({i + 1, c > 200 ? c - rng() % 200 : c, stream});
        continue;
      case 1:  // a tie
        break;
      case 2:  // the clock jumps back for good
        c = c > 500 ? c - rng() % 500 : c;
        break;
      default:
        c += rng() % 20;
    }
    out.push_back({i + 1, c, stream});
  }
  return out;
}

std::vector<uint64_t> brute_force(const std::vector<Rec>& recs, int stream, uint64_t t0,
                                  uint64_t t1) {
  std::vector<Rec> hits;
  for (const Rec& r : recs) {
    if (r.stream == stream && r.ts >= t0 && r.ts <= t1) hits.push_back(r);
  }
  std::stable_sort(hits.begin(), hits.end(), [](const Rec& a, const Rec& b) {
    return a.ts != b.ts ? a.ts < b.ts : a.seq < b.seq;
  });
  std::vector<uint64_t> seqs;
  for (const Rec& r : hits) seqs.push_back(r.seq);
  return seqs;
}

void expect_windows_match(Reader* reader, const std::vector<Rec>& recs, std::mt19937_64& rng) {
  const char* names[] = {"s0", "s1", "s2"};
  for (int q = 0; q < 300; ++q) {
    const int stream = static_cast<int>(rng() % 3);
    const uint64_t t0 = rng() % 12000, t1 = t0 + rng() % 3000;
    Cursor c = reader->by_time(names[stream], t0, t1);
    std::vector<uint64_t> got;
    RecordView v;
    while (c.next(&v)) got.push_back(v.seq());
    ASSERT_TRUE(c.status()) << c.status().to_string();
    ASSERT_EQ(got, brute_force(recs, stream, t0, t1))
        << "stream " << stream << " [" << t0 << ", " << t1 << "]";
  }
}

TEST(TimeIndex, WindowsEqualAFullScanWhateverTheClocksDo) {
  std::mt19937_64 rng(testing::test_seed());
  TempDir dir;
  const auto recs = random_records(rng, 6000);
  {
    StoreOptions o;
    o.segment_bytes_max = 64 * 1024;
    auto store = Store::open(dir.path(), o);
    ASSERT_TRUE(store);
    for (const Rec& r : recs) {
      AppendOptions ao;
      ao.ts_ns = r.ts;
      ASSERT_EQ(*(*store)->append(testing::numbered("s", r.stream), "x", ao), r.seq);
    }
  }
  auto reader = Reader::open(dir.path());
  ASSERT_TRUE(reader);
  expect_windows_match(reader->get(), recs, rng);
  auto report = store::verify_store(dir.path(), nullptr);
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->clean()) << report->faults.front();
  // Without the index the same answers come from the WAL alone.
  std::filesystem::remove_all(dir / "index");
  auto bare = Reader::open(dir.path());
  ASSERT_TRUE(bare);
  EXPECT_FALSE((*bare)->indexed());
  expect_windows_match(bare->get(), recs, rng);
}

// An index of an older format (1: an entry per record, no late database) is
// rebuilt by the next writer.
TEST(TimeIndex, WriterRebuildsAnIndexOfAnotherFormat) {
  TempDir dir;
  {
    auto store = Store::open(dir.path());
    ASSERT_TRUE(store);
    for (int i = 0; i < 100; ++i) ASSERT_TRUE((*store)->append("s", "x"));
  }
  {  // mark it format 1, with LMDB itself (no reel environment is open now)
    MDB_env* env = nullptr;
    MDB_txn* txn = nullptr;
    MDB_dbi meta;
    ASSERT_EQ(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 10);
    mdb_env_set_mapsize(env, size_t{1} << 30);
    ASSERT_EQ(mdb_env_open(env, (dir / "index").c_str(), 0, 0644), 0);
    ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
    ASSERT_EQ(mdb_dbi_open(txn, "meta", 0, &meta), 0);
    uint64_t one = 1;
    MDB_val k{6, const_cast<char*>("format")}, v{8, &one};
    ASSERT_EQ(mdb_put(txn, meta, &k, &v, 0), 0);
    ASSERT_EQ(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
  }
  {
    auto idx = index::Index::open(dir / "index", true, 64 << 20);
    ASSERT_TRUE(idx);
    ASSERT_EQ(*(*idx)->format(), 1u);
  }
  auto store = Store::open(dir.path());
  ASSERT_TRUE(store) << store.status().to_string();
  ASSERT_TRUE((*store)->close());
  auto idx = index::Index::open(dir / "index", true, 64 << 20);
  ASSERT_TRUE(idx);
  EXPECT_EQ(*(*idx)->format(), index::kIndexFormat);
  EXPECT_EQ(*(*idx)->indexed_seq(), 100u);
  auto report = store::verify_store(dir.path(), nullptr);
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->clean()) << report->faults.front();
}

}  // namespace
}  // namespace reel
