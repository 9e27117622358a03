// The replay server, each row beside a baseline from the same run:
//
//   history, one subscriber: a reel::Subscriber in another process reads a
//     whole store (1 GiB by default) from a ReplayServer in this process,
//     for each way of sending (copy: sendmsg; uring: io_uring SENDMSG; zc:
//     io_uring SENDMSG_ZC), against raw loopback TCP sending as many bytes
//     from memory to a process that discards them (best of 3 rounds each,
//     the baseline taken right before each round);
//   fan-out: 10 subscriber processes each read the whole store at once:
//     total bytes/s, and the server's CPU per GiB sent (this process's user
//     + system time; the subscribers are other processes), beside the raw
//     TCP sender's CPU per GiB;
//   live latency: Store::append here to Subscriber::next in another process
//     (the server runs in the writer's process, as with `reel serve --udp
//     ... --replay`), p50/p99, beside a Tailer's wake-up latency in another
//     process for the same appends;
//   ingest beside a stalled subscriber: 2M 100-byte appends to a served
//     store while a subscriber process follows and never reads, against the
//     same appends with no subscriber.
//
// Usage: reel_replay_server_bench [--mib N] [--payload BYTES] [--fanout N]
//                                 [--live N] [--rounds N] [--ingest N]
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "child_process.h"
#include "reel/reel.h"
#include "replay/replay_server.h"
#include "tcp_baseline.h"

namespace reel::bench {
namespace {

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "replay_server_bench: %s\n", why.c_str());
  std::exit(1);
}

// A ReplayServer on 127.0.0.1 for `dir`, sending by `mode`.
std::unique_ptr<replay::ReplayServer> serve(const std::string& dir,
                                            replay::SendMode mode = replay::SendMode::kUring) {
  replay::ReplayServerOptions o;
  o.address = "127.0.0.1";
  o.send_mode = mode;
  auto server = replay::ReplayServer::start(dir, o);
  if (!server) die(server.status().to_string());
  return std::move(*server);
}

// About `bytes` of WAL: records of `payload` bytes in stream "history".
void build(const std::string& dir, uint64_t bytes, size_t payload) {
  StoreOptions so;
  so.sync.mode = SyncPolicy::Mode::kNone;
  auto store = Store::open(dir, so);
  if (!store) die(store.status().to_string());
  std::string p(payload, 'h');
  const uint64_t records = bytes / (payload + 64) + 1;  // ~64 bytes of frame and record around it
  for (uint64_t i = 0; i < records; ++i) {
    std::memcpy(p.data(), &i, std::min(sizeof i, p.size()));
    if (!(*store)->append("history", p)) die("append");
  }
  if (Status s = (*store)->close(); !s) die(s.to_string());
}

// Child: reads the whole range from the server; exits 1 on any shortfall.
int read_child(const std::string& at, uint64_t expect) {
  ::prctl(PR_SET_NAME, "bench-subscriber");  // for profiles
  SubscribeOptions o;
  o.from_seq = 1;
  auto sub = Subscriber::connect(at, o);
  if (!sub) die(sub.status().to_string());
  RecordView v;
  uint64_t n = 0;
  while ((*sub)->next(&v, std::chrono::seconds(-1))) ++n;
  if (!(*sub)->done() || n != expect) {
    die("subscriber got " + std::to_string(n) + " of " + std::to_string(expect) + ": " +
        (*sub)->status().to_string());
  }
  return 0;
}

// Child: connects to 127.0.0.1:port and receives to the end, discarding.
int sink_child(uint16_t port) {
  ::prctl(PR_SET_NAME, "bench-sink");
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) die("sink: connect");
  std::vector<char> buf(1 << 20);
  while (::recv(fd, buf.data(), buf.size(), 0) > 0) {
  }
  return 0;
}

struct Sent {
  double seconds = 0, cpu_s = 0;
  uint64_t bytes = 0;
};

// The store's segment files mapped, in order, `bytes` in all.
std::vector<std::pair<char*, size_t>> map_segments(const std::string& wal, uint64_t bytes) {
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(wal)) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  std::vector<std::pair<char*, size_t>> maps;
  for (const auto& f : files) {
    if (bytes == 0) break;
    const int fd = ::open(f.c_str(), O_RDONLY);
    const size_t n = std::min<uint64_t>(bytes, std::filesystem::file_size(f));
    void* p = ::mmap(nullptr, n, PROT_READ, MAP_SHARED, fd, 0);
    ::close(fd);
    if (p == MAP_FAILED) die("mmap " + f);
    maps.emplace_back(static_cast<char*>(p), n);
    bytes -= n;
  }
  return maps;
}

