// Takes one captured frame apart for `reel import`: finds the IP
// packet behind the link layer (Ethernet with any number of 802.1Q/802.1ad
// VLAN tags, Linux cooked v1 and v2, raw IP, BSD loopback), and the UDP
// datagram in it, and says what the record's payload is for a layer:
//
//   kUdp  the UDP payload (the default): what the sender's send() gave
//   kIp   the IP packet, header included, trimmed to its total length
//   kEth  the frame as captured, link layer included
//
// Ethernet padding is never part of a kUdp or kIp payload (the IP total
// length decides). kEth keeps every non-cut frame, IP or not.
// A frame is skipped, with a reason, when it is not what the layer needs
// (not IP, not UDP), an IPv4 fragment (kUdp: the datagram is incomplete),
// or cut short by the capture's snap length.
//
// Pure functions of the bytes; parse_frame allocates nothing; the payload
// points into the bytes.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace reel::capture {

enum class Layer { kUdp, kIp, kEth };

enum class Skip {
  kNone,
  kNotIp,      // ARP, LLDP, an unknown link or ether type
  kNotUdp,     // kUdp only: TCP, ICMP, ...
  kFragment,   // kUdp only: an IPv4 fragment or IPv6 fragment header
  kTruncated,  // the capture cut the packet (snap length) or it is malformed
};

const char* skip_name(Skip s);

struct Parsed {
  Skip skip = Skip::kNone;
  std::span<const uint8_t> payload;  // for the asked layer
  // Destination of the IP packet (4 or 16 bytes; 0: not IP), its UDP port
  // (0 when not UDP).
  uint8_t dst_addr[16] = {};
  uint8_t dst_addr_len = 0;
  uint16_t dst_port = 0;
};

// "239.1.1.1", "ff02::1"; empty when not IP.
std::string dst_text(const Parsed& p);

// `linktype` is the capture's DLT_* (pcap_datalink); `wire_len` the frame's
// length on the wire (a larger value than the bytes means a cut capture).
Parsed parse_frame(int linktype, std::span<const uint8_t> frame, uint32_t wire_len, Layer layer);

// Whether parse_frame knows `linktype`.
bool known_linktype(int linktype);

}  // namespace reel::capture
