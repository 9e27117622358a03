// reel_read_bench: reel's read path beside a plain LMDB store holding the
// same records, measured in the same run on the same data:
//
//   full scan      reel Reader::range(1)        LMDB cursor walk of seq -> payload
//   random get     reel Reader::get(seq)        mdb_get(seq) in one read transaction
//   time window    reel Reader::by_time(1 s)    LMDB ts -> seq range, then seq -> payload
//
// The LMDB store is what a careful LMDB user would build: seq -> payload put
// with MDB_APPEND, ts -> seq in a second database, MDB_NOSYNC, read with one
// read transaction per workload. Each workload runs three times; the table
// shows the median run. Two floors for any scan that checks every frame are
// measured on the store's own segment files: reading every WAL byte once, and
// CRC32C over every frame-sized chunk (four side by side, nothing else done).
//
//   reel_read_bench [--dir DIR] [--records N]
#include <lmdb.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "bench_util.h"
#include "reel/reel.h"
#include "util/coding.h"
#include "util/crc32c.h"

namespace {

using namespace reel::bench;

constexpr uint64_t kBaseTs = 1'795'000'000'000'000'000ull;
constexpr uint64_t kTsStepNs = 10'000;  // 100,000 records per second
constexpr size_t kPayloadBytes = 100;

void die(const std::string& what) {
  std::fprintf(stderr, "reel_read_bench: %s\n", what.c_str());
  std::exit(1);
}

void check(int rc, const char* what) {
  if (rc != 0) die(std::string(what) + ": " + mdb_strerror(rc));
}

std::string payload_of(uint64_t seq) {
  std::string p(kPayloadBytes, static_cast<char>('a' + seq % 26));
  std::memcpy(p.data(), &seq, sizeof seq);
  return p;
}

void be64(uint64_t v, uint8_t* out) {
  for (int i = 7; i >= 0; --i, v >>= 8) out[i] = static_cast<uint8_t>(v);
}

void build_reel(const std::string& dir, uint64_t records) {
  auto store = reel::Store::open(dir);
  if (!store) die(store.status().to_string());
  for (uint64_t s = 1; s <= records; ++s) {
    reel::AppendOptions ao;
    ao.ts_ns = kBaseTs + s * kTsStepNs;
    if (!(*store)->append("ticks", payload_of(s), ao)) die("append");
  }
  if (reel::Status st = (*store)->close(); !st) die(st.to_string());
}

struct Lmdb {
  MDB_env* env = nullptr;
  MDB_dbi seq_db = 0, ts_db = 0;
  ~Lmdb() {
    if (env != nullptr) mdb_env_close(env);
  }
};

void build_lmdb(const std::string& dir, uint64_t records, Lmdb* db) {
  std::filesystem::create_directories(dir);
  check(mdb_env_create(&db->env), "mdb_env_create");
  mdb_env_set_maxdbs(db->env, 4);
  mdb_env_set_mapsize(db->env, size_t{16} << 30);
  check(mdb_env_open(db->env, dir.c_str(), MDB_NOSYNC | MDB_NOTLS, 0644), "mdb_env_open");
  MDB_txn* txn = nullptr;
  for (uint64_t s = 1; s <= records; ++s) {
    if (txn == nullptr) {
      check(mdb_txn_begin(db->env, nullptr, 0, &txn), "begin");
      check(mdb_dbi_open(txn, "seq", MDB_CREATE, &db->seq_db), "dbi seq");
      check(mdb_dbi_open(txn, "ts", MDB_CREATE, &db->ts_db), "dbi ts");
    }
    uint8_t k[8], t[8];
    be64(s, k);
    be64(kBaseTs + s * kTsStepNs, t);
    const std::string p = payload_of(s);
    MDB_val key{8, k}, val{p.size(), const_cast<char*>(p.data())}, tk{8, t}, tv{8, k};
    check(mdb_put(txn, db->seq_db, &key, &val, MDB_APPEND), "put seq");
    check(mdb_put(txn, db->ts_db, &tk, &tv, MDB_APPEND), "put ts");
    if (s % 10000 == 0 || s == records) {
      check(mdb_txn_commit(txn), "commit");
      txn = nullptr;
    }
  }
  check(mdb_env_sync(db->env, 1), "sync");
}

double ns_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
}

