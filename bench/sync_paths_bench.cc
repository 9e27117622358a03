// Where a synced append's time goes: the ways of making
// 200 bytes durable at the end of a preallocated file, each measured the same
// way in one run (p50/p99 of write + sync, one at a time):
//
//   pwrite + fdatasync           both syscalls on the caller (reel's path on
//                                ext4; the floor)
//   io_uring write + FSYNC       two submissions, each waited for
//   io_uring write->FSYNC link   one submission, IOSQE_IO_LINK
//   io_uring RWF_NOWAIT write    how often the kernel refuses an inline
//                                write (then pwrite) + fdatasync
//   other thread does it         the caller hands the record to a thread
//                                that does pwrite + fdatasync and wakes it
//                                (a dedicated journal thread's shape)
//   futex ping-pong              two thread wake-ups and nothing else: the
//                                price of one round trip between threads
//
// The methods take turns, five rounds of N/5 each, so that the disk's drift
// over the run falls on all of them alike.
//
// Usage: reel_sync_paths_bench [--dir DIR] [--n N]
#include <fcntl.h>
#include <liburing.h>
#include <linux/fs.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "ring/futex.h"

namespace reel::bench {
namespace {

constexpr size_t kRecord = 200;
constexpr uint64_t kFileBytes = 64 << 20;

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "sync_paths_bench: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(1);
}

int fresh_file(const std::string& dir) {
  const std::string path = dir + "/sync-paths.dat";
  ::unlink(path.c_str());
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) die("open " + path);
  if (::posix_fallocate(fd, 0, kFileBytes) != 0 || ::fsync(fd) != 0) die("preallocate " + path);
  ::unlink(path.c_str());  // gone when closed
  return fd;
}

// Runs `op(fd, offset)` n times on a fresh preallocated file: one row.
Row measure(const std::string& name, const std::string& dir, uint64_t n,
            const std::function<void(int, uint64_t)>& op) {
  const int fd = fresh_file(dir);
  Row r;
  r.name = name;
  r.records = n;
  r.bytes = n * kRecord;
  const auto t0 = Clock::now();
  for (uint64_t i = 0; i < n; ++i) {
    const auto a = Clock::now();
    op(fd, (i * kRecord) % kFileBytes);
    r.latencies_ns.push_back(std::chrono::duration<double, std::nano>(Clock::now() - a).count());
  }
  r.seconds = seconds_since(t0);
  ::close(fd);
  return r;
}

struct Uring {
  io_uring ring{};
  Uring() {
    if (io_uring_queue_init(8, &ring, 0) < 0) die("io_uring_queue_init");
  }
  ~Uring() { io_uring_queue_exit(&ring); }
  int wait_one() {
    io_uring_cqe* cqe = nullptr;
    if (io_uring_wait_cqe(&ring, &cqe) < 0) die("io_uring_wait_cqe");
    const int res = cqe->res;
    io_uring_cqe_seen(&ring, cqe);
    return res;
  }
};

const char kBytes[kRecord] = {'r'};

void pwrite_fdatasync(int fd, uint64_t off) {
  if (::pwrite(fd, kBytes, kRecord, static_cast<off_t>(off)) != kRecord || ::fdatasync(fd) != 0) {
    die("pwrite + fdatasync");
  }
}

// A thread that does pwrite + fdatasync for the caller; futex hand-offs.
class SyncThread {
 public:
  SyncThread() : thread_([this] { run(); }) {}
  ~SyncThread() {
    request(UINT64_MAX);
    thread_.join();
  }
  void request(uint64_t off) {
    const uint32_t seen = done_.load();
    offset_ = off;
    ask_.fetch_add(1);
    ring::futex_wake_all(reinterpret_cast<uint32_t*>(&ask_));
    while (off != UINT64_MAX && done_.load() == seen) {
      ring::futex_wait(reinterpret_cast<uint32_t*>(&done_), seen, std::chrono::nanoseconds(-1));
    }
  }
  int fd = -1;

 private:
  void run() {
    for (uint32_t seen = 0;;) {
      while (ask_.load() == seen) {
        ring::futex_wait(reinterpret_cast<uint32_t*>(&ask_), seen, std::chrono::nanoseconds(-1));
      }
      seen = ask_.load();
      if (offset_ == UINT64_MAX) return;
      if (fd >= 0) pwrite_fdatasync(fd, offset_);
      done_.fetch_add(1);
      ring::futex_wake_all(reinterpret_cast<uint32_t*>(&done_));
    }
  }
  std::atomic<uint32_t> ask_{0}, done_{0};
  uint64_t offset_ = 0;
  std::thread thread_;
};