// The baseline: `bytes` from memory in 256 KiB send()s over loopback TCP
// to a process that receives and discards them, as the subscribers are
// processes; timed until it has them all.
// With `wal` set, the bytes are the store's segment files, mapped: the
// same cold bytes the server sends, with no store in the way.
Sent raw_to_process(const std::string& self, uint64_t bytes, const std::string& wal = "") {
  uint16_t port = 0;
  const int lfd = listen_loopback(&port);
  const auto t0 = Clock::now();
  const pid_t kid = spawn_self(self, {"--sink", std::to_string(port)});
  const int fd = ::accept(lfd, nullptr, nullptr);
  std::vector<char> buf(256 << 10, 'b');
  std::vector<std::pair<char*, size_t>> maps;
  if (!wal.empty()) maps = map_segments(wal, bytes);
  const double cpu0 = thread_cpu_seconds();
  uint64_t sent = 0;
  auto send_from = [&](const char* p, uint64_t n) {
    for (uint64_t at = 0; at < n;) {
      const ssize_t w = ::send(fd, p + at, std::min<uint64_t>(256 << 10, n - at), 0);
      if (w <= 0) die("raw send");
      at += static_cast<uint64_t>(w);
    }
    sent += n;
  };
  for (const auto& [p, n] : maps) send_from(p, n);
  while (sent < bytes) send_from(buf.data(), std::min<uint64_t>(buf.size(), bytes - sent));
  Sent s;
  s.cpu_s = thread_cpu_seconds() - cpu0;
  for (const auto& [p, n] : maps) ::munmap(p, n);
  ::close(fd);
  ::close(lfd);
  wait_ok(kid);
  s.seconds = seconds_since(t0);
  s.bytes = bytes;
  return s;
}

// `n` subscriber processes read the whole store at once from a server in
// this process sending by `mode`.
Sent history(const std::string& self, const std::string& dir, replay::SendMode mode, int n,
             uint64_t records) {
  auto server = serve(dir, mode);
  const std::string at = "127.0.0.1:" + std::to_string(server->port());
  const double cpu0 = process_cpu_seconds();
  const auto t0 = Clock::now();
  std::vector<pid_t> kids;
  for (int i = 0; i < n; ++i)
    kids.push_back(spawn_self(self, {"--read", at, std::to_string(records)}));
  for (pid_t k : kids) wait_ok(k);
  Sent s;
  s.seconds = seconds_since(t0);
  s.cpu_s = process_cpu_seconds() - cpu0;
  s.bytes = server->counts().bytes;
  return s;
}

// Child: follows from seq 1 (by Subscriber at HOST:PORT, or by Tailer on a
// directory) and writes, for each of `n` records, now minus the append time
// the record carries, as raw doubles to `out`. Touches `out`.ready once it
// is following.
int live_child(const std::string& how, const std::string& where, uint64_t n,
               const std::string& out) {
  std::vector<double> lat;
  lat.reserve(n);
  RecordView v;
  auto take = [&] {
    uint64_t stamp = 0;
    std::memcpy(&stamp, v.payload().data(), sizeof stamp);
    lat.push_back(static_cast<double>(mono_ns() - stamp));
  };
  if (how == "--live-sub") {
    SubscribeOptions o;
    o.from_seq = 1;
    o.follow = true;
    auto sub = Subscriber::connect(where, o);
    if (!sub) die(sub.status().to_string());
    std::ofstream(out + ".ready").put('1');
    while (lat.size() < n && (*sub)->next(&v, std::chrono::seconds(10))) take();
  } else {
    Tailer::Options o;
    o.from_seq = 1;
    auto tail = Tailer::open(where, o);
    if (!tail) die(tail.status().to_string());
    std::ofstream(out + ".ready").put('1');
    while (lat.size() < n && (*tail)->next(&v, std::chrono::seconds(10))) take();
  }
  if (lat.size() != n) die("live reader got " + std::to_string(lat.size()) + " records");
  std::ofstream f(out, std::ios::binary);
  f.write(reinterpret_cast<const char*>(lat.data()), static_cast<std::streamsize>(n * 8));
  return 0;
}

// Child: follows from seq 1 and never reads (its socket fills, the server
// stalls on it); touches `ready` once connected, then waits to be killed.
int stall_child(const std::string& at, const std::string& ready) {
  SubscribeOptions o;
  o.from_seq = 1;
  o.follow = true;
  auto sub = Subscriber::connect(at, o);
  if (!sub) die(sub.status().to_string());
  std::ofstream(ready).put('1');
  for (;;) ::pause();
}

