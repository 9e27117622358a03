#include "capture/packet_parser.h"

#include <arpa/inet.h>
#include <pcap/dlt.h>

#include <cstring>

#include "util/coding.h"

namespace reel::capture {
namespace {

constexpr uint16_t kEtherIpv4 = 0x0800, kEtherIpv6 = 0x86DD;
constexpr uint8_t kProtoUdp = 17, kProtoFragment = 44;

uint16_t be16(const uint8_t* p) {
  return decode_big16(p);
}

// The IP packet behind the link layer, or an empty span (not IP).
std::span<const uint8_t> link_payload(int linktype, std::span<const uint8_t> f) {
  size_t at = 0;
  uint16_t ether = 0;
  switch (linktype) {
    case DLT_EN10MB:
      if (f.size() < 14) return {};
      ether = be16(&f[12]);
      at = 14;
      while ((ether == 0x8100 || ether == 0x88A8 || ether == 0x9100) && f.size() >= at + 4) {
        ether = be16(&f[at + 2]);  // VLAN tags: TCI, then the next type
        at += 4;
      }
      break;
    case DLT_LINUX_SLL:
      if (f.size() < 16) return {};
      ether = be16(&f[14]);
      at = 16;
      break;
    case DLT_LINUX_SLL2:
      if (f.size() < 20) return {};
      ether = be16(&f[0]);
      at = 20;
      break;
    case DLT_NULL:
    case DLT_LOOP:
      if (f.size() < 4) return {};
      at = 4;
      ether = 0;  // the version nibble says
      break;
    default:  // DLT_RAW, DLT_IPV4, DLT_IPV6
      at = 0;
      break;
  }
  if (ether != 0 && ether != kEtherIpv4 && ether != kEtherIpv6) return {};
  if (at > f.size()) return {};
  return f.subspan(at);
}

// IPv4 or IPv6 packet → its transport bytes (trimmed to the IP length).
struct Ip {
  Skip skip = Skip::kNone;
  std::span<const uint8_t> packet, transport;
  uint8_t proto = 0;
  const uint8_t* dst = nullptr;  // 4 or 16 bytes
  uint8_t dst_len = 0;
};

Ip skipped(Skip why) {
  Ip ip;
  ip.skip = why;
  return ip;
}

Ip parse_ipv4(std::span<const uint8_t> p) {
  Ip ip;
  if (p.size() < 20) return skipped(Skip::kTruncated);
  const size_t ihl = (p[0] & 0x0f) * 4u, total = be16(&p[2]);
  if (ihl < 20 || total < ihl) return skipped(Skip::kTruncated);
  if (total > p.size()) return skipped(Skip::kTruncated);
  ip.dst = &p[16];
  ip.dst_len = 4;
  ip.packet = p.first(total);
  ip.transport = ip.packet.subspan(ihl);
  ip.proto = p[9];
  if ((be16(&p[6]) & 0x3fff) != 0) ip.skip = Skip::kFragment;  // MF or an offset
  return ip;
}

Ip parse_ipv6(std::span<const uint8_t> p) {
  Ip ip;
  if (p.size() < 40) return skipped(Skip::kTruncated);
  const size_t total = 40u + be16(&p[4]);
  if (total > p.size()) return skipped(Skip::kTruncated);
  ip.dst = &p[24];
  ip.dst_len = 16;
  ip.packet = p.first(total);
  uint8_t next = p[6];
  size_t at = 40;
  // Hop-by-hop, routing and destination options headers come before UDP.
  while ((next == 0 || next == 43 || next == 60) && at + 8 <= total) {
    const size_t len = (ip.packet[at + 1] + 1u) * 8;
    next = ip.packet[at];
    at += len;
  }
  if (at > total) return skipped(Skip::kTruncated);
  if (next == kProtoFragment) ip.skip = Skip::kFragment;
  ip.proto = next;
  ip.transport = ip.packet.subspan(at);
  return ip;
}

}  // namespace

const char* skip_name(Skip s) {
  switch (s) {
    case Skip::kNone:
      return "none";
    case Skip::kNotIp:
      return "not IP";
    case Skip::kNotUdp:
      return "not UDP";
    case Skip::kFragment:
      return "fragments";
    case Skip::kTruncated:
      return "cut by the snap length or malformed";
  }
  return "?";
}

std::string dst_text(const Parsed& p) {
  char text[INET6_ADDRSTRLEN] = "";
  if (p.dst_addr_len == 4) inet_ntop(AF_INET, p.dst_addr, text, sizeof text);
  if (p.dst_addr_len == 16) inet_ntop(AF_INET6, p.dst_addr, text, sizeof text);
  return text;
}

bool known_linktype(int linktype) {
  switch (linktype) {
    case DLT_EN10MB:
    case DLT_LINUX_SLL:
    case DLT_LINUX_SLL2:
    case DLT_NULL:
    case DLT_LOOP:
    case DLT_RAW:
    case DLT_IPV4:
    case DLT_IPV6:
      return true;
    default:
      return false;
  }
}

Parsed parse_frame(int linktype, std::span<const uint8_t> frame, uint32_t wire_len, Layer layer) {
  Parsed out;
  const bool cut = wire_len > frame.size();
  const auto l3 = link_payload(linktype, frame);
  Ip ip;
  if (l3.empty()) {
    ip.skip = Skip::kNotIp;
  } else if ((l3[0] >> 4) == 4) {
    ip = parse_ipv4(l3);
  } else if ((l3[0] >> 4) == 6) {
    ip = parse_ipv6(l3);
  } else {
    ip.skip = Skip::kNotIp;
  }
  if (ip.dst != nullptr) {
    std::memcpy(out.dst_addr, ip.dst, ip.dst_len);
    out.dst_addr_len = ip.dst_len;
  }
  const bool udp = ip.skip == Skip::kNone && ip.proto == kProtoUdp && ip.transport.size() >= 8;
  if (udp) out.dst_port = be16(&ip.transport[2]);
  if (layer == Layer::kEth) {
    out.skip = cut ? Skip::kTruncated : Skip::kNone;
    out.payload = frame;
    return out;
  }
  if (ip.skip != Skip::kNone) {
    out.skip = ip.skip;
    if (layer == Layer::kIp && ip.skip == Skip::kFragment) {
      out.skip = Skip::kNone;  // a fragment is a whole IP packet
      out.payload = ip.packet;
    }
    return out;
  }
  if (layer == Layer::kIp) {
    out.payload = ip.packet;
    return out;
  }
  if (ip.proto != kProtoUdp) {
    out.skip = Skip::kNotUdp;
    return out;
  }
  const size_t udp_len = ip.transport.size() >= 8 ? be16(&ip.transport[4]) : 0;
  if (udp_len < 8 || udp_len > ip.transport.size()) {
    out.skip = Skip::kTruncated;
    return out;
  }
  out.payload = ip.transport.subspan(8, udp_len - 8);
  return out;
}

}  // namespace reel::capture
