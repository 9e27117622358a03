// reel replay, each row beside a baseline from the same run:
//
//   flat-out UDP, 100-byte records: Replayer --max into the UDP sink
//     (sendmmsg of iovecs into the mapping) against a sendmmsg loop sending
//     the same payloads from memory;
//   flat-out TCP frames: Replayer --max into tcp://?framing=frames against
//     raw loopback TCP writing as many bytes from memory (a thread receives
//     and discards in both);
//   paced timing error at 10k, 100k and 1M records/s (speed 1, UDP sink):
//     how late records left, p50/p99/max, and the last one's (drift);
//   tcpreplay 4.4 on a pcap of the same records (written by reel replay
//     --out pcap:) onto lo at --topspeed and --multiplier 1, from its own
//     report (rate; and the end: how late its last packet went, from the
//     duration it reports against the capture's span). Needs root; skipped
//     otherwise.
#include <arpa/inet.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "capture/pcap_sink.h"
#include "reel/reel.h"
#include "tcp_baseline.h"

namespace reel::bench {
namespace {

constexpr size_t kPayload = 100;
constexpr uint64_t kBase = 1'795'000'000'000'000'000ull;

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "replay_bench: %s\n", why.c_str());
  std::exit(1);
}

// `records` 100-byte records `step_ns` apart in stream "239.1.1.1:5000".
void build(const std::string& dir, uint64_t records, uint64_t step_ns) {
  auto store = Store::open(dir);
  if (!store) die(store.status().to_string());
  std::string p(kPayload, 'r');
  for (uint64_t i = 0; i < records; ++i) {
    std::memcpy(p.data(), &i, sizeof i);
    AppendOptions ao;
    ao.ts_ns = kBase + i * step_ns;
    if (!(*store)->append("239.1.1.1:5000", p, ao)) die("append");
  }
  if (Status s = (*store)->close(); !s) die(s.to_string());
}

// A UDP socket bound on loopback that nobody reads (the kernel drops what
// does not fit): a destination for both sides.
int udp_hole(uint16_t* port) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  *port = ntohs(a.sin_port);
  return fd;
}

Row replay_row(const std::string& dir, const std::string& url, bool max, const std::string& name) {
  ReplayOptions o;
  o.max = max;
  auto r = Replayer::open(dir, o);
  if (!r) die(r.status().to_string());
  auto sink = open_network_sink(url);
  if (!sink) die(sink.status().to_string());
  if (Status s = (*r)->run(sink->get()); !s) die(s.to_string());
  const ReplayStats st = (*r)->stats();
  Row row;
  row.name = name;
  row.records = st.records;
  row.bytes = st.bytes;
  row.seconds = st.seconds;
  if (!max) {
    row.latencies_ns = {static_cast<double>(st.late_p50_ns), static_cast<double>(st.late_p99_ns)};
    std::printf("%-34s late p50 %.1f us, p99 %.1f us, max %.1f us, last record %.1f us late\n",
                name.c_str(), st.late_p50_ns / 1e3, st.late_p99_ns / 1e3, st.late_max_ns / 1e3,
                st.last_late_ns / 1e3);
  }
  return row;
}

double sendmmsg_baseline(uint16_t port, uint64_t records) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to);
  std::vector<char> payloads(records * kPayload, 'r');
  constexpr size_t kBatch = 64;
  iovec iov[kBatch];
  mmsghdr msgs[kBatch];
  const auto t0 = Clock::now();
  for (uint64_t i = 0; i < records;) {
    const size_t n = std::min<uint64_t>(kBatch, records - i);
    for (size_t k = 0; k < n; ++k) {
      iov[k] = {&payloads[(i + k) * kPayload], kPayload};
      msgs[k] = {};
      msgs[k].msg_hdr.msg_iov = &iov[k];
      msgs[k].msg_hdr.msg_iovlen = 1;
    }
    const int sent = ::sendmmsg(fd, msgs, static_cast<unsigned>(n), 0);
    if (sent > 0) i += static_cast<uint64_t>(sent);
  }
  const double s = seconds_since(t0);
  ::close(fd);
  return static_cast<double>(records) / s;
}