// The median of three runs of `run` (which fills a Row).
Row median_of_three(const std::function<Row()>& run) {
  std::vector<Row> rows;
  for (int i = 0; i < 3; ++i) rows.push_back(run());
  std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    return a.records / a.seconds < b.records / b.seconds;
  });
  return rows[1];
}

Row reel_scan(reel::Reader* reader) {
  Row row;
  row.name = "full scan: reel";
  auto t0 = Clock::now(), chunk = t0;
  reel::Cursor cursor = reader->range(1);
  reel::RecordView v;
  while (cursor.next(&v)) {
    row.bytes += v.payload().size();
    if ((++row.records & 1023) == 0) {
      row.latencies_ns.push_back(ns_since(chunk) / 1024);
      chunk = Clock::now();
    }
  }
  if (!cursor.status()) die(cursor.status().to_string());
  row.seconds = seconds_since(t0);
  return row;
}

Row lmdb_scan(Lmdb* db) {
  Row row;
  row.name = "full scan: LMDB cursor walk";
  auto t0 = Clock::now(), chunk = t0;
  MDB_txn* txn;
  MDB_cursor* c;
  check(mdb_txn_begin(db->env, nullptr, MDB_RDONLY, &txn), "begin");
  check(mdb_cursor_open(txn, db->seq_db, &c), "cursor");
  MDB_val k, v;
  for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
    row.bytes += v.mv_size;
    if ((++row.records & 1023) == 0) {
      row.latencies_ns.push_back(ns_since(chunk) / 1024);
      chunk = Clock::now();
    }
  }
  mdb_cursor_close(c);
  mdb_txn_abort(txn);
  row.seconds = seconds_since(t0);
  return row;
}

Row reel_get(reel::Reader* reader, const std::vector<uint64_t>& seqs) {
  Row row;
  row.name = "random get: reel";
  auto t0 = Clock::now();
  for (uint64_t seq : seqs) {
    auto a = Clock::now();
    auto v = reader->get(seq);
    row.latencies_ns.push_back(ns_since(a));
    if (!v || v->seq() != seq) die("get " + std::to_string(seq));
    row.bytes += v->payload().size();
  }
  row.seconds = seconds_since(t0);
  row.records = seqs.size();
  return row;
}

Row lmdb_get(Lmdb* db, const std::vector<uint64_t>& seqs) {
  Row row;
  row.name = "random get: LMDB mdb_get";
  auto t0 = Clock::now();
  MDB_txn* txn;
  check(mdb_txn_begin(db->env, nullptr, MDB_RDONLY, &txn), "begin");
  for (uint64_t seq : seqs) {
    auto a = Clock::now();
    uint8_t kb[8];
    be64(seq, kb);
    MDB_val k{8, kb}, v;
    check(mdb_get(txn, db->seq_db, &k, &v), "mdb_get");
    row.latencies_ns.push_back(ns_since(a));
    row.bytes += v.mv_size;
  }
  mdb_txn_abort(txn);
  row.seconds = seconds_since(t0);
  row.records = seqs.size();
  return row;
}

Row reel_window(reel::Reader* reader, const std::vector<uint64_t>& starts, uint64_t width) {
  Row row;
  row.name = "1 s time window: reel";
  auto t0 = Clock::now();
  for (uint64_t start : starts) {
    auto a = Clock::now();
    reel::Cursor c = reader->by_time("ticks", start, start + width - 1);
    reel::RecordView v;
    while (c.next(&v)) {
      row.bytes += v.payload().size();
      ++row.records;
    }
    if (!c.status()) die(c.status().to_string());
    row.latencies_ns.push_back(ns_since(a));
  }
  row.seconds = seconds_since(t0);
  return row;
}

