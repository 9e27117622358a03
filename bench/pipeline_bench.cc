// pipeline_bench: the ingest pipeline's table, each figure beside a
// physical baseline measured in the same run on the same disk:
//
//   (a) ring publish-to-consume, 1 and 2 producers        vs memcpy
//   (b) Store::append end to end (appended -> indexed),
//       100 B and 1 KiB, sync interval:10ms and always    vs buffered write()
//                                                          / write+fdatasync
//   (c) append-to-durable latency, sync always             vs 4 KiB pwrite+fdatasync
//   (d) tailer wake-up: append here -> record delivered
//       to a Tailer in another process                     vs a pipe wake-up
//
//   reel_pipeline_bench [--dir DIR] [--records N] [--quick]
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <ctime>
#include <filesystem>
#include <thread>

#include "bench_util.h"
#include "ring/byte_ring.h"
#include "ring/wait_strategy.h"

namespace {

using namespace reel::bench;

uint64_t realtime_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// ---------------------------------------------------------------------------
// (a) the ring alone

struct Traits {
  static size_t record_bytes(uint32_t w) { return w & 0x7fffffffu; }
  static bool is_padding(uint32_t w) { return (w & 0x80000000u) != 0; }
  static uint32_t padding_word(size_t bytes) { return 0x80000000u | static_cast<uint32_t>(bytes); }
};
using Ring = reel::ring::ByteRing<Traits>;

uint64_t mono_ns() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
          .count());
}

// Producers stamp each record just before publish; one consumer measures
// now - stamp. Busy-spin waits: the latency floor.
Row bench_ring(int producers, uint64_t records, size_t record_bytes, bool paced) {
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
        const uint64_t stamp = mono_ns();
        std::memcpy(c.data + 8, &stamp, 8);
        ring.publish(c, static_cast<uint32_t>(record_bytes));
        if (paced) {  // one record at a time: latency without queueing
          const uint64_t until = mono_ns() + 2000;
          while (mono_ns() < until) {
          }
        }
      }
    });
  }
  Row r;
  r.name = "(a) ring, " + std::to_string(producers) + " producer" + (producers > 1 ? "s" : "") +
           (paced ? ", paced" : "");
  r.records = total;
  r.bytes = total * record_bytes;
  r.latencies_ns.reserve(total);
  uint64_t at = 0, consumed = 0;
  const auto t0 = Clock::now();
  go.store(true, std::memory_order_release);
  while (consumed < total) {
    const uint64_t end = ring.published_end(at, 1 << 20);
    if (end == at) continue;
    const uint64_t now = mono_ns();
    for (uint64_t p = at; p < end;) {
      const uint32_t w = ring.length_word(p);
      if (!Traits::is_padding(w)) {
        uint64_t stamp;
        std::memcpy(&stamp, ring.at(p) + 8, 8);
        r.latencies_ns.push_back(static_cast<double>(now - stamp));
        ++consumed;
      }
      p += Traits::record_bytes(w);
    }
    ring.release(0, end);
    at = end;
  }
  r.seconds = seconds_since(t0);
  for (auto& t : threads) t.join();
  r.baseline_name = "memcpy";
  r.baseline_mb_s = memcpy_mb_s(r.bytes);
  return r;
}

// The floor under (a) paced: one thread stores a timestamp in an atomic
// every 2 us, another spins on it and measures now - stamp. No ring, no
// record: one cache line moving between two CPUs, and whatever the VM's
// scheduler does to two spinning threads.
std::vector<double> spin_handoff_floor(uint64_t samples) {
  std::atomic<uint64_t> stamp{0};
  std::atomic<bool> done{false};
  std::vector<double> lat;
  lat.reserve(samples);
  std::thread writer([&] {
    for (uint64_t i = 0; i < samples; ++i) {
      stamp.store(mono_ns(), std::memory_order_release);
      const uint64_t until = mono_ns() + 2000;
      while (mono_ns() < until) {
      }
    }
    done.store(true, std::memory_order_release);
  });
  // A stamp overwritten while this thread was off its CPU is not seen: the
  // samples are the hand-offs that were.
  uint64_t seen = 0;
  while (!done.load(std::memory_order_acquire)) {
    const uint64_t s = stamp.load(std::memory_order_acquire);
    if (s == seen) continue;
    lat.push_back(static_cast<double>(mono_ns() - s));
    seen = s;
  }
  writer.join();
  return lat;
}

