// pcap import beside reading the same file with libpcap alone, in
// the same run. The capture is written here with libpcap (Ethernet, IPv4,
// UDP, 100-byte payloads, nanosecond times) and read once before timing, so
// both sides read from the page cache.
//
//   reel import path: capture::PcapMerge + capture::Importer (what
//                     `reel import` runs), timed until the store is closed
//                     (written, indexed, synced).
//   baseline:         pcap_next_ex over the file, touching every byte.
//
// Latency: per packet, the time to take it (pcap_next_ex alone, or the
// whole import step), sampled every 64 packets.
#include <pcap/pcap.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "bench_util.h"
#include "capture/importer.h"
#include "capture/pcap_merge.h"
#include "reel/reel.h"
#include "util/coding.h"

namespace reel::bench {
namespace {

constexpr size_t kPayload = 100;

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "import_bench: %s\n", why.c_str());
  std::exit(1);
}

uint64_t now_ns() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
          .count());
}

// Ethernet + IPv4 + UDP frame to 239.1.1.1:5000 with `seq` in the payload.
std::vector<u_char> frame(uint64_t seq) {
  std::vector<u_char> f(14 + 20 + 8 + kPayload, 0);
  f[12] = 0x08;  // IPv4
  u_char* ip = &f[14];
  ip[0] = 0x45;
  const uint16_t total = 20 + 8 + kPayload;
  encode_big16(ip + 2, total);
  ip[8] = 64;
  ip[9] = 17;
  const u_char src[4] = {10, 0, 0, 1}, dst[4] = {239, 1, 1, 1};
  std::memcpy(ip + 12, src, 4);
  std::memcpy(ip + 16, dst, 4);
  u_char* udp = ip + 20;
  encode_big16(udp + 2, 5000);
  encode_big16(udp + 4, 8 + kPayload);
  std::memcpy(udp + 8, &seq, sizeof seq);
  return f;
}

