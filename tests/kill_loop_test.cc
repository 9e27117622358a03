// The kill -9 loop: a writer process with several producer threads
// appends records of 1 B to 200 KiB and reports a record through a pipe only
// after wait() returned for it; it is killed with SIGKILL at a random time,
// sometimes again while the next open is recovering. After each cycle a
// fresh writer open must succeed, and every acknowledged record must be
// there with its exact payload, seqs dense from 1, no record twice.
//
// REEL_KILL_CYCLES sets the number of cycles (default 50; docs/durability.md's long
// run uses 1,000). The seed is printed and taken back (REEL_TEST_SEED).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "reel/reel.h"
#include "test_util.h"

namespace reel {
namespace {

using testing::TempDir;

constexpr int kProducers = 3;
constexpr uint64_t kBytesPerCycle = 1 << 20;  // then the writer idles until killed
constexpr uint32_t kFullCheckEvery = 25;      // cycles between checks of the whole store

StoreOptions loop_options() {
  StoreOptions o;
  o.segment_bytes_max = 1 << 20;
  o.ring_bytes = 1 << 20;
  return o;
}

uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  return x;
}

// The payload of producer `t`'s record `i` in cycle `c`: 1 B to 200 KiB,
// mostly small. Records of 12 bytes or more start with (c, t, i), so a record
// stored twice would be seen.
std::string payload_of(uint32_t c, uint32_t t, uint32_t i) {
  const uint64_t h = mix((uint64_t{c} << 40) ^ (uint64_t{t} << 32) ^ i);
  const uint64_t pick = h % 1000;
  const size_t size = pick < 700 ? 1 + h % 100 : pick < 990 ? 100 + h % 4000 : 4096 + h % 200000;
  std::string p(size, static_cast<char>('a' + h % 26));
  if (size >= 12) {
    std::memcpy(p.data(), &c, 4);
    std::memcpy(p.data() + 4, &t, 4);
    std::memcpy(p.data() + 8, &i, 4);
  }
  return p;
}

// The writer process: producers append and report "seq c t i" after wait().
[[noreturn]] void writer_main(const std::string& dir, uint32_t cycle, int ack_fd) {
  auto store = Store::open(dir, loop_options());
  if (!store) {
    std::fprintf(stderr, "writer: %s\n", store.status().to_string().c_str());
    _exit(2);
  }
  std::atomic<uint64_t> bytes{0};
  std::vector<std::thread> producers;
  for (uint32_t t = 0; t < kProducers; ++t) {
    producers.emplace_back([&, t] {
      for (uint32_t i = 0; bytes.load() < kBytesPerCycle; ++i) {
        const std::string p = payload_of(cycle, t, i);
        auto seq = (*store)->append(testing::numbered("p", t), p);
        if (!seq) _exit(3);
        const Level level = i % 10 == 0 ? Level::kDurable : Level::kWritten;
        if (!(*store)->wait(*seq, level)) _exit(4);
        bytes += p.size();
        char line[64];
        const int n = std::snprintf(line, sizeof line, "%llu %u %u %u\n",
                                    static_cast<unsigned long long>(*seq), cycle, t, i);
        if (::write(ack_fd, line, static_cast<size_t>(n)) != n) _exit(5);
      }
    });
  }
  for (auto& th : producers) th.join();
  for (;;) ::pause();  // wait for the kill
}

struct Ack {
  uint32_t cycle, producer, index;
};

// Runs one writer for `ms` milliseconds, kills it, and collects its acks.
void run_and_kill(const std::string& dir, uint32_t cycle, int ms, std::map<uint64_t, Ack>* acks) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    writer_main(dir, cycle, fds[1]);
  }
  ::close(fds[1]);
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  ::kill(pid, SIGKILL);
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;)
    text.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
      << "the writer stopped by itself (exit " << WEXITSTATUS(status) << ") in cycle " << cycle;
  std::istringstream in(text);
  unsigned long long seq;
  Ack a;
  while (in >> seq >> a.cycle >> a.producer >> a.index) {
    ASSERT_EQ(acks->count(seq), 0u) << "seq " << seq << " acknowledged twice";
    (*acks)[seq] = a;
  }
}

// A writer open that is killed after `us` microseconds: maybe mid-recovery.
void open_and_kill(const std::string& dir, int us) {
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto store = Store::open(dir, loop_options());
    _exit(store ? 0 : 2);
  }
  std::this_thread::sleep_for(std::chrono::microseconds(us));
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

// A writer open in another process must succeed (recovery).
void reopen(const std::string& dir, const std::string& what) {
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto store = Store::open(dir, loop_options());
    if (!store) {
      std::fprintf(stderr, "reopen: %s\n", store.status().to_string().c_str());
      _exit(2);
    }
    _exit((*store)->close() ? 0 : 3);
  }
  ASSERT_EQ(testing::wait_child(pid, std::chrono::seconds(120)), 0) << what << ": reopen failed";
}