// ts -> seq range walk, then each record: MDB_NEXT on a seq cursor when the
// seq follows the previous one, else a lookup (what a careful user writes).
Row lmdb_window(Lmdb* db, const std::vector<uint64_t>& starts, uint64_t width) {
  Row row;
  row.name = "1 s time window: LMDB";
  auto t0 = Clock::now();
  MDB_txn* txn;
  MDB_cursor *tc, *sc;
  check(mdb_txn_begin(db->env, nullptr, MDB_RDONLY, &txn), "begin");
  check(mdb_cursor_open(txn, db->ts_db, &tc), "cursor");
  check(mdb_cursor_open(txn, db->seq_db, &sc), "cursor");
  for (uint64_t start : starts) {
    auto a = Clock::now();
    uint8_t lo[8], hi[8];
    be64(start, lo);
    be64(start + width - 1, hi);
    MDB_val k{8, lo}, v, sk, sv;
    uint64_t prev = 0;
    for (int rc = mdb_cursor_get(tc, &k, &v, MDB_SET_RANGE);
         rc == 0 && std::memcmp(k.mv_data, hi, 8) <= 0; rc = mdb_cursor_get(tc, &k, &v, MDB_NEXT)) {
      const uint64_t seq = reel::decode_big64(static_cast<const uint8_t*>(v.mv_data));
      if (prev != 0 && seq == prev + 1) {
        check(mdb_cursor_get(sc, &sk, &sv, MDB_NEXT), "next");
      } else {
        sk = {8, v.mv_data};
        check(mdb_cursor_get(sc, &sk, &sv, MDB_SET_KEY), "set");
      }
      prev = seq;
      row.bytes += sv.mv_size;
      ++row.records;
    }
    row.latencies_ns.push_back(ns_since(a));
  }
  mdb_cursor_close(tc);
  mdb_cursor_close(sc);
  mdb_txn_abort(txn);
  row.seconds = seconds_since(t0);
  return row;
}

// The store's segment files in log order, mapped read-only (what a reader's
// scan walks), cut to the `written` bytes the store reports (the last
// segment's preallocated tail is not part of the log).
struct WalMaps {
  std::vector<std::pair<const uint8_t*, size_t>> maps;
  WalMaps(const std::string& dir, uint64_t written) {
    std::vector<std::filesystem::path> paths;
    for (const auto& e : std::filesystem::directory_iterator(dir + "/wal")) {
      if (e.path().extension() == ".seg") paths.push_back(e.path());
    }
    std::sort(paths.begin(), paths.end());
    for (const auto& path : paths) {
      const size_t n = std::min<uint64_t>(written, std::filesystem::file_size(path));
      if (n == 0) break;
      int fd = ::open(path.c_str(), O_RDONLY);
      void* p = ::mmap(nullptr, n, PROT_READ, MAP_SHARED, fd, 0);
      ::close(fd);
      if (p == MAP_FAILED) die("mmap " + path.string());
      maps.emplace_back(static_cast<const uint8_t*>(p), n);
      written -= n;
    }
  }
  ~WalMaps() {
    for (auto& [p, n] : maps) ::munmap(const_cast<uint8_t*>(p), n);
  }
};

// Floor 1: read every byte of the segments once (64-bit adds, 4 chains).
Row read_floor(const WalMaps& wal, uint64_t records) {
  Row row;
  row.name = "floor: read every WAL byte";
  row.records = records;
  uint64_t sum[4] = {};
  auto t0 = Clock::now();
  for (const auto& [p, n] : wal.maps) {
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
      for (int l = 0; l < 4; ++l) {
        uint64_t v;
        std::memcpy(&v, p + i + 8 * l, 8);
        sum[l] += v;
      }
    }
    row.bytes += n;
  }
  row.seconds = seconds_since(t0);
  asm volatile("" : : "r"(sum[0] + sum[1] + sum[2] + sum[3]) : "memory");
  return row;
}

