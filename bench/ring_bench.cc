// ring_bench: ByteRing publish-to-consume latency and throughput with 1 and 2
// producers, beside memcpy of the same bytes measured in the same run.
//
//   ring_bench [--records N] [--bytes B]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "ring/byte_ring.h"
#include "ring/wait_strategy.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Traits {
  static size_t record_bytes(uint32_t w) { return w & 0x7fffffffu; }
  static bool is_padding(uint32_t w) { return (w & 0x80000000u) != 0; }
  static uint32_t padding_word(size_t bytes) { return 0x80000000u | static_cast<uint32_t>(bytes); }
};
using Ring = reel::ring::ByteRing<Traits>;

uint64_t now_ns() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
          .count());
}

struct Result {
  std::string name;
  uint64_t records;
  double seconds;
  uint64_t bytes;
  std::vector<uint64_t> latency_ns;
};

double pct(std::vector<uint64_t>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return static_cast<double>(v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))]);
}

// Producers stamp each record with the time just before publish; the single
// consumer measures now - stamp. Busy-spin waits: the latency floor.
Result run(int producers, uint64_t records, size_t record_bytes, bool paced) {
  Ring ring(1 << 24, 1 << 16, 1, 1, 0);
  reel::ring::BusySpinWait wait;
  const uint64_t each = records / producers;
  const uint64_t total = each * producers;
  std::vector<std::thread> threads;
  std::atomic<bool> go{false};
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&] {
      while (!go.load(std::memory_order_acquire)) {
      }
      for (uint64_t i = 0; i < each; ++i) {
        Ring::Claim c;
        ring.claim(record_bytes, &c, wait);
        std::memset(c.data + 16, 0x5a, record_bytes - 16);
        const uint64_t stamp = now_ns();
        std::memcpy(c.data + 8, &stamp, 8);
        ring.publish(c, static_cast<uint32_t>(record_bytes));
        if (paced) {  // one record at a time: latency without queueing
          const uint64_t until = now_ns() + 2000;
          while (now_ns() < until) {
          }
        }
      }
    });
  }
  Result r{std::to_string(producers) + " producer" + (producers > 1 ? "s" : "") +
               (paced ? ", paced 2us" : ", flat out"),
           total,
           0,
           total * record_bytes,
           {}};
  r.latency_ns.reserve(total);
  uint64_t at = 0, consumed = 0;
  const auto t0 = Clock::now();
  go.store(true, std::memory_order_release);
  while (consumed < total) {
    const uint64_t end = ring.published_end(at, 1 << 20);
    if (end == at) continue;
    const uint64_t now = now_ns();
    for (uint64_t p = at; p < end;) {
      const uint32_t w = ring.length_word(p);
      if (!Traits::is_padding(w)) {
        uint64_t stamp;
        std::memcpy(&stamp, ring.at(p) + 8, 8);
        r.latency_ns.push_back(now - stamp);
        ++consumed;
      }
      p += Traits::record_bytes(w);
    }
    ring.release(0, end);
    at = end;
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  for (auto& t : threads) t.join();
  return r;
}

double memcpy_mb_s(uint64_t bytes, size_t record_bytes) {
  std::vector<char> src(1 << 24, 1), dst(1 << 24);
  const auto t0 = Clock::now();
  uint64_t done = 0;
  for (size_t off = 0; done < bytes; done += record_bytes) {
    std::memcpy(dst.data() + off, src.data() + off, record_bytes);
    off = (off + record_bytes) % (dst.size() - record_bytes);
    asm volatile("" : : "r"(dst.data()) : "memory");
  }
  return bytes / 1e6 / std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t records = 2'000'000;
  size_t bytes = 128;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--records" && i + 1 < argc)
      records = std::stoull(argv[++i]);
    else if (a == "--bytes" && i + 1 < argc)
      bytes = (std::stoull(argv[++i]) + 7) & ~size_t{7};
    else {
      std::printf("usage: ring_bench [--records N] [--bytes B]\n");
      return a == "--help" ? 0 : 2;
    }
  }
  bytes = std::max<size_t>(bytes, 24);
  std::printf("ring_bench: %llu records of %zu bytes, 16 MiB ring, busy-spin, %u CPUs\n",
              static_cast<unsigned long long>(records), bytes, std::thread::hardware_concurrency());
  const double baseline = memcpy_mb_s(records * bytes, bytes);
  std::printf("\n%-26s %12s %10s %9s %9s %9s  %-22s %6s\n", "workload", "records/s", "MB/s", "p50",
              "p99", "p99.9", "baseline (same run)", "ratio");
  std::printf("%s\n", std::string(112, '-').c_str());
  std::vector<Result> results = {run(1, records, bytes, false), run(2, records, bytes, false),
                                 run(1, records / 20, bytes, true),
                                 run(2, records / 20, bytes, true)};
  for (auto& r : results) {
    const double mb_s = r.bytes / 1e6 / r.seconds;
    std::printf("%-26s %12.0f %10.1f %6.0f ns %6.0f ns %6.0f ns  memcpy %8.0f MB/s   %6.3f\n",
                r.name.c_str(), r.records / r.seconds, mb_s, pct(r.latency_ns, 0.5),
                pct(r.latency_ns, 0.99), pct(r.latency_ns, 0.999), baseline, mb_s / baseline);
  }
  std::printf(
      "\nlatency: publish (stamp just before) to the consumer seeing the record.\n"
      "With more busy threads than CPUs, latency includes scheduler time slices.\n");
  return 0;
}