// Appends `n` 100-byte records as fast as it can to a fresh store served
// by a ReplayServer, with or without a subscriber (another process) that
// stopped reading: records/s.
double ingest_rate(const std::string& self, const std::string& dir, uint64_t n, bool stalled) {
  std::filesystem::remove_all(dir);
  auto store = Store::open(dir);
  if (!store) die(store.status().to_string());
  auto server = serve(dir);
  pid_t kid = -1;
  if (stalled) {
    const std::string ready = dir + ".ready";
    std::filesystem::remove(ready);
    kid = spawn_self(self, {"--stall", "127.0.0.1:" + std::to_string(server->port()), ready});
    wait_ready(ready);
  }
  std::string p(100, 'i');
  const auto t0 = Clock::now();
  for (uint64_t i = 0; i < n; ++i) {
    std::memcpy(p.data(), &i, sizeof i);
    if (!(*store)->append("ingest", p)) die("append");
  }
  if (Status st = (*store)->flush(); !st) die(st.to_string());
  const double rate = static_cast<double>(n) / seconds_since(t0);
  if (kid > 0) {
    ::kill(kid, SIGKILL);
    ::waitpid(kid, nullptr, 0);
  }
  server.reset();
  (void)(*store)->close();
  return rate;
}

// Appends `n` 64-byte records at `rate`/s, each carrying its append time,
// to a fresh store served by a ReplayServer here, with one Subscriber and
// one Tailer following from other processes. Returns {subscriber, tailer}
// latencies.
std::pair<std::vector<double>, std::vector<double>> live(const std::string& self,
                                                         const std::string& dir, uint64_t n,
                                                         uint64_t rate) {
  auto store = Store::open(dir);
  if (!store) die(store.status().to_string());
  auto server = serve(dir);
  const std::string sub_out = dir + "/../live-sub.bin", tail_out = dir + "/../live-tail.bin";
  const pid_t sub = spawn_self(self, {"--live-sub", "127.0.0.1:" + std::to_string(server->port()),
                                      std::to_string(n), sub_out});
  const pid_t tail = spawn_self(self, {"--live-tail", dir, std::to_string(n), tail_out});
  wait_ready(sub_out + ".ready");
  wait_ready(tail_out + ".ready");
  std::string p(64, 'l');
  const uint64_t step = 1'000'000'000ull / rate, t0 = mono_ns();
  for (uint64_t i = 0; i < n; ++i) {
    const uint64_t at = t0 + i * step;  // sleep, not spin: the readers need the cores
    const timespec ts{static_cast<time_t>(at / 1'000'000'000ull),
                      static_cast<long>(at % 1'000'000'000ull)};
    ::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
    const uint64_t now = mono_ns();
    std::memcpy(p.data(), &now, sizeof now);
    if (!(*store)->append("live", p)) die("append");
  }
  wait_ok(sub);
  wait_ok(tail);
  server.reset();
  (void)(*store)->close();
  return {read_doubles(sub_out), read_doubles(tail_out)};
}

struct Config {
  uint64_t mib = 1024;
  size_t payload = 1000;
  int fanout = 10;
  uint64_t live = 20000;
  int rounds = 3;
  uint64_t ingest = 2'000'000;
};

Config parse(int argc, char** argv) {
  Config c;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    const uint64_t v = std::strtoull(argv[i + 1], nullptr, 10);
    if (a == "--mib")
      c.mib = v;
    else if (a == "--payload")
      c.payload = v;
    else if (a == "--fanout")
      c.fanout = static_cast<int>(v);
    else if (a == "--live")
      c.live = v;
    else if (a == "--rounds")
      c.rounds = static_cast<int>(std::max<uint64_t>(1, v));
    else if (a == "--ingest")
      c.ingest = std::max<uint64_t>(1, v);
    else
      die("unknown flag " + a);
  }
  return c;
}

void run(const std::string& self, const Config& c) {
  const std::string root = "/tmp/reel-replay-server-bench";
  std::filesystem::remove_all(root);
  std::filesystem::create_directories(root);
  const std::string dir = root + "/history";
  std::printf("building %" PRIu64 " MiB of %zu-byte records...\n", c.mib, c.payload);
  std::fflush(stdout);
  build(dir, c.mib << 20, c.payload);
  auto reader = Reader::open(dir);
  const uint64_t records = (*(*reader)->stats()).last_seq;
  const uint64_t bytes = wal_bytes(dir);
  std::vector<Row> rows;
  std::vector<std::string> cpu_lines;
  {  // The floor for sending stored bytes: the same bytes, cold, no store.
    Sent raw, floor;
    for (int round = 0; round < c.rounds; ++round) {
      const Sent b = raw_to_process(self, bytes);
      const Sent f = raw_to_process(self, bytes, dir + "/wal");
      if (round == 0 || b.seconds < raw.seconds) raw = b;
      if (round == 0 || f.seconds < floor.seconds) floor = f;
    }
    Row r;
    r.name = "floor: raw TCP of the mapped WAL";
    r.records = records;
    r.bytes = floor.bytes;
    r.seconds = floor.seconds;
    r.baseline_name = "raw loopback TCP";
    r.baseline_mb_s = static_cast<double>(raw.bytes) / 1e6 / raw.seconds;
    rows.push_back(r);
    char line[200];
    std::snprintf(line, sizeof line, "%-34s sender CPU %.2f s per GiB", r.name.c_str(),
                  floor.cpu_s / (static_cast<double>(bytes) / (1 << 30)));
    cpu_lines.push_back(line);
  }
  for (int n : {1, c.fanout}) {
    for (auto mode :
         {replay::SendMode::kCopy, replay::SendMode::kUring, replay::SendMode::kZeroCopy}) {
      // Best of 3, each beside a baseline taken right before it: this VM's
      // loopback speed drifts by 2x within a minute.
      Sent raw, ours;
      for (int round = 0; round < c.rounds; ++round) {
        const Sent b = raw_to_process(self, bytes);
        const Sent o = history(self, dir, mode, n, records);
        if (round == 0 || b.seconds < raw.seconds) raw = b;
        if (round == 0 || o.seconds < ours.seconds) ours = o;
      }
      Row r;
      r.name = (n == 1 ? "history, 1 subscriber, " : "fan-out, " + std::to_string(n) + " subs, ") +
               replay::send_mode_name(mode);
      r.records = records * static_cast<uint64_t>(n);
      r.bytes = ours.bytes;
      r.seconds = ours.seconds;
      r.baseline_name = "raw loopback TCP";
      r.baseline_mb_s = static_cast<double>(raw.bytes) / 1e6 / raw.seconds;
      rows.push_back(r);
      const double gib = static_cast<double>(ours.bytes) / (1 << 30);
      char line[200];
      std::snprintf(
          line, sizeof line, "%-34s server CPU %.2f s per GiB sent (raw TCP sender %.2f s per GiB)",
          r.name.c_str(), ours.cpu_s / gib, raw.cpu_s / (static_cast<double>(bytes) / (1 << 30)));
      cpu_lines.push_back(line);
    }
  }
  auto [sub, tail] = live(self, root + "/live", c.live, 10'000);
  Row l;
  l.name = "live append -> Subscriber::next";
  l.records = c.live;
  l.bytes = c.live * 64;
  l.seconds = static_cast<double>(c.live) / 10'000;
  l.latencies_ns = sub;
  l.baseline_name = "Tailer wake-up";
  l.baseline_latencies_ns = tail;
  rows.push_back(l);
  {  // Ingest beside a subscriber that stopped reading, against none.
    double alone = 0, beside = 0;
    for (int round = 0; round < c.rounds; ++round) {
      alone = std::max(alone, ingest_rate(self, root + "/ingest", c.ingest, false));
      beside = std::max(beside, ingest_rate(self, root + "/ingest", c.ingest, true));
    }
    Row r;
    r.name = "ingest, a subscriber stopped";
    r.records = c.ingest;
    r.bytes = c.ingest * 100;
    r.seconds = static_cast<double>(c.ingest) / beside;
    r.baseline_name = "ingest, no subscriber";
    r.baseline_records_s = alone;
    rows.push_back(r);
  }
  print_table(rows);
  std::printf("\n");
  for (const auto& line : cpu_lines) std::printf("%s\n", line.c_str());
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace reel::bench

int main(int argc, char** argv) {
  using namespace reel::bench;
  const std::string self = "/proc/self/exe";
  if (argc == 3 && std::string(argv[1]) == "--sink") {
    return sink_child(static_cast<uint16_t>(std::strtoul(argv[2], nullptr, 10)));
  }
  if (argc == 4 && std::string(argv[1]) == "--stall") return stall_child(argv[2], argv[3]);
  if (argc == 4 && std::string(argv[1]) == "--read") {
    return read_child(argv[2], std::strtoull(argv[3], nullptr, 10));
  }
  if (argc == 5 &&
      (std::string(argv[1]) == "--live-sub" || std::string(argv[1]) == "--live-tail")) {
    return live_child(argv[1], argv[2], std::strtoull(argv[3], nullptr, 10), argv[4]);
  }
  char path[4096];
  const ssize_t len = ::readlink(self.c_str(), path, sizeof path - 1);
  if (len <= 0) die("readlink /proc/self/exe");
  path[len] = '\0';
  run(path, parse(argc, argv));
  return 0;
}