// Floor 2: CRC32C of every frame-sized chunk of the segments, four chunks
// side by side (the scan's own CRC routine), and nothing else.
Row crc_floor(const WalMaps& wal, uint64_t records, uint64_t wal_bytes) {
  Row row;
  row.name = "floor: CRC32C of every frame";
  row.records = records;
  const size_t frame = std::max<uint64_t>(1, wal_bytes / std::max<uint64_t>(1, records));
  uint32_t crcs[4] = {};
  auto t0 = Clock::now();
  for (const auto& [p, n] : wal.maps) {
    for (size_t i = 0; i + 4 * frame <= n; i += 4 * frame) {
      const uint8_t* data[4] = {p + i, p + i + frame, p + i + 2 * frame, p + i + 3 * frame};
      const size_t len[4] = {frame, frame, frame, frame};
      reel::crc32c::extend_lanes(crcs, data, len, 4);
    }
    row.bytes += n;
  }
  row.seconds = seconds_since(t0);
  asm volatile("" : : "r"(crcs[0] ^ crcs[1] ^ crcs[2] ^ crcs[3]) : "memory");
  return row;
}

// Puts the LMDB row's records/s beside the reel row as its baseline.
void against(Row* reel_row, const Row& lmdb_row) {
  reel_row->baseline_name = "LMDB";
  reel_row->baseline_records_s = lmdb_row.records / lmdb_row.seconds;
}

}  // namespace

int main(int argc, char** argv) {
  std::string base = std::filesystem::temp_directory_path().string();
  uint64_t records = 1'000'000;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--dir" && i + 1 < argc) {
      base = argv[++i];
    } else if (arg == "--records" && i + 1 < argc) {
      records = std::stoull(argv[++i]);
    } else {
      std::printf("usage: reel_read_bench [--dir DIR] [--records N]\n");
      return arg == "--help" || arg == "-h" ? 0 : 2;
    }
  }
  const std::string root = base + "/reel-read-bench-" + std::to_string(::getpid());
  std::printf("reel_read_bench: %llu records of %zu bytes, 100,000 per second of ts, in %s\n",
              static_cast<unsigned long long>(records), kPayloadBytes, root.c_str());
  std::filesystem::create_directories(root);
  build_reel(root + "/reel", records);
  Lmdb db;
  build_lmdb(root + "/lmdb", records, &db);
  auto reader = reel::Reader::open(root + "/reel");
  if (!reader) die(reader.status().to_string());

  std::mt19937_64 rng(42);
  std::vector<uint64_t> seqs(200'000), starts(20);
  for (auto& s : seqs) s = 1 + rng() % records;
  const uint64_t width = 1'000'000'000;  // 1 s: 100,000 records
  const uint64_t span = records * kTsStepNs > width ? records * kTsStepNs - width : 1;
  for (auto& t : starts) t = kBaseTs + rng() % span;

  std::vector<Row> rows;
  Row lmdb = median_of_three([&] { return lmdb_scan(&db); });
  Row ours = median_of_three([&] { return reel_scan(reader->get()); });
  against(&ours, lmdb);
  rows.push_back(ours);
  rows.push_back(lmdb);
  lmdb = median_of_three([&] { return lmdb_get(&db, seqs); });
  ours = median_of_three([&] { return reel_get(reader->get(), seqs); });
  against(&ours, lmdb);
  rows.push_back(ours);
  rows.push_back(lmdb);
  lmdb = median_of_three([&] { return lmdb_window(&db, starts, width); });
  ours = median_of_three([&] { return reel_window(reader->get(), starts, width); });
  against(&ours, lmdb);
  rows.push_back(ours);
  rows.push_back(lmdb);
  Row mem;
  mem.name = "memcpy of the WAL's bytes";
  mem.bytes = wal_bytes(root + "/reel");
  mem.records = records;
  mem.seconds = mem.bytes / 1e6 / memcpy_mb_s(mem.bytes);
  rows.push_back(mem);
  {
    WalMaps wal(root + "/reel", mem.bytes);
    rows.push_back(median_of_three([&] { return read_floor(wal, records); }));
    rows.push_back(median_of_three([&] { return crc_floor(wal, records, mem.bytes); }));
  }
  print_table(rows);
  std::printf(
      "\nMedian of three runs each. MB/s counts payload bytes (memcpy and floors: WAL bytes).\n"
      "Latency: "
      "scan per record (in 1024-record chunks), one get, one whole 1 s window (100,000\n"
      "records). Ratio: reel records/s over LMDB's, same run, same records.\n");
  std::filesystem::remove_all(root);
  return 0;
}
