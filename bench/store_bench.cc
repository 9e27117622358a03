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

#include "reel/reel.h"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

struct Row {
  std::string name;
  uint64_t records = 0;
  uint64_t bytes = 0;
  double seconds = 0;
  std::vector<double> latencies_ns;  // sampled per operation
  std::string baseline_name;
  double baseline_mb_s = 0;
};

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

std::string fmt_ns(double ns) {
  char buf[32];
  if (ns == 0) return "-";
  if (ns < 10'000)
    std::snprintf(buf, sizeof buf, "%.0f ns", ns);
  else if (ns < 10'000'000)
    std::snprintf(buf, sizeof buf, "%.1f us", ns / 1e3);
  else
    std::snprintf(buf, sizeof buf, "%.1f ms", ns / 1e6);
  return buf;
}

void print_table(std::vector<Row>& rows) {
  std::printf("\n%-34s %10s %12s %10s %10s %10s %10s  %-30s %8s\n", "workload", "records",
              "records/s", "MB/s", "p50", "p99", "p99.9", "baseline (same run)", "ratio");
  std::printf("%s\n", std::string(142, '-').c_str());
  for (auto& r : rows) {
    const double mb_s = r.bytes / 1e6 / r.seconds;
    char baseline[64] = "", ratio[16] = "";
    if (r.baseline_mb_s > 0) {
      std::snprintf(baseline, sizeof baseline, "%s %.0f MB/s", r.baseline_name.c_str(),
                    r.baseline_mb_s);
      std::snprintf(ratio, sizeof ratio, "%.2f", mb_s / r.baseline_mb_s);
    }
    std::printf("%-34s %10llu %12.0f %10.1f %10s %10s %10s  %-30s %8s\n", r.name.c_str(),
                static_cast<unsigned long long>(r.records), r.records / r.seconds, mb_s,
                fmt_ns(percentile(r.latencies_ns, 0.50)).c_str(),
                fmt_ns(percentile(r.latencies_ns, 0.99)).c_str(),
                fmt_ns(percentile(r.latencies_ns, 0.999)).c_str(), baseline, ratio);
  }
}

// Buffered sequential write of `bytes` in 1 MiB blocks, then fdatasync: MB/s.
double raw_write_mb_s(const std::string& dir, uint64_t bytes) {
  const std::string path = dir + "/raw-baseline.bin";
  std::vector<char> block(1 << 20, 'r');
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return 0;
  auto t0 = Clock::now();
  for (uint64_t done = 0; done < bytes; done += block.size()) {
    if (::write(fd, block.data(), block.size()) < 0) break;
  }
  ::fdatasync(fd);
  double s = seconds_since(t0);
  ::close(fd);
  ::unlink(path.c_str());
  return bytes / 1e6 / s;
}

// memcpy of `bytes` through a 64 MiB buffer: MB/s.
double memcpy_mb_s(uint64_t bytes) {
  const size_t chunk = 64 << 20;
  std::vector<char> a(chunk, 'a'), b(chunk, 'b');
  auto t0 = Clock::now();
  for (uint64_t done = 0; done < bytes; done += chunk) {
    std::memcpy(b.data(), a.data(), std::min<uint64_t>(chunk, bytes - done));
    asm volatile("" : : "r"(b.data()) : "memory");
  }
  return bytes / 1e6 / seconds_since(t0);
}

uint64_t wal_bytes(const std::string& dir) {
  auto reader = reel::Reader::open(dir);
  auto stats = (*reader)->stats();
  return stats ? stats->wal_bytes : 0;
}

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
    row.baseline_mb_s = std::max(row.baseline_mb_s, raw_write_mb_s(dir, row.bytes));
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