// Loopback TCP from `buf` in 256 KiB sends, with MSG_ZEROCOPY or not: MB/s,
// and how many zero-copy sends the kernel reported it copied anyway.
std::pair<double, double> zerocopy_mb_s(const std::vector<char>& buf, uint64_t bytes, bool zc) {
  Drain drain;
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  const int one = 1;
  if (zc) ::setsockopt(fd, SOL_SOCKET, SO_ZEROCOPY, &one, sizeof one);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(drain.port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) die("connect");
  uint64_t sends = 0, copied = 0, done_notes = 0;
  auto reap = [&](int flags) {
    for (;;) {
      char control[128];
      msghdr m{};
      m.msg_control = control;
      m.msg_controllen = sizeof control;
      if (::recvmsg(fd, &m, MSG_ERRQUEUE | flags) < 0) return;
      for (cmsghdr* c = CMSG_FIRSTHDR(&m); c != nullptr; c = CMSG_NXTHDR(&m, c)) {
        sock_extended_err e;
        std::memcpy(&e, CMSG_DATA(c), sizeof e);
        if (e.ee_origin != SO_EE_ORIGIN_ZEROCOPY) continue;
        const uint64_t n = e.ee_data - e.ee_info + 1;  // a range of sends
        done_notes += n;
        if (e.ee_code & SO_EE_CODE_ZEROCOPY_COPIED) copied += n;
      }
    }
  };
  const size_t chunk = 256 << 10;
  const auto t0 = Clock::now();
  for (uint64_t sent = 0; sent < bytes;) {
    const size_t off = sent % (buf.size() - chunk);
    const ssize_t w = ::send(fd, buf.data() + off, std::min<uint64_t>(chunk, bytes - sent),
                             zc ? MSG_ZEROCOPY : 0);
    if (w < 0 && errno == ENOBUFS) {  // too many notifications pending
      reap(0);
      continue;
    }
    if (w <= 0) die("send");
    sent += static_cast<uint64_t>(w);
    ++sends;
    if (zc) reap(MSG_DONTWAIT);
  }
  while (zc && done_notes < sends) reap(0);  // the kernel is done with every buffer
  const double mb_s = static_cast<double>(bytes) / 1e6 / seconds_since(t0);
  ::close(fd);
  return {mb_s, sends == 0 || !zc ? 0.0 : static_cast<double>(copied) / static_cast<double>(sends)};
}

// tcpreplay's report: (packets per second, seconds it took); zeros when it
// could not run.
std::pair<double, double> tcpreplay(const std::string& pcap, const std::string& how,
                                    const std::string& out) {
  const std::string cmd = "tcpreplay -i lo " + how + " " + pcap + " > " + out + " 2>&1";
  if (std::system(cmd.c_str()) != 0) return {0, 0};
  const std::string text = [&] {
    FILE* f = std::fopen(out.c_str(), "r");
    std::string s;
    char buf[4096];
    for (size_t n; f && (n = std::fread(buf, 1, sizeof buf, f)) > 0;) s.append(buf, n);
    if (f) std::fclose(f);
    return s;
  }();
  std::smatch m;
  double pps = 0, secs = 0;
  if (std::regex_search(text, m, std::regex("([0-9.]+) pps"))) pps = std::stod(m[1]);
  if (std::regex_search(text, m, std::regex("sent in ([0-9.]+) seconds"))) secs = std::stod(m[1]);
  return {pps, secs};
}

}  // namespace
}  // namespace reel::bench

