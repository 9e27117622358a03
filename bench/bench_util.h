// Shared by reel's table benchmarks: rows, percentiles, the table printer and
// the physical baselines (raw disk write, memcpy) measured in the same run.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "reel/reel.h"

namespace reel::bench {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

struct Row {
  std::string name;
  uint64_t records = 0;
  uint64_t bytes = 0;
  double seconds = 0;
  std::vector<double> latencies_ns;  // sampled per operation
  std::string baseline_name;
  double baseline_mb_s = 0;                   // a throughput baseline, or
  double baseline_records_s = 0;              // a peer store's records/s, or
  std::vector<double> baseline_latencies_ns;  // a latency one (ratio of p99s)
};

inline double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

inline std::string fmt_ns(double ns) {
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

inline void print_table(std::vector<Row>& rows) {
  int name_width = 34;
  for (const auto& r : rows) name_width = std::max(name_width, static_cast<int>(r.name.size()));
  std::printf("\n%-*s %10s %12s %10s %10s %10s %10s  %-38s %8s\n", name_width, "workload",
              "records", "records/s", "MB/s", "p50", "p99", "p99.9", "baseline (same run)",
              "ratio");
  std::printf("%s\n", std::string(116 + name_width, '-').c_str());
  for (auto& r : rows) {
    const double mb_s = r.bytes / 1e6 / r.seconds;
    char baseline[64] = "", ratio[16] = "";
    if (r.baseline_records_s > 0) {
      std::snprintf(baseline, sizeof baseline, "%s %.0f records/s", r.baseline_name.c_str(),
                    r.baseline_records_s);
      std::snprintf(ratio, sizeof ratio, "%.2f", r.records / r.seconds / r.baseline_records_s);
    } else if (r.baseline_mb_s > 0) {
      std::snprintf(baseline, sizeof baseline, "%s %.0f MB/s", r.baseline_name.c_str(),
                    r.baseline_mb_s);
      std::snprintf(ratio, sizeof ratio, "%.2f", mb_s / r.baseline_mb_s);
    } else if (!r.baseline_latencies_ns.empty()) {
      const double p99 = percentile(r.baseline_latencies_ns, 0.99);
      std::snprintf(baseline, sizeof baseline, "%s p50 %s p99 %s", r.baseline_name.c_str(),
                    fmt_ns(percentile(r.baseline_latencies_ns, 0.5)).c_str(), fmt_ns(p99).c_str());
      std::snprintf(ratio, sizeof ratio, "%.2f", percentile(r.latencies_ns, 0.99) / p99);
    }
    std::printf("%-*s %10llu %12.0f %10.1f %10s %10s %10s  %-38s %8s\n", name_width, r.name.c_str(),
                static_cast<unsigned long long>(r.records), r.records / r.seconds, mb_s,
                fmt_ns(percentile(r.latencies_ns, 0.50)).c_str(),
                fmt_ns(percentile(r.latencies_ns, 0.99)).c_str(),
                fmt_ns(percentile(r.latencies_ns, 0.999)).c_str(), baseline, ratio);
  }
}

// Buffered sequential write of `bytes` in 1 MiB blocks (then fdatasync if
// `sync`): MB/s.
inline double raw_write_mb_s(const std::string& dir, uint64_t bytes, bool sync) {
  const std::string path = dir + "/raw-baseline.bin";
  std::vector<char> block(1 << 20, 'r');
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return 0;
  auto t0 = Clock::now();
  for (uint64_t done = 0; done < bytes; done += block.size()) {
    if (::write(fd, block.data(), block.size()) < 0) break;
  }
  if (sync) ::fdatasync(fd);
  double s = seconds_since(t0);
  ::close(fd);
  ::unlink(path.c_str());
  return bytes / 1e6 / s;
}

// memcpy of `bytes` through a 64 MiB buffer: MB/s.
inline double memcpy_mb_s(uint64_t bytes) {
  const size_t chunk = 64 << 20;
  std::vector<char> a(chunk, 'a'), b(chunk, 'b');
  auto t0 = Clock::now();
  for (uint64_t done = 0; done < bytes; done += chunk) {
    std::memcpy(b.data(), a.data(), std::min<uint64_t>(chunk, bytes - done));
    asm volatile("" : : "r"(b.data()) : "memory");
  }
  return bytes / 1e6 / seconds_since(t0);
}

inline uint64_t wal_bytes(const std::string& dir) {
  auto reader = reel::Reader::open(dir);
  auto stats = (*reader)->stats();
  return stats ? stats->wal_bytes : 0;
}

}  // namespace reel::bench
