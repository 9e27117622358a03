// Network ingest, each beside a baseline measured in the same run:
//
//   UDP: 100-byte datagrams from a sender process at a paced rate into
//        reel serve's receiver and store, against a plain recvmmsg loop
//        that discards them (the ceiling). A binary search finds each
//        side's highest rate with zero loss. Latency: kernel receive time
//        (SO_TIMESTAMPNS) to the record in the store's ring (appended),
//        against kernel receive time to recvmmsg's return.
//   TCP: 1 KiB lp records from a sender process as fast as it can write,
//        into reel serve's receiver and store (timed until written and
//        indexed), against a loop that recv()s and discards (raw loopback
//        TCP). Latency: the sender's clock in each record to appended,
//        against the same to recv().
//
// The receivers are the ones `reel serve` runs (net::UdpReceiver,
// net::TcpReceiver, Store::append), in this process; the sender is a child.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "bench_util.h"
#include "net/tcp_receiver.h"
#include "net/udp_receiver.h"
#include "reel/reel.h"

namespace reel::bench {
namespace {

constexpr size_t kDatagram = 100;
constexpr size_t kTcpRecord = 1024;

uint64_t mono_ns() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<uint64_t>(t.tv_sec) * 1'000'000'000ull + t.tv_nsec;
}
uint64_t real_ns() {
  timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return static_cast<uint64_t>(t.tv_sec) * 1'000'000'000ull + t.tv_nsec;
}

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "net_ingest_bench: %s\n", why.c_str());
  std::exit(1);
}

sockaddr_in loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