int main(int argc, char** argv) {
  using namespace reel::bench;
  using reel::Status;
  std::string base = std::filesystem::temp_directory_path().string();
  uint64_t records = 1'000'000, drift_seconds = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--dir" && i + 1 < argc) {
      base = argv[++i];
    } else if (arg == "--records" && i + 1 < argc) {
      records = std::stoull(argv[++i]);
    } else if (arg == "--drift" && i + 1 < argc) {
      drift_seconds = std::stoull(argv[++i]);
    } else {
      std::printf("usage: reel_replay_bench [--dir DIR] [--records N] [--drift SECONDS]\n");
      return arg == "--help" || arg == "-h" ? 0 : 2;
    }
  }
  const std::string root = base + "/reel-replay-bench-" + std::to_string(::getpid());
  std::filesystem::create_directories(root);
  if (drift_seconds > 0) {
    // Drift: a paced replay of 1,000 records a second for that long; the
    // last record's lateness shows any drift.
    build(root + "/drift", drift_seconds * 1000, 1'000'000);
    uint16_t port = 0;
    const int hole = udp_hole(&port);
    (void)replay_row(root + "/drift", "udp://127.0.0.1:" + std::to_string(port), false,
                     "paced 1000 records/s, " + std::to_string(drift_seconds) + " s");
    ::close(hole);
    std::filesystem::remove_all(root);
    return 0;
  }
  std::vector<Row> rows;
  build(root + "/flat", records, 1'000);
  uint16_t port = 0;
  const int hole = udp_hole(&port);
  const std::string udp = "udp://127.0.0.1:" + std::to_string(port);
  Row flat = replay_row(root + "/flat", udp, true, "UDP 100 B flat out (--max)");
  flat.baseline_name = "sendmmsg loop";
  flat.baseline_records_s = sendmmsg_baseline(port, records);
  rows.push_back(flat);
  Drain drain;
  Row frames = replay_row(root + "/flat",
                          "tcp://127.0.0.1:" + std::to_string(drain.port) + "?framing=frames", true,
                          "TCP frames flat out");
  const uint64_t frame_bytes = reel::bench::wal_bytes(root + "/flat");
  frames.bytes = frame_bytes;  // what went on the wire
  frames.baseline_name = "raw loopback TCP";
  frames.baseline_mb_s = raw_tcp_mb_s(frame_bytes);
  rows.push_back(frames);
  {
    std::vector<char> buf(64 << 20, 'z');
    const auto plain = zerocopy_mb_s(buf, 2ull << 30, false);
    const auto zc = zerocopy_mb_s(buf, 2ull << 30, true);
    std::printf(
        "\nloopback TCP, 2 GiB in 256 KiB sends: plain send %.0f MB/s, MSG_ZEROCOPY %.0f "
        "MB/s (the kernel reported %.0f%% of zero-copy sends as copied)\n",
        plain.first, zc.first, zc.second * 100);
  }
  std::printf("\npaced replay, speed 1, UDP sink (1 s each):\n");
  for (uint64_t rate : {10'000ull, 100'000ull, 1'000'000ull}) {
    const std::string dir = root + "/paced" + std::to_string(rate);
    build(dir, rate, 1'000'000'000 / rate);
    (void)replay_row(dir, udp, false, "  paced " + std::to_string(rate) + " records/s");
    std::filesystem::remove_all(dir);
  }
  // tcpreplay on a pcap of the same 100k-records/s second.
  build(root + "/tr", 100'000, 10'000);
  {
    reel::ReplayOptions flat_out;
    flat_out.max = true;
    auto r = reel::Replayer::open(root + "/tr", flat_out);
    auto sink =
        reel::capture::PcapSink::open(root + "/tr.pcap?dst=127.0.0.1:" + std::to_string(port), {});
    if (!r || !sink || !(*r)->run(sink->get())) die("writing the pcap for tcpreplay");
  }
  const auto top = tcpreplay(root + "/tr.pcap", "--topspeed", root + "/tr.out");
  const auto paced = tcpreplay(root + "/tr.pcap", "--multiplier 1", root + "/tr.out");
  if (top.first == 0) {
    std::printf("tcpreplay: could not run (needs root and tcpreplay); rows skipped\n");
  } else {
    Row reel_top = replay_row(root + "/tr", udp, true, "reel, 100k records flat out");
    reel_top.baseline_name = "tcpreplay --topspeed";
    reel_top.baseline_records_s = top.first;
    rows.push_back(reel_top);
    std::printf(
        "tcpreplay --multiplier 1, 100k records/s for 1 s: took %.6f s for a %.6f s "
        "span (last packet %.1f us late)\n",
        paced.second, 0.99999, (paced.second - 0.99999) * 1e6);
    (void)replay_row(root + "/tr", udp, false, "reel, 100k records/s paced");
  }
  ::close(hole);
  print_table(rows);
  std::filesystem::remove_all(root);
  return 0;
}