// Adds `more` to `into` (one round of a method).
void merge(Row& into, const Row& more) {
  if (into.name.empty()) into.name = more.name;
  into.records += more.records;
  into.bytes += more.bytes;
  into.seconds += more.seconds;
  into.latencies_ns.insert(into.latencies_ns.end(), more.latencies_ns.begin(),
                           more.latencies_ns.end());
}

// Every method in turn, `rounds` times, n / rounds records each time: the
// disk's drift over the run falls on all of them alike.
std::vector<Row> run_all(const std::string& dir, uint64_t n, uint64_t* refused) {
  Uring u;
  SyncThread t;
  *refused = 0;
  using Op = std::function<void(int, uint64_t)>;
  const std::vector<std::pair<std::string, Op>> methods = {
      {"pwrite + fdatasync", pwrite_fdatasync},
      {"io_uring write + FSYNC",
       [&](int fd, uint64_t off) {
         io_uring_prep_write(io_uring_get_sqe(&u.ring), fd, kBytes, kRecord, off);
         io_uring_submit(&u.ring);
         if (u.wait_one() != kRecord) die("io_uring write");
         io_uring_prep_fsync(io_uring_get_sqe(&u.ring), fd, IORING_FSYNC_DATASYNC);
         io_uring_submit(&u.ring);
         if (u.wait_one() != 0) die("io_uring fsync");
       }},
      {"io_uring write->FSYNC link",
       [&](int fd, uint64_t off) {
         io_uring_sqe* w = io_uring_get_sqe(&u.ring);
         io_uring_prep_write(w, fd, kBytes, kRecord, off);
         w->flags |= IOSQE_IO_LINK;
         io_uring_prep_fsync(io_uring_get_sqe(&u.ring), fd, IORING_FSYNC_DATASYNC);
         io_uring_submit(&u.ring);
         if (u.wait_one() < 0 || u.wait_one() < 0) die("linked write + fsync");
       }},
      {"io_uring RWF_NOWAIT + fdatasync",
       [&](int fd, uint64_t off) {
         io_uring_sqe* w = io_uring_get_sqe(&u.ring);
         io_uring_prep_write(w, fd, kBytes, kRecord, off);
         w->rw_flags = RWF_NOWAIT;
         io_uring_submit(&u.ring);
         const int res = u.wait_one();
         if (res == -EAGAIN || res == -EOPNOTSUPP) {
           ++*refused;
           if (::pwrite(fd, kBytes, kRecord, static_cast<off_t>(off)) != kRecord) die("pwrite");
         } else if (res != kRecord) {
           die("RWF_NOWAIT write");
         }
         if (::fdatasync(fd) != 0) die("fdatasync");
       }},
      {"other thread does it",
       [&](int fd, uint64_t off) {
         t.fd = fd;
         t.request(off);
       }},
      {"futex ping-pong (no I/O)",
       [&](int, uint64_t off) {
         t.fd = -1;
         t.request(off);
       }},
  };
  constexpr uint64_t kRounds = 5;
  std::vector<Row> rows(methods.size());
  for (uint64_t round = 0; round < kRounds; ++round) {
    for (size_t m = 0; m < methods.size(); ++m) {
      merge(rows[m], measure(methods[m].first, dir, n / kRounds, methods[m].second));
    }
  }
  rows.back().bytes = 0;  // the ping-pong writes nothing
  for (Row& r : rows) {
    r.baseline_name = "pwrite + fdatasync";
    r.baseline_latencies_ns = rows[0].latencies_ns;
  }
  return rows;
}

}  // namespace
}  // namespace reel::bench

int main(int argc, char** argv) {
  using namespace reel::bench;
  std::string dir = "/var/tmp";
  uint64_t n = 5000;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::printf(
          "usage: reel_sync_paths_bench [--dir DIR] [--n N]\n"
          "  Times the ways of making 200 B durable at the end of a preallocated file\n"
          "  in DIR (default /var/tmp), N times each (default 5000).\n");
      return 0;
    }
    if (i + 1 >= argc) die("flag " + a + " needs a value (--dir, --n)");
    if (a == "--dir") {
      dir = argv[++i];
    } else if (a == "--n") {
      n = std::strtoull(argv[++i], nullptr, 10);
    } else {
      die("unknown flag " + a + " (--dir, --n)");
    }
  }
  uint64_t refused = 0;
  std::vector<Row> rows = run_all(dir, n, &refused);
  print_table(rows);
  std::printf(
      "\nRWF_NOWAIT writes the kernel refused (would have gone to an io-wq worker): %llu "
      "of %llu.\nRatio: p99 over pwrite + fdatasync's p99, same run.\n",
      static_cast<unsigned long long>(refused), static_cast<unsigned long long>(n));
  return 0;
}