// The records from seq `from` on are dense and none is stored twice (among
// records of 12 bytes or more, which carry their identity); returns the
// last seq.
uint64_t check_dense(Reader* reader, uint64_t from, const std::string& what) {
  Cursor c = reader->range(from);
  RecordView v;
  uint64_t expect = from;
  std::set<std::tuple<uint32_t, uint32_t, uint32_t>> seen;
  while (c.next(&v)) {
    EXPECT_EQ(v.seq(), expect) << what << ": a gap";
    if (v.seq() != expect) return 0;
    ++expect;
    const std::string_view p = v.payload();
    if (p.size() < 12) continue;
    uint32_t id[3];
    std::memcpy(id, p.data(), 12);
    EXPECT_TRUE(seen.insert({id[0], id[1], id[2]}).second)
        << what << ": record (" << id[0] << ", " << id[1] << ", " << id[2] << ") stored twice";
  }
  EXPECT_TRUE(c.status()) << what << ": " << c.status().to_string();
  return expect - 1;
}

void check_ack(Reader* reader, uint64_t seq, const Ack& a, uint64_t last, const std::string& what) {
  ASSERT_LE(seq, last) << what << ": acknowledged seq " << seq << " lost (store ends at " << last
                       << ")";
  auto got = reader->get(seq);
  ASSERT_TRUE(got) << what << ": seq " << seq << ": " << got.status().to_string();
  ASSERT_EQ(got->payload(), payload_of(a.cycle, a.producer, a.index))
      << what << ": seq " << seq << " holds other bytes";
}

// After a reopen: the whole store (`full`), or the records since `from` and
// every ack among them plus 200 older acks at random, dense and exact.
void check_store(const std::string& dir, const std::map<uint64_t, Ack>& acks, uint64_t from,
                 bool full, std::mt19937_64& rng, const std::string& what) {
  reopen(dir, what);
  if (::testing::Test::HasFatalFailure()) return;
  auto reader = Reader::open(dir);
  ASSERT_TRUE(reader) << reader.status().to_string();
  auto stats = (*reader)->stats();
  ASSERT_TRUE(stats);
  ASSERT_EQ(stats->record_count, stats->last_seq) << what << ": seqs are not dense from 1";
  const uint64_t last = check_dense(reader->get(), full ? 1 : std::max<uint64_t>(from, 1), what);
  ASSERT_FALSE(::testing::Test::HasFailure());
  for (auto it = acks.lower_bound(full ? 0 : from); it != acks.end(); ++it) {
    check_ack(reader->get(), it->first, it->second, last, what);
    if (::testing::Test::HasFatalFailure()) return;
  }
  for (int k = 0; k < 200 && !acks.empty() && !full; ++k) {
    auto it = acks.lower_bound(1 + rng() % acks.rbegin()->first);
    if (it != acks.end()) check_ack(reader->get(), it->first, it->second, last, what);
  }
}

TEST(KillLoop, AcknowledgedRecordsSurviveKill9DuringWritesAndRecovery) {
  const uint64_t seed = testing::test_seed();
  uint64_t cycles = 50;
  if (const char* n = std::getenv("REEL_KILL_CYCLES")) cycles = std::strtoull(n, nullptr, 10);
  std::mt19937_64 rng(seed);
  TempDir dir;
  std::map<uint64_t, Ack> acks;
  uint64_t recovery_kills = 0, from = 1;
  for (uint32_t cycle = 0; cycle < cycles; ++cycle) {
    const std::string what =
        "REEL_TEST_SEED=" + std::to_string(seed) + " cycle " + std::to_string(cycle);
    run_and_kill(dir.path(), cycle, 20 + static_cast<int>(rng() % 250), &acks);
    if (HasFatalFailure()) return;
    if (rng() % 4 == 0) {
      open_and_kill(dir.path(), static_cast<int>(rng() % 20000));
      ++recovery_kills;
    }
    const bool full = cycle % kFullCheckEvery == kFullCheckEvery - 1 || cycle + 1 == cycles;
    check_store(dir.path(), acks, from, full, rng, what);
    if (HasFailure()) return;
    auto reader = Reader::open(dir.path());
    from = (*reader)->stats()->last_seq + 1;
  }
  std::printf(
      "[ kills    ] %llu cycles (%llu kills during recovery), %zu records acknowledged, "
      "0 lost\n",
      static_cast<unsigned long long>(cycles), static_cast<unsigned long long>(recovery_kills),
      acks.size());
}

}  // namespace
}  // namespace reel
