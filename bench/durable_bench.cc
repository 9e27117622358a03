// The durable write path against its peers, every row from one
// run on the same disk, each store fresh per run, medians of three:
//
//   batched: 1,000,000 appends of 100 B, a durable commit every 1,000
//     (reel: append 1,000, then wait(last, kDurable); LMDB: one write
//     transaction per batch; SQLite WAL synchronous=FULL: one transaction
//     per batch; RocksDB: one WriteBatch per batch, sync=true; raw: write
//     of the batch's bytes + fdatasync), and three floors: reel's frames
//     written by a minimal pipelined WAL (floor_wal.h) into preallocated
//     space, space zeroed while written and space zeroed before the run;
//   synced singles: 10,000 appends of 100 B, each durable before the next
//     (latency per append, p50/p99), the same stores, raw write + fdatasync
//     of 100 B as the floor;
//   streaming: 100 B appends as fast as they go with SyncPolicy always,
//     durable at the end (one sync()), against a buffered write of as many
//     bytes + one fdatasync; the target is 5M records/s.
//
// Usage: reel_durable_bench [--dir DIR] [--records N] [--singles N]
//                           [--stream N] [--only reel|LMDB|SQLite|RocksDB|floor]
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "bench_util.h"
#include "floor_wal.h"
#include "peers.h"

namespace reel::bench {
namespace {

using Make = std::function<std::unique_ptr<Peer>(const std::string& dir)>;
struct Contender {
  std::string name;
  Make make;
};

std::vector<Contender> all_contenders() {
  return {
      {"reel", [](const std::string& d) { return std::make_unique<ReelPeer>(d); }},
      // The same store with its segments only preallocated, as before
      // zeroing ahead (wal/zeroer.h): what zeroing buys, in the same run.
      {"reel, no zeroing",
       [](const std::string& d) {
         StoreOptions o;
         o.zero_ahead_bytes = 0;
         return std::make_unique<ReelPeer>(d, o);
       }},
      {"LMDB", [](const std::string& d) { return std::make_unique<LmdbPeer>(d); }},
      {"SQLite", [](const std::string& d) { return std::make_unique<SqlitePeer>(d); }},
      {"RocksDB", [](const std::string& d) { return std::make_unique<RocksPeer>(d); }},
      {"raw write+fdatasync", [](const std::string& d) { return std::make_unique<RawPeer>(d); }},
  };
}

// Every contender, or only the one named (the raw floor stays: it is the
// baseline of the synced singles).
std::vector<Contender> contenders(const std::string& only) {
  std::vector<Contender> v;
  for (auto& c : all_contenders()) {
    if (only.empty() || c.name.rfind(only, 0) == 0 || c.name.rfind("raw", 0) == 0) v.push_back(c);
  }
  return v;
}

std::string fresh(const std::string& root, const std::string& name) {
  const std::string dir = root + "/" + name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// n puts of 100 B, a commit every `batch`: seconds.
double batched_once(const Contender& c, const std::string& root, uint64_t n, uint64_t batch) {
  const std::string dir = fresh(root, "batched");
  std::string payload(100, 'b');
  auto peer = c.make(dir);
  const auto t0 = Clock::now();
  for (uint64_t i = 1; i <= n; ++i) {
    std::memcpy(payload.data(), &i, sizeof i);
    peer->put(i, payload);
    if (i % batch == 0 || i == n) peer->commit();
  }
  const double s = seconds_since(t0);
  peer.reset();
  std::filesystem::remove_all(dir);
  return s;
}

// n puts of 100 B, each committed: per-put latencies (ns) and seconds.
std::pair<std::vector<double>, double> singles_once(const Contender& c, const std::string& root,
                                                    uint64_t n) {
  const std::string dir = fresh(root, "singles");
  std::string payload(100, 's');
  auto peer = c.make(dir);
  std::vector<double> lat;
  lat.reserve(n);
  const auto t0 = Clock::now();
  for (uint64_t i = 1; i <= n; ++i) {
    std::memcpy(payload.data(), &i, sizeof i);
    const auto a = Clock::now();
    peer->put(i, payload);
    peer->commit();
    lat.push_back(std::chrono::duration<double, std::nano>(Clock::now() - a).count());
  }
  const double s = seconds_since(t0);
  peer.reset();
  std::filesystem::remove_all(dir);
  return {lat, s};
}

// The index's lag behind the last append, sampled every 64K appends: the
// largest seen (records), over all streaming runs.
uint64_t g_max_index_lag = 0;

// reel: n appends of 100 B under `policy`, then sync() (every record indexed
// and durable): seconds.
double streaming_once(const std::string& root, uint64_t n, const SyncPolicy& policy, bool zeroing) {
  const std::string dir = fresh(root, "stream");
  StoreOptions o;
  o.sync = policy;
  if (!zeroing) o.zero_ahead_bytes = 0;
  auto store = Store::open(dir, o);
  if (!store) peer_die(store.status().to_string());
  std::string payload(100, 'm');
  const auto t0 = Clock::now();
  for (uint64_t i = 1; i <= n; ++i) {
    std::memcpy(payload.data(), &i, sizeof i);
    if (!(*store)->append("log", payload)) peer_die("append");
    if ((i & 0xFFFF) == 0) {
      g_max_index_lag = std::max(g_max_index_lag, i - (*store)->watermarks().indexed_seq);
    }
  }
  if (Status st = (*store)->sync(); !st) peer_die(st.to_string());
  const double s = seconds_since(t0);
  (void)(*store)->close();
  (*store).reset();
  std::filesystem::remove_all(dir);
  return s;
}

double median3(const std::function<double()>& f) {
  std::vector<double> v{f(), f(), f()};
  std::sort(v.begin(), v.end());
  return v[1];
}

struct Config {
  std::string dir = "/var/tmp/reel-durable-bench";
  uint64_t records = 1'000'000, singles = 10'000, stream = 5'000'000;
  std::string only;  // one contender's rows (for profiling)
};

Config parse(int argc, char** argv) {
  Config c;
  for (int i = 1; i < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::printf(
          "usage: reel_durable_bench [--dir DIR] [--records N] [--singles N] [--stream N]\n"
          "                          [--only reel|LMDB|SQLite|RocksDB|floor]\n"
          "  The durable write path beside LMDB, SQLite and RocksDB: batched\n"
          "  commits of 1,000 (N records, default 1,000,000), synced single appends (N,\n"
          "  default 10,000) and streaming appends (N, default 5,000,000), in DIR\n"
          "  (default /var/tmp/reel-durable-bench). The batched rows end with three floors:\n"
          "  reel's 188-byte frames written by a minimal pipelined WAL (bench/floor_wal.h)\n"
          "  into preallocated space, into space zeroed while written, and into space\n"
          "  zeroed before the run.\n");
      std::exit(0);
    }
    if (i + 1 >= argc) peer_die("flag " + a + " needs a value");
    const std::string v = argv[i + 1];
    if (a == "--dir") {
      c.dir = v;
    } else if (a == "--records") {
      c.records = std::strtoull(v.c_str(), nullptr, 10);
    } else if (a == "--singles") {
      c.singles = std::strtoull(v.c_str(), nullptr, 10);
    } else if (a == "--only") {
      c.only = v;
    } else if (a == "--stream") {
      c.stream = std::strtoull(v.c_str(), nullptr, 10);
    } else {
      peer_die("unknown flag " + a + " (--dir, --records, --singles, --stream, --only)");
    }
  }
  return c;
}

}  // namespace
}  // namespace reel::bench