// Child: `count` datagrams to `port` at `rate` per second, in sendmmsg
// batches of 32, each sent when due: sleeping until about 60 us before, then
// spinning (a spinning sender would take the core the receiver needs).
// Writes the seconds it took to `report`; exits 0, or 3 when it could not
// keep the rate (more than 2% late).
[[noreturn]] void udp_sender(uint16_t port, uint64_t count, double rate, int report) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in to = loopback(port);
  constexpr int kBatch = 32;
  std::vector<std::vector<char>> bufs(kBatch, std::vector<char>(kDatagram, 'u'));
  iovec iov[kBatch];
  mmsghdr msgs[kBatch] = {};
  for (int i = 0; i < kBatch; ++i) {
    iov[i] = {bufs[i].data(), kDatagram};
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = &to;
    msgs[i].msg_hdr.msg_namelen = sizeof to;
  }
  ::prctl(PR_SET_TIMERSLACK, 1);
  const uint64_t t0 = mono_ns();
  for (uint64_t sent = 0; sent < count;) {
    const uint64_t due = t0 + static_cast<uint64_t>(static_cast<double>(sent) * 1e9 / rate);
    if (const uint64_t now = mono_ns(); due > now + 60'000) {
      const uint64_t wake = due - 60'000;
      const timespec ts{static_cast<time_t>(wake / 1'000'000'000),
                        static_cast<long>(wake % 1'000'000'000)};
      ::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
    }
    while (mono_ns() < due) {
    }
    const int n = static_cast<int>(std::min<uint64_t>(kBatch, count - sent));
    for (int i = 0; i < n; ++i) std::memcpy(bufs[i].data(), &sent, sizeof sent);
    const int k = ::sendmmsg(fd, msgs, static_cast<unsigned>(n), 0);
    if (k > 0) sent += static_cast<uint64_t>(k);
  }
  const double took = static_cast<double>(mono_ns() - t0) / 1e9;
  (void)!::write(report, &took, sizeof took);
  _exit(took > 1.02 * static_cast<double>(count) / rate ? 3 : 0);
}

struct Trial {
  uint64_t received = 0;
  bool sender_kept_rate = true;
  double achieved_rate = 0;  // what the sender managed
  std::vector<double> latencies_ns;
};

// One receiving side: waits up to `ms` and takes what came; returns how
// many datagrams it took.
using Receive = std::function<uint64_t(int ms, std::vector<double>* lat)>;

Trial udp_trial(uint16_t port, uint64_t count, double rate, const Receive& receive) {
  int report[2];
  if (::pipe(report) != 0) die("pipe");
  const pid_t child = ::fork();
  if (child == 0) udp_sender(port, count, rate, report[1]);
  ::close(report[1]);
  Trial t;
  int status = 0;
  bool done = false;
  auto quiet_since = Clock::now();
  while (true) {
    const uint64_t n = receive(10, &t.latencies_ns);
    t.received += n;
    if (n > 0) quiet_since = Clock::now();
    if (!done && ::waitpid(child, &status, WNOHANG) == child) {
      done = true;
      t.sender_kept_rate = WIFEXITED(status) && WEXITSTATUS(status) == 0;
      quiet_since = Clock::now();
    }
    if (done && (t.received >= count || seconds_since(quiet_since) > 0.2)) break;
  }
  double took = 0;
  if (::read(report[0], &took, sizeof took) == sizeof took && took > 0) {
    t.achieved_rate = static_cast<double>(count) / took;
  }
  ::close(report[0]);
  return t;
}

// The highest rate (per second) a sender achieved with `receive` losing
// nothing, by binary search over the paced rate between lo and hi (a sender
// that falls behind the pace caps the search: going faster is not
// possible); the latencies of that trial in *lat.
double zero_loss_rate(uint16_t port, const Receive& receive, std::vector<double>* lat) {
  double lo = 20'000, hi = 2'000'000, best = 0;
  while (hi / lo > 1.06) {
    const double rate = std::sqrt(lo * hi);
    const auto count = static_cast<uint64_t>(rate * 0.5);  // half a second
    Trial t = udp_trial(port, count, rate, receive);
    const bool lossless = t.received == count;
    std::fprintf(stderr, "  paced %.0f/s, sent at %.0f/s: %" PRIu64 " of %" PRIu64 "%s\n", rate,
                 t.achieved_rate, t.received, count,
                 t.sender_kept_rate ? "" : " (the sender fell behind)");
    if (lossless && t.achieved_rate > best) {
      best = t.achieved_rate;
      *lat = std::move(t.latencies_ns);
    }
    if (lossless && t.sender_kept_rate) {
      lo = rate;
    } else {
      hi = rate;
    }
  }
  return best;
}

// The ceiling: recvmmsg into 64 buffers, discard.
struct MmsgReceiver {
  int fd;
  std::vector<std::vector<char>> bufs;
  std::vector<iovec> iov;
  std::vector<mmsghdr> msgs;
  std::vector<std::vector<char>> ctl;
  explicit MmsgReceiver(int sock) : fd(sock), bufs(64, std::vector<char>(2048)), iov(64), msgs(64) {
    ctl.assign(64, std::vector<char>(64));
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
  }
  uint64_t receive(int ms, std::vector<double>* lat) {
    for (size_t i = 0; i < msgs.size(); ++i) {
      iov[i] = {bufs[i].data(), bufs[i].size()};
      msgs[i] = {};
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_control = ctl[i].data();
      msgs[i].msg_hdr.msg_controllen = ctl[i].size();
    }
    timeval tv{0, ms * 1000};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    const int n = ::recvmmsg(fd, msgs.data(), static_cast<unsigned>(msgs.size()), 0, nullptr);
    if (n <= 0) return 0;
    const uint64_t now = real_ns();
    for (int i = 0; i < n; i += 32) {  // a sample per sendmmsg batch
      for (cmsghdr* c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c != nullptr;
           c = CMSG_NXTHDR(&msgs[i].msg_hdr, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_TIMESTAMPNS) {
          timespec ts;
          std::memcpy(&ts, CMSG_DATA(c), sizeof ts);
          lat->push_back(static_cast<double>(now) - (ts.tv_sec * 1e9 + ts.tv_nsec));
        }
      }
    }
    return static_cast<uint64_t>(n);
  }
};

void udp_rows(const std::string& root, std::vector<Row>* rows) {
  Row base;
  {
    const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    const int big = 8 << 20;
    if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big) != 0) {
      ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    }
    sockaddr_in a = loopback(0);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    MmsgReceiver rx(fd);
    std::fprintf(stderr, "UDP ceiling: recvmmsg, discard\n");
    base.baseline_records_s = zero_loss_rate(
        ntohs(a.sin_port), [&](int ms, auto* lat) { return rx.receive(ms, lat); },
        &base.latencies_ns);
    ::close(fd);
  }
  std::filesystem::create_directories(root);
  auto store = Store::open(root + "/udp");
  if (!store) die(store.status().to_string());
  auto ep = feed::parse_endpoint(feed::Endpoint::Kind::kUdp, "127.0.0.1:0,stream=udp");
  auto rx = net::UdpReceiver::open({*ep}, 65535);
  if (!rx) die(rx.status().to_string());
  Row ours;
  ours.name = "UDP 100 B, zero loss";
  std::fprintf(stderr, "UDP into reel serve's receiver and store\n");
  const double rate = zero_loss_rate(
      (*rx)->port(0),
      [&](int ms, std::vector<double>* lat) -> uint64_t {
        uint64_t n = 0;
        auto got = (*rx)->poll(std::chrono::milliseconds(ms), [&](const net::Datagram& d) {
          AppendOptions ao;
          ao.ts_ns = d.ts_ns;
          auto seq = (*store)->append(
              "udp", {reinterpret_cast<const char*>(d.payload.data()), d.payload.size()}, ao);
          if (!seq) die(seq.status().to_string());
          if (n++ % 32 == 0) lat->push_back(static_cast<double>(real_ns() - d.ts_ns));
        });
        if (!got) die(got.status().to_string());
        return n;
      },
      &ours.latencies_ns);
  (void)(*store)->close();
  // A row is a rate: one second at it.
  ours.records = static_cast<uint64_t>(rate);
  ours.bytes = ours.records * kDatagram;
  ours.seconds = 1;
  ours.baseline_name = "recvmmsg loop";
  ours.baseline_records_s = base.baseline_records_s;
  base.name = "  recvmmsg ceiling, zero loss";
  base.records = static_cast<uint64_t>(base.baseline_records_s);
  base.bytes = base.records * kDatagram;
  base.seconds = 1;
  base.baseline_records_s = 0;
  rows->push_back(ours);
  rows->push_back(base);
}

