// capture::parse_frame on frames built byte by byte: every link type it
// knows, VLAN tags, IPv6, Ethernet padding, fragments and cut captures.
#include "capture/packet_parser.h"

#include <pcap/dlt.h>

#include <string>

#include <gtest/gtest.h>

namespace reel::capture {
namespace {

using Bytes = std::string;

Bytes be16(uint16_t v) {
  return {static_cast<char>(v >> 8), static_cast<char>(v & 0xff)};
}

Bytes udp(uint16_t dport, const Bytes& payload) {
  return be16(40000) + be16(dport) + be16(static_cast<uint16_t>(8 + payload.size())) + be16(0) +
         payload;
}

// IPv4 to 239.1.1.1; `frag` is the flags+offset field.
Bytes ipv4(uint8_t proto, const Bytes& body, uint16_t frag = 0) {
  Bytes h = "\x45";
  h += '\0';
  h += be16(static_cast<uint16_t>(20 + body.size())) + be16(7) + be16(frag);
  h += '\x40';
  h += static_cast<char>(proto);
  h += be16(0) + Bytes("\x0a\x00\x00\x01", 4) + Bytes("\xef\x01\x01\x01", 4);
  return h + body;
}

Bytes ipv6_udp(const Bytes& u) {
  Bytes h("\x60\x00\x00\x00", 4);
  h += be16(static_cast<uint16_t>(u.size()));
  h += '\x11';
  h += '\x40';
  h += Bytes(15, '\0') + "\x01";                         // ::1
  h += Bytes("\xff\x02", 2) + Bytes(13, '\0') + "\x01";  // ff02::1
  return h + u;
}

Bytes ether(uint16_t type, const Bytes& body) {
  return Bytes(12, '\x11') + be16(type) + body;
}

std::span<const uint8_t> span(const Bytes& b) {
  return {reinterpret_cast<const uint8_t*>(b.data()), b.size()};
}

std::string str(std::span<const uint8_t> s) {
  return {reinterpret_cast<const char*>(s.data()), s.size()};
}

Parsed parse(int link, const Bytes& f, Layer layer = Layer::kUdp, uint32_t wire = 0) {
  return parse_frame(link, span(f), wire == 0 ? static_cast<uint32_t>(f.size()) : wire, layer);
}

TEST(PacketParser, UdpPayloadBehindEveryLinkType) {
  const Bytes payload("\x00\x01payload\xff", 10);
  const Bytes ip = ipv4(17, udp(5000, payload));
  const Bytes sll = Bytes(14, '\x22') + be16(0x0800) + ip;
  const Bytes sll2 = be16(0x0800) + Bytes(18, '\x33') + ip;
  const Bytes null_hdr = Bytes("\x02\x00\x00\x00", 4) + ip;
  for (const auto& [link, frame] :
       std::vector<std::pair<int, Bytes>>{{DLT_EN10MB, ether(0x0800, ip)},
                                          {DLT_LINUX_SLL, sll},
                                          {DLT_LINUX_SLL2, sll2},
                                          {DLT_RAW, ip},
                                          {DLT_NULL, null_hdr}}) {
    Parsed p = parse(link, frame);
    ASSERT_EQ(p.skip, Skip::kNone) << "link " << link;
    EXPECT_EQ(str(p.payload), payload) << "link " << link;
    EXPECT_EQ(dst_text(p), "239.1.1.1");
    EXPECT_EQ(p.dst_port, 5000);
  }
}

TEST(PacketParser, VlanTagsPaddingAndLayers) {
  const Bytes payload = "abc";
  const Bytes ip = ipv4(17, udp(6000, payload));
  // 802.1ad outer tag, 802.1Q inner tag, then IPv4; padded to 60 bytes.
  Bytes f = ether(0x88A8, be16(100) + be16(0x8100) + be16(200) + be16(0x0800) + ip);
  f += Bytes(60 - f.size(), '\0');
  Parsed p = parse(DLT_EN10MB, f);
  ASSERT_EQ(p.skip, Skip::kNone);
  EXPECT_EQ(str(p.payload), payload) << "padding is not payload";
  EXPECT_EQ(str(parse(DLT_EN10MB, f, Layer::kIp).payload), ip) << "the IP packet, unpadded";
  EXPECT_EQ(str(parse(DLT_EN10MB, f, Layer::kEth).payload), f) << "the frame as captured";
}

TEST(PacketParser, Ipv6Udp) {
  const Bytes f = ether(0x86DD, ipv6_udp(udp(7000, "six")));  // the payload points into it
  Parsed p = parse(DLT_EN10MB, f);
  ASSERT_EQ(p.skip, Skip::kNone);
  EXPECT_EQ(str(p.payload), "six");
  EXPECT_EQ(dst_text(p), "ff02::1");
  EXPECT_EQ(p.dst_port, 7000);
}

TEST(PacketParser, SkipsWhatTheLayerCannotUse) {
  EXPECT_EQ(parse(DLT_EN10MB, ether(0x0806, Bytes(28, 'a'))).skip, Skip::kNotIp);  // ARP
  EXPECT_EQ(parse(DLT_EN10MB, ether(0x0806, Bytes(28, 'a')), Layer::kEth).skip, Skip::kNone);
  EXPECT_EQ(parse(DLT_EN10MB, ether(0x0800, ipv4(6, Bytes(20, 't')))).skip, Skip::kNotUdp);
  EXPECT_EQ(parse(DLT_EN10MB, ether(0x0800, ipv4(6, Bytes(20, 't'))), Layer::kIp).skip,
            Skip::kNone);
  // A first fragment (MF set) and a later one (offset 185): the datagram is
  // not whole; as IP packets they are.
  const Bytes first = ether(0x0800, ipv4(17, udp(5000, Bytes(100, 'x')), 0x2000));
  const Bytes later = ether(0x0800, ipv4(17, Bytes(100, 'y'), 185));
  EXPECT_EQ(parse(DLT_EN10MB, first).skip, Skip::kFragment);
  EXPECT_EQ(parse(DLT_EN10MB, later).skip, Skip::kFragment);
  EXPECT_EQ(parse(DLT_EN10MB, later, Layer::kIp).skip, Skip::kNone);
}

TEST(PacketParser, CutAndMalformedPacketsAreNeverStoredShort) {
  const Bytes f = ether(0x0800, ipv4(17, udp(5000, Bytes(500, 'z'))));
  const Bytes cut = f.substr(0, 100);  // snap length 100
  EXPECT_EQ(parse(DLT_EN10MB, cut, Layer::kUdp, static_cast<uint32_t>(f.size())).skip,
            Skip::kTruncated);
  EXPECT_EQ(parse(DLT_EN10MB, cut, Layer::kIp, static_cast<uint32_t>(f.size())).skip,
            Skip::kTruncated);
  EXPECT_EQ(parse(DLT_EN10MB, cut, Layer::kEth, static_cast<uint32_t>(f.size())).skip,
            Skip::kTruncated);
  // A UDP length beyond the IP packet.
  Bytes bad = ipv4(17, be16(1) + be16(2) + be16(4000) + be16(0) + "short");
  EXPECT_EQ(parse(DLT_RAW, bad).skip, Skip::kTruncated);
  // Every prefix of a good frame parses without reading past it.
  for (size_t n = 0; n < f.size(); ++n) {
    Parsed p = parse(DLT_EN10MB, f.substr(0, n), Layer::kUdp, static_cast<uint32_t>(f.size()));
    EXPECT_NE(p.skip, Skip::kNone) << n;
  }
}

}  // namespace
}  // namespace reel::capture
