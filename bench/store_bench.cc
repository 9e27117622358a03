// reel_bench: append, scan, random get and time-window throughput and latency,
// each printed beside a physical baseline measured in the same run on the
// same disk (buffered sequential write + fdatasync of the same bytes; memcpy
// of the same bytes), so the ratio holds on a noisy machine.
//
//   reel_bench [--dir DIR] [--records N] [--sync POLICY]
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "bench_util.h"
#include "reel/reel.h"

namespace {

using namespace reel::bench;

Row bench_append(const std::string& dir, size_t payload_bytes, uint64_t records,
                 const reel::SyncPolicy& sync, const std::string& sync_text) {
  reel::StoreOptions options;
  options.sync = sync;
  auto store = reel::Store::open(dir, options);
  if (!store) {
    std::fprintf(stderr, "reel_bench: %s\n", store.status().to_string().c_str());
    std::exit(1);
  }
  std::string payload(payload_bytes, 'p');
  Row row;
  row.name = "append " + std::to_string(payload_bytes) + " B, sync " + sync_text;
  row.records = records;
  row.latencies_ns.reserve(records / 16 + 1);
  auto t0 = Clock::now();
  for (uint64_t i = 0; i < records; ++i) {
    if ((i & 15) == 0) {
      auto a = Clock::now();
      (void)(*store)->append("bench", payload);
      row.latencies_ns.push_back(
          std::chrono::duration<double, std::nano>(Clock::now() - a).count());
    } else {
      (void)(*store)->append("bench", payload);
    }
  }
  reel::Status s = (*store)->close();  // flush + sync per policy: included in the time
  row.seconds = seconds_since(t0);
  if (!s) std::fprintf(stderr, "reel_bench: close: %s\n", s.to_string().c_str());
  // MB/s of WAL bytes written (frames: header + FlatBuffer + padding),
  // beside a raw write + fdatasync of exactly that many bytes.
  row.bytes = wal_bytes(dir);
  row.baseline_name = "write+fdatasync";
  for (int i = 0; i < 3; ++i) {  // best of three: the disk's limit, not a slow moment
    row.baseline_mb_s = std::max(row.baseline_mb_s, raw_write_mb_s(dir, row.bytes, true));
  }
  return row;
}

Row bench_scan(const std::string& dir, uint64_t records) {
  auto reader = reel::Reader::open(dir);
  Row row;
  row.name = "sequential scan (mmap)";
  uint64_t payload_bytes = 0, n = 0;
  auto t0 = Clock::now();
  reel::Cursor cursor = (*reader)->range(1);
  reel::RecordView v;
  auto chunk_start = Clock::now();
  while (cursor.next(&v)) {
    payload_bytes += v.payload().size();
    if ((++n & 1023) == 0) {
      auto now = Clock::now();
      row.latencies_ns.push_back(
          std::chrono::duration<double, std::nano>(now - chunk_start).count() / 1024);
      chunk_start = now;
    }
  }
  row.seconds = seconds_since(t0);
  row.records = n;
  row.bytes = payload_bytes;
  row.baseline_name = "memcpy";
  row.baseline_mb_s = memcpy_mb_s(payload_bytes);
  (void)records;
  return row;
}

Row bench_get(const std::string& dir, uint64_t records, uint64_t gets) {
  auto reader = reel::Reader::open(dir);
  std::mt19937_64 rng(42);
  Row row;
  row.name = "random get";
  row.records = gets;
  uint64_t payload_bytes = 0;
  auto t0 = Clock::now();
  for (uint64_t i = 0; i < gets; ++i) {
    const uint64_t seq = 1 + rng() % records;
    auto a = Clock::now();
    auto v = (*reader)->get(seq);
    row.latencies_ns.push_back(std::chrono::duration<double, std::nano>(Clock::now() - a).count());
    if (v) payload_bytes += v->payload().size();
  }
  row.seconds = seconds_since(t0);
  row.bytes = payload_bytes;
  return row;
}

Row bench_time_window(const std::string& dir, uint64_t queries) {
  auto reader = reel::Reader::open(dir);
  auto streams = (*reader)->streams();
  const auto& s = streams->front();
  std::mt19937_64 rng(7);
  Row row;
  row.name = "time window (1 ms)";
  uint64_t hits = 0, payload_bytes = 0;
  const uint64_t span = s.last_ts_ns - s.first_ts_ns + 1;
  auto t0 = Clock::now();
  for (uint64_t i = 0; i < queries; ++i) {
    const uint64_t start = s.first_ts_ns + rng() % span;
    auto a = Clock::now();
    reel::Cursor c = (*reader)->by_time(s.name, start, start + 1'000'000);
    reel::RecordView v;
    while (c.next(&v)) {
      ++hits;
      payload_bytes += v.payload().size();
    }
    row.latencies_ns.push_back(std::chrono::duration<double, std::nano>(Clock::now() - a).count());
  }
  row.seconds = seconds_since(t0);
  row.records = hits;
  row.bytes = payload_bytes;
  row.name += " x" + std::to_string(queries);
  return row;
}

}  // namespace

int main(int argc, char** argv) {
  std::string base = std::filesystem::temp_directory_path().string();
  uint64_t records = 1'000'000;
  std::string sync_text = "interval:10ms";
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--dir" && i + 1 < argc)
      base = argv[++i];
    else if (arg == "--records" && i + 1 < argc)
      records = std::stoull(argv[++i]);
    else if (arg == "--sync" && i + 1 < argc)
      sync_text = argv[++i];
    else {
      std::printf("usage: reel_bench [--dir DIR] [--records N] [--sync POLICY]\n");
      return arg == "--help" || arg == "-h" ? 0 : 2;
    }
  }
  auto sync = reel::SyncPolicy::parse(sync_text);
  if (!sync) {
    std::fprintf(stderr, "reel_bench: %s\n", sync.status().message().c_str());
    return 2;
  }
  const std::string root = base + "/reel-bench-" + std::to_string(::getpid());
  std::filesystem::create_directories(root);
  std::printf("reel_bench: %llu records, sync %s, in %s\n",
              static_cast<unsigned long long>(records), sync_text.c_str(), root.c_str());
  std::vector<Row> rows;
  rows.push_back(bench_append(root + "/small", 100, records, *sync, sync_text));
  rows.push_back(
      bench_append(root + "/large", 1024, std::max<uint64_t>(records / 5, 1), *sync, sync_text));
  rows.push_back(bench_scan(root + "/small", records));
  rows.push_back(bench_get(root + "/small", records, 200'000));
  rows.push_back(bench_time_window(root + "/small", 2000));
  print_table(rows);
  std::printf(
      "\nappend MB/s counts WAL bytes (frame header + FlatBuffer + padding), the same bytes\n"
      "the baseline writes; scan/get/window MB/s count payload bytes. Latency: append() call,\n"
      "scan next() (per record, in 1024-record chunks), one get(), one whole window query.\n");
  std::filesystem::remove_all(root);
  return 0;
}