// ---------------------------------------------------------------------------
// (b) appends through the whole pipeline

std::unique_ptr<reel::Store> open_store(const std::string& dir, const std::string& sync,
                                        reel::WaitStrategy wait = reel::WaitStrategy::kBlocking) {
  reel::StoreOptions options;
  options.sync = *reel::SyncPolicy::parse(sync);
  options.wait_strategy = wait;
  auto store = reel::Store::open(dir, options);
  if (!store) {
    std::fprintf(stderr, "reel_pipeline_bench: %s\n", store.status().to_string().c_str());
    std::exit(1);
  }
  return std::move(*store);
}

Row bench_append(const std::string& dir, size_t payload_bytes, uint64_t records, int producers,
                 const std::string& sync) {
  auto store = open_store(dir, sync);
  Row row;
  row.name = "(b) append " + std::to_string(payload_bytes) + " B, " + std::to_string(producers) +
             "p, " + sync;
  const uint64_t each = records / producers;
  row.records = each * producers;
  std::vector<std::vector<double>> samples(producers);
  std::vector<std::thread> threads;
  const auto t0 = Clock::now();
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      const std::string payload(payload_bytes, static_cast<char>('a' + p));
      samples[p].reserve(each / 64 + 1);
      for (uint64_t i = 0; i < each; ++i) {
        if ((i & 63) == 0) {
          const auto a = Clock::now();
          (void)store->append("bench", payload);
          samples[p].push_back(std::chrono::duration<double, std::nano>(Clock::now() - a).count());
        } else {
          (void)store->append("bench", payload);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  reel::Status s = store->flush();  // written and indexed: included in the time
  row.seconds = seconds_since(t0);
  if (!s) std::fprintf(stderr, "reel_pipeline_bench: flush: %s\n", s.to_string().c_str());
  s = store->close();
  if (!s) std::fprintf(stderr, "reel_pipeline_bench: close: %s\n", s.to_string().c_str());
  for (auto& v : samples) row.latencies_ns.insert(row.latencies_ns.end(), v.begin(), v.end());
  row.bytes = wal_bytes(dir);
  const bool always = sync == "always";
  row.baseline_name = always ? "write+fdatasync" : "buffered write";
  for (int i = 0; i < 3; ++i) {  // best of three: the disk's limit, not a slow moment
    row.baseline_mb_s = std::max(row.baseline_mb_s, raw_write_mb_s(dir, row.bytes, always));
  }
  std::filesystem::remove_all(dir);
  return row;
}

// ---------------------------------------------------------------------------
// (c) append -> durable, one record at a time

Row bench_durable(const std::string& dir, uint64_t samples) {
  auto store = open_store(dir, "always");
  Row row;
  row.name = "(c) append->durable 100 B, always";
  row.records = samples;
  const std::string payload(100, 'd');
  const auto t0 = Clock::now();
  for (uint64_t i = 0; i < samples; ++i) {
    const auto a = Clock::now();
    auto seq = store->append("durable", payload);
    reel::Status s = seq ? store->wait(*seq, reel::Level::kDurable) : seq.status();
    row.latencies_ns.push_back(std::chrono::duration<double, std::nano>(Clock::now() - a).count());
    if (!s) {
      std::fprintf(stderr, "reel_pipeline_bench: %s\n", s.to_string().c_str());
      break;
    }
  }
  row.seconds = seconds_since(t0);
  (void)store->close();
  row.bytes = wal_bytes(dir);
  // The floor: a 4 KiB pwrite + fdatasync at the end of a preallocated file.
  const std::string path = dir + "/raw-fdatasync.bin";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ::posix_fallocate(fd, 0, static_cast<off_t>(samples * 4096));
  ::fdatasync(fd);
  std::vector<char> block(4096, 'f');
  row.baseline_name = "4K pwrite+fdatasync";
  for (uint64_t i = 0; i < samples; ++i) {
    const auto a = Clock::now();
    if (::pwrite(fd, block.data(), block.size(), static_cast<off_t>(i * 4096)) < 0) break;
    ::fdatasync(fd);
    row.baseline_latencies_ns.push_back(
        std::chrono::duration<double, std::nano>(Clock::now() - a).count());
  }
  ::close(fd);
  std::filesystem::remove_all(dir);
  return row;
}

// ---------------------------------------------------------------------------
// (d) tailer wake-up in another process

// Reads exactly `n` bytes; false at EOF or error.
bool read_full(int fd, void* buf, size_t n) {
  auto* p = static_cast<char*>(buf);
  while (n > 0) {
    const ssize_t got = ::read(fd, p, n);
    if (got <= 0) return false;
    p += got;
    n -= static_cast<size_t>(got);
  }
  return true;
}

// The child: first a pipe ping-pong floor (it blocks in read, the parent
// writes a timestamp), then a Tailer from the end of the store; it sends one
// latency per record back.
[[noreturn]] void tail_child(const std::string& dir, uint64_t samples, int in_fd, int out_fd) {
  for (uint64_t i = 0; i < samples; ++i) {
    uint64_t stamp = 0;
    if (!read_full(in_fd, &stamp, 8)) _exit(1);
    const uint64_t latency = realtime_ns() - stamp;
    if (::write(out_fd, &latency, 8) != 8) _exit(1);
  }
  reel::Tailer::Options options;
  options.from_end = true;
  auto tailer = reel::Tailer::open(dir, options);
  if (!tailer) _exit(2);
  const uint64_t ready = 0;
  if (::write(out_fd, &ready, 8) != 8) _exit(1);
  reel::RecordView v;
  for (uint64_t i = 0; i < samples; ++i) {
    if (!(*tailer)->next(&v, std::chrono::seconds(10))) _exit(3);
    const uint64_t latency = realtime_ns() - v.ts_ns();
    if (::write(out_fd, &latency, 8) != 8) _exit(1);
  }
  _exit(0);
}

// `wait`: how the writer's stage threads wait (kYielding: the journal thread
// polls, so the append does not wait for it to wake).
Row bench_tailer(const std::string& dir, uint64_t samples, reel::WaitStrategy wait) {
  open_store(dir, "interval:10ms")->close();  // the store exists before the child looks
  int to_child[2], from_child[2];
  if (::pipe(to_child) != 0 || ::pipe(from_child) != 0) std::exit(1);
  // Fork before this process starts any thread (no store is open now).
  const pid_t child = ::fork();
  if (child == 0) {
    ::close(to_child[1]);
    ::close(from_child[0]);
    tail_child(dir, samples, to_child[0], from_child[1]);
  }
  ::close(to_child[0]);
  ::close(from_child[1]);
  Row row;
  row.name = wait == reel::WaitStrategy::kYielding ? "(d) tailer wake-up, journal yielding"
                                                   : "(d) tailer wake-up, other process";
  row.records = samples;
  row.baseline_name = "pipe wake-up";
  auto pause = [] { std::this_thread::sleep_for(std::chrono::microseconds(200)); };
  for (uint64_t i = 0; i < samples; ++i) {
    pause();  // the child is asleep in read() again
    const uint64_t stamp = realtime_ns();
    uint64_t latency = 0;
    if (::write(to_child[1], &stamp, 8) != 8 || !read_full(from_child[0], &latency, 8)) break;
    row.baseline_latencies_ns.push_back(static_cast<double>(latency));
  }
  uint64_t ready = 1;
  if (!read_full(from_child[0], &ready, 8)) std::exit(1);
  auto store = open_store(dir, "interval:10ms", wait);
  const std::string payload(100, 't');
  const auto t0 = Clock::now();
  for (uint64_t i = 0; i < samples; ++i) {
    pause();                               // the tailer is asleep on the head file again
    (void)store->append("tail", payload);  // ts_ns = now (CLOCK_REALTIME)
    uint64_t latency = 0;
    if (!read_full(from_child[0], &latency, 8)) break;
    row.latencies_ns.push_back(static_cast<double>(latency));
  }
  row.seconds = seconds_since(t0);
  (void)store->close();
  int status = 0;
  ::waitpid(child, &status, 0);
  std::filesystem::remove_all(dir);
  return row;
}

}  // namespace

int main(int argc, char** argv) {
  std::string base = std::filesystem::temp_directory_path().string();
  uint64_t records = 2'000'000;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--dir" && i + 1 < argc) {
      base = argv[++i];
    } else if (a == "--records" && i + 1 < argc) {
      records = std::stoull(argv[++i]);
    } else if (a == "--quick") {
      records = 200'000;
    } else {
      std::printf("usage: reel_pipeline_bench [--dir DIR] [--records N] [--quick]\n");
      return a == "--help" || a == "-h" ? 0 : 2;
    }
  }
  const std::string root = base + "/reel-pipeline-bench-" + std::to_string(::getpid());
  std::filesystem::create_directories(root);
  std::printf("reel_pipeline_bench: %llu records of 100 B (1 KiB: a fifth), in %s, %u CPUs\n",
              static_cast<unsigned long long>(records), root.c_str(),
              std::thread::hardware_concurrency());
  std::vector<Row> rows;
  // (d) first: it forks, and must do so before this process has threads.
  Row tail = bench_tailer(root + "/tail", 2000, reel::WaitStrategy::kBlocking);
  Row tail_yield = bench_tailer(root + "/tail", 2000, reel::WaitStrategy::kYielding);
  rows.push_back(bench_ring(1, records, 128, false));
  rows.push_back(bench_ring(2, records, 128, false));
  const std::vector<double> floor = spin_handoff_floor(records / 20);
  for (int producers : {1, 2}) {
    Row r = bench_ring(producers, records / 20, 128, true);
    r.baseline_name = "spin hand-off";
    r.baseline_mb_s = 0;
    r.baseline_latencies_ns = floor;
    rows.push_back(std::move(r));
  }
  for (const char* sync : {"interval:10ms", "always"}) {
    rows.push_back(bench_append(root + "/b", 100, records, 1, sync));
    rows.push_back(bench_append(root + "/b", 100, records, 2, sync));
    rows.push_back(bench_append(root + "/b", 1024, records / 5, 1, sync));
  }
  rows.push_back(bench_durable(root + "/c", 2000));
  rows.push_back(std::move(tail));
  rows.push_back(std::move(tail_yield));
  print_table(rows);
  std::printf(
      "\n(a) 128-byte records, busy-spin; latency = publish to the consumer seeing it; paced = "
      "one\n"
      "    record every 2 us, beside a timestamp handed through one atomic at the same pace\n"
      "    (spin hand-off: the floor for any hand-off between two threads here). (b) time from the "
      "first append until flush() returns (written and\n"
      "    indexed); MB/s counts WAL bytes, the bytes the baseline writes; latency = one append()\n"
      "    call. (c) latency = append() + wait(seq, kDurable); ratio = p99 / baseline p99.\n"
      "    (d) latency = append() here -> the Tailer in another process returns the record\n"
      "    (journaller wake, write, head-file futex, scan); baseline = a timestamp through a pipe\n"
      "    to a process blocked in read(). Both sleep 200 us between samples. \"journal\n"
      "    yielding\": the writer's threads poll with sched_yield (WaitStrategy::kYielding).\n");
  std::filesystem::remove_all(root);
  return 0;
}
