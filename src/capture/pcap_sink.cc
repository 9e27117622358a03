#include "capture/pcap_sink.h"
#include "util/coding.h"

#include <arpa/inet.h>
#include <pcap/pcap.h>
#include <time.h>

#include <cstring>
#include <vector>

namespace reel::capture {
namespace {

struct Dst {
  uint32_t addr = 0;  // network order
  uint16_t port = 0;
  bool ok = false;
};

Dst parse_dst(const std::string& text) {
  Dst d;
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos) return d;
  in_addr a{};
  if (inet_pton(AF_INET, text.substr(0, colon).c_str(), &a) != 1) return d;
  const std::string port = text.substr(colon + 1);
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos) {
    return d;
  }
  const unsigned long p = std::stoul(port);
  if (p == 0 || p > 65535) return d;
  d.addr = a.s_addr;
  d.port = static_cast<uint16_t>(p);
  d.ok = true;
  return d;
}

uint16_t ip_checksum(const uint8_t* h) {
  uint32_t sum = 0;
  for (int i = 0; i < 20; i += 2) sum += decode_big16(h + i);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

}  // namespace

struct PcapSink::Impl {
  pcap_t* dead = nullptr;
  pcap_dumper_t* out = nullptr;
  std::string path;
  Dst fallback;
  std::map<uint32_t, std::string> names;
  std::map<uint32_t, Dst> by_stream;
  std::vector<uint8_t> frame;

  ~Impl() {
    if (out != nullptr) pcap_dump_close(out);
    if (dead != nullptr) pcap_close(dead);
  }
  Result<Dst> dst_of(uint32_t stream);
};

Result<Dst> PcapSink::Impl::dst_of(uint32_t stream) {
  if (auto it = by_stream.find(stream); it != by_stream.end()) return it->second;
  const std::string name = names.count(stream) ? names.at(stream) : std::to_string(stream);
  Dst d = parse_dst(name);
  if (!d.ok) d = fallback;
  if (!d.ok) {
    return Status::invalid_argument("pcap:" + path + ": stream '" + name +
                                    "' names no IPv4:PORT destination; give pcap:" + path +
                                    "?dst=IP:PORT");
  }
  by_stream[stream] = d;
  return d;
}

PcapSink::PcapSink(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PcapSink::~PcapSink() = default;

Result<std::unique_ptr<PcapSink>> PcapSink::open(const std::string& spec,
                                                 std::map<uint32_t, std::string> names) {
  auto impl = std::make_unique<Impl>();
  impl->path = spec;
  if (const size_t q = spec.find("?dst="); q != std::string::npos) {
    impl->path = spec.substr(0, q);
    impl->fallback = parse_dst(spec.substr(q + 5));
    if (!impl->fallback.ok) {
      return Status::invalid_argument("pcap:" + spec + ": bad dst (IPv4:PORT)");
    }
  }
  impl->names = std::move(names);
  impl->dead = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, 262144, PCAP_TSTAMP_PRECISION_NANO);
  impl->out = pcap_dump_open(impl->dead, impl->path.c_str());
  if (impl->out == nullptr) {
    return Status::io_error("pcap:" + impl->path + ": " + pcap_geterr(impl->dead));
  }
  return std::unique_ptr<PcapSink>(new PcapSink(std::move(impl)));
}

Status PcapSink::send(const RecordView& r, uint64_t due_ns) {
  const auto payload = r.payload();
  if (payload.size() > 65507) {
    return Status::invalid_argument("pcap:" + impl_->path + ": record seq " +
                                    std::to_string(r.seq()) + " is too long for one datagram");
  }
  auto dst = impl_->dst_of(r.stream());
  if (!dst) return dst.status();
  auto& f = impl_->frame;
  f.assign(14 + 20 + 8, 0);
  const uint32_t host = ntohl(dst->addr);
  if (IN_MULTICAST(host)) {
    const uint8_t mac[6] = {0x01,
                            0x00,
                            0x5e,
                            static_cast<uint8_t>((host >> 16) & 0x7f),
                            static_cast<uint8_t>(host >> 8),
                            static_cast<uint8_t>(host)};
    std::memcpy(f.data(), mac, 6);
  }
  f[12] = 0x08;
  uint8_t* ip = &f[14];
  const size_t total = 20 + 8 + payload.size();
  ip[0] = 0x45;
  encode_big16(ip + 2, static_cast<uint16_t>(total));
  encode_big16(ip + 4, static_cast<uint16_t>(r.seq()));  // the IP id: the seq's low bits
  ip[8] = 64;
  ip[9] = 17;
  const uint8_t src[4] = {127, 0, 0, 1};
  std::memcpy(ip + 12, src, 4);
  std::memcpy(ip + 16, &dst->addr, 4);
  const uint16_t sum = ip_checksum(ip);
  encode_big16(ip + 10, sum);
  uint8_t* udp = ip + 20;
  encode_big16(udp, 40000);
  encode_big16(udp + 2, dst->port);
  encode_big16(udp + 4, static_cast<uint16_t>(8 + payload.size()));
  f.insert(f.end(), payload.begin(), payload.end());
  uint64_t ts = r.ts_ns();
  if (due_ns != 0) {
    timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    ts = static_cast<uint64_t>(now.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(now.tv_nsec);
  }
  pcap_pkthdr h{};
  h.ts.tv_sec = static_cast<time_t>(ts / 1'000'000'000);
  h.ts.tv_usec = static_cast<suseconds_t>(ts % 1'000'000'000);  // ns: a nanosecond file
  h.caplen = h.len = static_cast<bpf_u_int32>(f.size());
  pcap_dump(reinterpret_cast<u_char*>(impl_->out), &h, f.data());
  return Status::ok();
}

Status PcapSink::flush() {
  if (pcap_dump_flush(impl_->out) != 0) {
    return Status::io_error("pcap:" + impl_->path + ": write failed");
  }
  return Status::ok();
}

}  // namespace reel::capture