// Child: connects to `port` and writes `count` lp records of kTcpRecord
// bytes, each starting with the monotonic clock, in 256 KiB writes.
[[noreturn]] void tcp_sender(uint16_t port, uint64_t count) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in to = loopback(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) _exit(4);
  constexpr size_t kFrame = 4 + kTcpRecord, kPer = 256;
  std::vector<char> chunk(kFrame * kPer, 't');
  for (size_t i = 0; i < kPer; ++i) {
    const uint32_t len = kTcpRecord;
    std::memcpy(&chunk[i * kFrame], &len, 4);
  }
  for (uint64_t sent = 0; sent < count; sent += kPer) {
    const uint64_t now = mono_ns();
    const size_t n = std::min<uint64_t>(kPer, count - sent);
    for (size_t i = 0; i < n; ++i) std::memcpy(&chunk[i * kFrame + 4], &now, 8);
    for (size_t at = 0; at < n * kFrame;) {
      const ssize_t w = ::send(fd, chunk.data() + at, n * kFrame - at, MSG_NOSIGNAL);
      if (w <= 0) _exit(5);
      at += static_cast<size_t>(w);
    }
  }
  ::close(fd);
  _exit(0);
}

uint16_t listening_port(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

// Raw loopback TCP: accept one connection, recv() and discard to its end.
Row tcp_baseline(uint64_t count) {
  const int lfd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a = loopback(0);
  ::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::listen(lfd, 4);
  const pid_t child = ::fork();
  if (child == 0) tcp_sender(listening_port(lfd), count);
  const int fd = ::accept(lfd, nullptr, nullptr);
  std::vector<char> buf(256 << 10);
  Row r;
  uint64_t bytes = 0, next_sample = 4;  // stream offset of a record's clock
  const auto t0 = Clock::now();
  for (ssize_t n; (n = ::recv(fd, buf.data(), buf.size(), 0)) > 0;) {
    const uint64_t end = bytes + static_cast<uint64_t>(n);
    while (next_sample + 8 <= end) {
      if (next_sample >= bytes) {
        uint64_t sent;
        std::memcpy(&sent, &buf[next_sample - bytes], 8);
        r.latencies_ns.push_back(static_cast<double>(mono_ns() - sent));
      }
      next_sample += 64 * (4 + kTcpRecord);
    }
    bytes = end;
  }
  r.seconds = seconds_since(t0);
  ::waitpid(child, nullptr, 0);
  ::close(fd);
  ::close(lfd);
  r.name = "  raw loopback TCP, recv + discard";
  r.records = bytes / (4 + kTcpRecord);
  r.bytes = r.records * kTcpRecord;
  return r;
}

Row tcp_reel(const std::string& root, uint64_t count) {
  auto store = Store::open(root + "/tcp");
  if (!store) die(store.status().to_string());
  auto ep = feed::parse_endpoint(feed::Endpoint::Kind::kTcp, "127.0.0.1:0,stream=tcp");
  net::TcpLimits limits;
  limits.max_record = 1 << 20;
  limits.max_connections = 16;
  auto rx = net::TcpReceiver::open({*ep}, limits);
  if (!rx) die(rx.status().to_string());
  const pid_t child = ::fork();
  if (child == 0) tcp_sender((*rx)->port(0), count);
  Row r;
  uint64_t taken = 0;
  auto t0 = Clock::now();
  bool started = false;
  while (taken < count) {
    auto got =
        (*rx)->poll(std::chrono::milliseconds(100), [&](const net::TcpRecord& rec, std::string*) {
          auto seq = (*store)->append(
              "tcp", {reinterpret_cast<const char*>(rec.payload.data()), rec.payload.size()});
          if (!seq) die(seq.status().to_string());
          if (taken++ % 64 == 0) {
            uint64_t sent;
            std::memcpy(&sent, rec.payload.data(), 8);
            r.latencies_ns.push_back(static_cast<double>(mono_ns() - sent));
          }
          return *seq;
        });
    if (!got) die(got.status().to_string());
    if (!started && taken > 0) {
      started = true;
      t0 = Clock::now();  // from the first record, as the baseline's first recv
    }
  }
  if (Status s = (*store)->flush(); !s) die(s.to_string());
  r.seconds = seconds_since(t0);
  ::waitpid(child, nullptr, 0);
  (void)(*store)->close();
  r.name = "TCP 1 KiB lp, written+indexed";
  r.records = taken;
  r.bytes = taken * kTcpRecord;
  return r;
}

// The store alone: the same records appended by one thread, no network;
// the ceiling TCP ingest can reach on this machine.
Row store_alone(const std::string& root, uint64_t count) {
  auto store = Store::open(root + "/alone");
  if (!store) die(store.status().to_string());
  std::string payload(kTcpRecord, 't');
  Row r;
  const auto t0 = Clock::now();
  for (uint64_t i = 0; i < count; ++i) {
    if (i % 64 == 0) {
      const uint64_t a = mono_ns();
      if (!(*store)->append("tcp", payload)) die("append");
      r.latencies_ns.push_back(static_cast<double>(mono_ns() - a));
    } else if (!(*store)->append("tcp", payload)) {
      die("append");
    }
  }
  if (Status s = (*store)->flush(); !s) die(s.to_string());
  r.seconds = seconds_since(t0);
  (void)(*store)->close();
  r.name = "  store alone: append 1 KiB";
  r.records = count;
  r.bytes = count * kTcpRecord;
  return r;
}

}  // namespace
}  // namespace reel::bench