void write_capture(const std::string& path, uint64_t packets) {
  pcap_t* dead =
      pcap_open_dead_with_tstamp_precision(DLT_EN10MB, 65535, PCAP_TSTAMP_PRECISION_NANO);
  pcap_dumper_t* out = pcap_dump_open(dead, path.c_str());
  if (out == nullptr) die(path + ": " + pcap_geterr(dead));
  const uint64_t t0 = 1'795'000'000'000'000'000ull;
  for (uint64_t i = 0; i < packets; ++i) {
    const auto f = frame(i);
    pcap_pkthdr h{};
    const uint64_t ts = t0 + i * 1'000;  // 1M packets a second
    h.ts.tv_sec = static_cast<time_t>(ts / 1'000'000'000);
    h.ts.tv_usec = static_cast<suseconds_t>(ts % 1'000'000'000);  // ns in a nano file
    h.caplen = h.len = static_cast<bpf_u_int32>(f.size());
    pcap_dump(reinterpret_cast<u_char*>(out), &h, f.data());
  }
  pcap_dump_close(out);
  pcap_close(dead);
}

Row libpcap_read(const std::string& path) {
  char err[PCAP_ERRBUF_SIZE];
  pcap_t* p =
      pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, err);
  if (p == nullptr) die(err);
  Row r;
  r.name = "  libpcap read alone";
  uint64_t sum = 0;
  pcap_pkthdr* h;
  const u_char* data;
  const auto t0 = Clock::now();
  for (;;) {
    const bool sample = r.records % 64 == 0;
    const uint64_t a = sample ? now_ns() : 0;
    if (pcap_next_ex(p, &h, &data) != 1) break;
    for (uint32_t i = 0; i < h->caplen; i += 8) sum += data[i];
    if (sample) r.latencies_ns.push_back(static_cast<double>(now_ns() - a));
    ++r.records;
    r.bytes += kPayload;
  }
  r.seconds = seconds_since(t0);
  pcap_close(p);
  if (sum == 42) std::printf(" ");  // keep the reads
  return r;
}

Row reel_import(const std::string& path, const std::string& store_dir) {
  auto in = capture::PcapMerge::open({path}, "");
  if (!in) die(in.status().to_string());
  auto store = Store::open(store_dir);
  if (!store) die(store.status().to_string());
  Row r;
  r.name = "reel import (UDP payloads)";
  capture::Importer importer(store->get(), capture::ImportOptions{});
  capture::Packet pk;
  const auto t0 = Clock::now();
  for (;;) {
    const bool sample = r.records % 64 == 0;
    const uint64_t a = sample ? now_ns() : 0;
    auto more = (*in)->next(&pk);
    if (!more) die(more.status().to_string());
    if (!*more) break;
    if (Status s = importer.take(pk); !s) die(s.to_string());
    if (sample) r.latencies_ns.push_back(static_cast<double>(now_ns() - a));
    ++r.records;
  }
  if (importer.counts().imported != r.records) die("a packet was skipped");
  r.bytes = r.records * kPayload;
  if (Status s = (*store)->close(); !s) die(s.to_string());
  r.seconds = seconds_since(t0);
  return r;
}

// The store alone: the same payloads and times appended with no capture to
// read; the ceiling an import can reach.
Row store_alone(const std::string& store_dir, uint64_t packets) {
  auto store = Store::open(store_dir);
  if (!store) die(store.status().to_string());
  Row r;
  r.name = "  store alone: append 100 B";
  std::string payload(kPayload, 'p');
  const auto t0 = Clock::now();
  for (uint64_t i = 0; i < packets; ++i) {
    const bool sample = i % 64 == 0;
    const uint64_t a = sample ? now_ns() : 0;
    AppendOptions ao;
    ao.ts_ns = 1'795'000'000'000'000'000ull + i * 1'000;
    std::memcpy(payload.data(), &i, sizeof i);
    if (!(*store)->append("import", payload, ao)) die("append");
    if (sample) r.latencies_ns.push_back(static_cast<double>(now_ns() - a));
  }
  if (Status s = (*store)->close(); !s) die(s.to_string());
  r.seconds = seconds_since(t0);
  r.records = packets;
  r.bytes = packets * kPayload;
  return r;
}

}  // namespace
}  // namespace reel::bench

int main(int argc, char** argv) {
  using namespace reel::bench;
  std::string base = std::filesystem::temp_directory_path().string();
  uint64_t packets = 2'000'000;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--dir" && i + 1 < argc) {
      base = argv[++i];
    } else if (arg == "--packets" && i + 1 < argc) {
      packets = std::stoull(argv[++i]);
    } else {
      std::printf("usage: reel_import_bench [--dir DIR] [--packets N]\n");
      return arg == "--help" || arg == "-h" ? 0 : 2;
    }
  }
  const std::string root = base + "/reel-import-bench-" + std::to_string(::getpid());
  std::filesystem::create_directories(root);
  const std::string pcap = root + "/capture.pcap";
  write_capture(pcap, packets);
  std::printf("reel_import_bench: %llu packets, %.0f MB of capture in %s\n",
              static_cast<unsigned long long>(packets), std::filesystem::file_size(pcap) / 1e6,
              root.c_str());
  (void)libpcap_read(pcap);  // into the page cache
  std::vector<Row> rows;
  Row base_row = libpcap_read(pcap);
  Row ours = reel_import(pcap, root + "/store");
  ours.baseline_name = "libpcap read";
  ours.baseline_records_s = base_row.records / base_row.seconds;
  Row alone = store_alone(root + "/alone", packets);
  Row vs_store = ours;
  vs_store.name = "reel import, vs the store alone";
  vs_store.baseline_name = "store alone";
  vs_store.baseline_records_s = alone.records / alone.seconds;
  rows.push_back(ours);
  rows.push_back(base_row);
  rows.push_back(vs_store);
  rows.push_back(alone);
  print_table(rows);
  std::filesystem::remove_all(root);
  return 0;
}