namespace reel::bench {
namespace {

// The ceiling for reel's batched row on this disk (floor_wal.h): reel's
// frames, written by the least a WAL can do, into space like reel's
// (preallocated; zeroed while written, as reel's zeroing ahead does) and
// into space zeroed before the run (zeroing that cost nothing).
std::vector<Contender> floor_contenders(const Config& c) {
  if (!c.only.empty() && c.only != "floor") return {};
  const uint64_t n = c.records;
  auto floor = [n](FloorWal::Space space) {
    return [n, space](const std::string& d) { return std::make_unique<FloorWal>(d, n, space); };
  };
  return {
      {"floor WAL, preallocated", floor(FloorWal::Space::kPreallocated)},
      {"floor WAL, zeroed while written", floor(FloorWal::Space::kZeroedWhileWritten)},
      {"floor WAL, zeroed before", floor(FloorWal::Space::kZeroedBefore)},
  };
}

// Batched durable commits: reel's row (and the floors) judged against LMDB's.
std::vector<Row> batched_rows(const Config& c) {
  double lmdb_rate = 0;
  std::vector<Row> batched;
  std::vector<Contender> all = contenders(c.only == "floor" ? "raw" : c.only);
  for (auto& f : floor_contenders(c)) all.push_back(std::move(f));
  for (const auto& k : all) {
    std::printf("batched: %s...\n", k.name.c_str());
    std::fflush(stdout);
    Row r;
    r.name = "batched 1000: " + k.name;
    r.records = c.records;
    r.bytes = c.records * 100;
    r.seconds = median3([&] { return batched_once(k, c.dir, c.records, 1000); });
    if (k.name == "LMDB") lmdb_rate = static_cast<double>(c.records) / r.seconds;
    batched.push_back(r);
  }
  for (Row& r : batched) {
    const bool judged = r.name == "batched 1000: reel" || r.name.find("floor") != std::string::npos;
    if (lmdb_rate > 0 && judged) {
      r.baseline_name = "LMDB";
      r.baseline_records_s = lmdb_rate;
    }
  }
  return batched;
}

// Synced singles: every row's p99 beside the raw floor's.
std::vector<Row> singles_rows(const Config& c) {
  std::vector<Row> singles;
  for (const auto& k : contenders(c.only)) {
    std::printf("synced singles: %s...\n", k.name.c_str());
    std::fflush(stdout);
    std::vector<std::pair<std::vector<double>, double>> runs;
    for (int i = 0; i < 3; ++i) runs.push_back(singles_once(k, c.dir, c.singles));
    std::sort(runs.begin(), runs.end(), [](auto& a, auto& b) {  // the median run by p50
      return percentile(a.first, 0.5) < percentile(b.first, 0.5);
    });
    Row r;
    r.name = "synced single: " + k.name;
    r.records = c.singles;
    r.bytes = c.singles * 100;
    r.seconds = runs[1].second;
    r.latencies_ns = runs[1].first;
    singles.push_back(r);
  }
  for (size_t i = 0; i + 1 < singles.size(); ++i) {
    singles[i].baseline_name = "raw write+fdatasync";
    singles[i].baseline_latencies_ns = singles.back().latencies_ns;
  }
  return singles;
}

// Streaming, under the two policies that sync; *interval_rate gets the
// records/s under interval:10ms (the target's policy).
std::vector<Row> streaming_rows(const Config& c, double* interval_rate) {
  std::printf("streaming: reel...\n");
  std::fflush(stdout);
  const double raw_mb_s = median3([&] { return raw_write_mb_s(c.dir, c.stream * 100, true); });
  SyncPolicy always, interval;
  always.mode = SyncPolicy::Mode::kAlways;
  interval.mode = SyncPolicy::Mode::kInterval;
  interval.interval = std::chrono::milliseconds(10);
  std::vector<Row> rows;
  for (const auto& [name, policy] :
       {std::pair{"always", always}, std::pair{"interval:10ms", interval}}) {
    for (const bool zeroing : {true, false}) {
      Row s;
      s.name = std::string("streaming, sync ") + name + ": reel" + (zeroing ? "" : ", no zeroing");
      s.records = c.stream;
      s.bytes = c.stream * 100;
      s.seconds = median3([&, p = policy] { return streaming_once(c.dir, c.stream, p, zeroing); });
      s.baseline_name = "raw write+fdatasync";
      s.baseline_mb_s = raw_mb_s;
      if (policy.mode == SyncPolicy::Mode::kInterval && zeroing) {
        *interval_rate = c.stream / s.seconds;
      }
      rows.push_back(s);
    }
  }
  return rows;
}

}  // namespace
}  // namespace reel::bench

int main(int argc, char** argv) {
  using namespace reel::bench;
  const Config c = parse(argc, argv);
  std::filesystem::create_directories(c.dir);
  std::vector<Row> rows = batched_rows(c);
  for (Row& r : singles_rows(c)) rows.push_back(std::move(r));
  double stream_rate = 0;
  for (Row& r : streaming_rows(c, &stream_rate)) rows.push_back(std::move(r));
  print_table(rows);
  std::printf(
      "\nMedians of three runs, each on a fresh store in %s. Ratio: batched, reel's records/s\n"
      "over LMDB's; synced singles, p99 over the raw write+fdatasync's; streaming, MB/s over a\n"
      "buffered write of the same bytes + fdatasync. Streaming target: 5M records/s with\n"
      "interval:10ms (%.2f). Streaming, the index's largest lag behind the appends: %llu records\n"
      "(bounded by the ring: producers wait for ring space the index has not released).\n",
      c.dir.c_str(), stream_rate / 5e6, static_cast<unsigned long long>(g_max_index_lag));
  std::filesystem::remove_all(c.dir);
  return 0;
}