int main(int argc, char** argv) {
  using namespace reel::bench;
  std::string base = std::filesystem::temp_directory_path().string(), only;
  uint64_t tcp_records = 1'000'000;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--dir" && i + 1 < argc) {
      base = argv[++i];
    } else if (arg == "--tcp-records" && i + 1 < argc) {
      tcp_records = std::stoull(argv[++i]);
    } else if (arg == "udp" || arg == "tcp") {
      only = arg;
    } else {
      std::printf("usage: reel_net_ingest_bench [udp|tcp] [--dir DIR] [--tcp-records N]\n");
      return arg == "--help" || arg == "-h" ? 0 : 2;
    }
  }
  const std::string root = base + "/reel-net-bench-" + std::to_string(::getpid());
  std::filesystem::create_directories(root);
  std::vector<Row> rows;
  if (only != "tcp") udp_rows(root, &rows);
  if (only != "udp") {
    Row raw = tcp_baseline(tcp_records);
    Row ours = tcp_reel(root, tcp_records);
    Row alone = store_alone(root, tcp_records);
    ours.baseline_name = "raw loopback TCP";
    ours.baseline_mb_s = raw.bytes / 1e6 / raw.seconds;
    Row vs_store = ours;
    vs_store.name = "TCP 1 KiB lp, vs the store alone";
    vs_store.baseline_name = "store alone";
    vs_store.baseline_mb_s = alone.bytes / 1e6 / alone.seconds;
    rows.push_back(ours);
    rows.push_back(raw);
    rows.push_back(vs_store);
    rows.push_back(alone);
  }
  print_table(rows);
  std::printf(
      "\nUDP rows are rates: the highest a sender process could be paced at with zero loss "
      "(records/s = that rate); latency is kernel receive time to appended (reel) or to "
      "recvmmsg's return.\nTCP latency is the sender's clock in the record to appended (reel) "
      "or to recv() (raw).\n");
  std::filesystem::remove_all(root);
  return 0;
}
