// `reel serve` with real sockets: a small sender and socat send datagrams
// to a running server, SIGINT stops it, and every datagram must come back
// from the store byte for byte, with its source seq and a kernel receive
// time inside the sending window.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <random>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "cli_util.h"
#include "reel/reel.h"
#include "serve_util.h"
#include "test_util.h"

namespace reel {
namespace {

uint64_t now_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

std::string mold(uint64_t seq, uint16_t count, uint64_t salt) {
  std::string p = "SESSION001";
  for (int i = 7; i >= 0; --i) p += static_cast<char>(seq >> (8 * i));
  p += static_cast<char>(count >> 8);
  p += static_cast<char>(count & 0xff);
  for (uint16_t m = 0; m < count; ++m) {
    p += std::string("\x00\x05", 2);
    p += testing::numbered("M", salt % 10000 + 1000);
  }
  return p;
}

TEST(CliServe, UdpDatagramsComeBackByteForByteWithSeqAndReceiveTime) {
  testing::TempDir dir;
  const std::string S = dir.path() + "/S";
  Server server;
  start(&server,
        {REEL_BINARY, "serve", S, "--udp", "127.0.0.1:0,stream=itch,seq=moldudp64", "--sync",
         "always"},
        dir.path() + "/out", dir.path() + "/err");
  const int port = server.port();
  ASSERT_GT(port, 0) << testing::read_all(dir.path() + "/err");

  sockaddr_in to;
  int fd = udp_to(port, &to);
  std::vector<std::string> sent;
  const uint64_t t0 = now_ns();
  uint64_t seq = 1;
  for (int i = 0; i < 300; ++i) {
    if (i == 150) seq += 6;  // three packets' worth of messages never sent: a gap
    sent.push_back(mold(seq, 2, i));
    seq += 2;
    ASSERT_EQ(::sendto(fd, sent.back().data(), sent.back().size(), 0,
                       reinterpret_cast<sockaddr*>(&to), sizeof to),
              static_cast<ssize_t>(sent.back().size()));
    if (i % 50 == 49) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ::close(fd);
  // And one datagram from a real client.
  ASSERT_EQ(
      std::system(("printf 'from socat' | socat -u - UDP-SENDTO:127.0.0.1:" + std::to_string(port))
                      .c_str()),
      0);
  sent.push_back("from socat");
  const uint64_t t1 = now_ns();
  // Beside the live server (the writer): a reader sees every datagram as it
  // is written, byte for byte, before anything is closed.
  {
    auto live = Reader::open(S);
    ASSERT_TRUE(live) << live.status().to_string();
    uint64_t last = 0;
    for (int k = 0; k < 500 && last < sent.size(); ++k) {
      auto st = (*live)->stats();
      ASSERT_TRUE(st) << st.status().to_string();
      last = st->last_seq;
      if (last < sent.size()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_EQ(last, sent.size()) << "a live reader never saw every datagram";
    EXPECT_TRUE((*live)->stats()->watermarks.written_seq >= sent.size());
    for (size_t k = 0; k < sent.size(); ++k) {
      auto v = (*live)->get(k + 1);
      ASSERT_TRUE(v) << v.status().to_string();
      ASSERT_EQ(v->payload(), sent[k]) << "live read of seq " << k + 1;
    }
  }
  ASSERT_EQ(server.interrupt(), 0) << testing::read_all(dir.path() + "/err");
  const std::string out = testing::read_all(dir.path() + "/out");
  EXPECT_NE(out.find("301 records"), std::string::npos) << out;
  EXPECT_NE(out.find("1 gaps (6 missing)"), std::string::npos) << out;

  auto reader = Reader::open(S);
  ASSERT_TRUE(reader);
  Cursor c = (*reader)->range(1);
  RecordView v;
  size_t i = 0;
  while (c.next(&v)) {
    ASSERT_LT(i, sent.size());
    EXPECT_EQ(v.payload(), sent[i]) << "record " << i;
    if (i < 300) {
      uint64_t want = 0;
      for (int b = 0; b < 8; ++b) want = want << 8 | static_cast<uint8_t>(sent[i][10 + b]);
      EXPECT_EQ(v.source_seq(), want) << "record " << i;
    }
    EXPECT_GE(v.ts_ns(), t0) << "record " << i;
    EXPECT_LE(v.ts_ns(), t1) << "record " << i;
    ++i;
  }
  EXPECT_EQ(i, sent.size());
  auto gaps = reel("gaps " + S + " --seq moldudp64");
  EXPECT_NE(gaps.out.find("source seq 301..306 missing (6)"), std::string::npos) << gaps.out;
  auto stat = reel("stat " + S);
  EXPECT_NE(stat.out.find("closed cleanly"), std::string::npos) << stat.out;
}

// A datagram just over --max-record is counted and not stored, and does not
// stop the server (it once did: buffers were rounded up past the limit, so
// append() refused what the kernel had not marked truncated); a second
// server cannot take the same UDP port.
TEST(CliServe, OversizeDatagramsAreCountedAndAPortIsNotShared) {
  testing::TempDir dir;
  const std::string S = dir.path() + "/S";
  Server server;
  start(&server, {REEL_BINARY, "serve", S, "--udp", "127.0.0.1:0", "--max-record", "1400"},
        dir.path() + "/out", dir.path() + "/err");
  const int port = server.port();
  ASSERT_GT(port, 0) << testing::read_all(dir.path() + "/err");
  auto second = reel("serve " + dir.path() + "/S2 --udp 127.0.0.1:" + std::to_string(port));
  EXPECT_EQ(second.exit_code, 1) << second.err;
  EXPECT_NE(second.err.find("bind 127.0.0.1:" + std::to_string(port)), std::string::npos)
      << second.err;
  sockaddr_in to;
  int fd = udp_to(port, &to);
  for (size_t n : {size_t{1401}, size_t{1430}, size_t{1463}, size_t{1400}, size_t{5}}) {
    const std::string d(n, 'd');
    ASSERT_EQ(::sendto(fd, d.data(), d.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to),
              static_cast<ssize_t>(n));
  }
  ::close(fd);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  ASSERT_EQ(server.interrupt(), 0) << testing::read_all(dir.path() + "/err");
  const std::string out = testing::read_all(dir.path() + "/out");
  EXPECT_NE(out.find("2 records, 1405 bytes"), std::string::npos) << out;
  EXPECT_NE(out.find("3 truncated"), std::string::npos) << out;
}

// TCP: two framed connections cut into random pieces, socat sending lines,
// and a hostile client whose oversize length closes only its own connection.
TEST(CliServe, TcpRecordsComeBackByteForByteAndABadClientCostsOnlyItself) {
  const uint64_t seed = testing::test_seed();
  std::mt19937_64 rng(seed);
  testing::TempDir dir;
  const std::string S = dir.path() + "/S";
  Server server;
  start(&server,
        {REEL_BINARY, "serve", S, "--tcp", "127.0.0.1:0,framing=u16be,stream=orders,seq=0:u32be",
         "--tcp", "127.0.0.1:0,framing=lines,stream=text", "--max-record", "4096"},
        dir.path() + "/out", dir.path() + "/err");
  const auto ports = server.ports(2);
  ASSERT_EQ(ports.size(), 2u) << testing::read_all(dir.path() + "/err");
  // Connection A: seqs 1..999 but 500; connection B: seqs 1001..1500.
  std::vector<std::string> a, b;
  std::string wire_a, wire_b;
  auto record = [&](uint32_t seq) {
    std::string r(4, '\0');
    for (int k = 0; k < 4; ++k) r[k] = static_cast<char>(seq >> (8 * (3 - k)));
    r += std::string(rng() % 200, static_cast<char>('a' + seq % 26));
    return r;
  };
  for (uint32_t s = 1; s < 1000; ++s) {
    if (s == 500) continue;
    a.push_back(record(s));
    wire_a += std::string{static_cast<char>(a.back().size() >> 8),
                          static_cast<char>(a.back().size() & 0xff)} +
              a.back();
  }
  for (uint32_t s = 1001; s <= 1500; ++s) {
    b.push_back(record(s));
    wire_b += std::string{static_cast<char>(b.back().size() >> 8),
                          static_cast<char>(b.back().size() & 0xff)} +
              b.back();
  }
  int fa = connect_to(ports[0]), fb = connect_to(ports[0]), bad = connect_to(ports[0]);
  ASSERT_GE(fa, 0);
  ASSERT_GE(fb, 0);
  ASSERT_GE(bad, 0);
  ASSERT_EQ(::send(bad, "\xea\x60xxxx", 6, MSG_NOSIGNAL), 6);  // 60000 > --max-record
  send_all(fa, wire_a.substr(0, wire_a.size() / 2), rng);
  send_all(fb, wire_b, rng);
  send_all(fa, wire_a.substr(wire_a.size() / 2), rng);
  ::close(fa);
  ::close(fb);
  ::close(bad);
  ASSERT_EQ(std::system(
                ("printf 'a\\nbb\\nccc\\n' | socat -u - TCP:127.0.0.1:" + std::to_string(ports[1]))
                    .c_str()),
            0);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_EQ(server.interrupt(), 0) << testing::read_all(dir.path() + "/err");
  const std::string out = testing::read_all(dir.path() + "/out");
  EXPECT_NE(out.find("1498 records"), std::string::npos) << out;
  EXPECT_NE(out.find("1 framing errors"), std::string::npos) << out;
  EXPECT_NE(testing::read_all(dir.path() + "/err").find("60000 bytes"), std::string::npos);
  auto reader = Reader::open(S);
  ASSERT_TRUE(reader);
  auto id = (*reader)->stream_id("orders");
  ASSERT_TRUE(id && *id);
  std::vector<std::string> got_a, got_b, text;
  Cursor c = (*reader)->range(1);
  RecordView v;
  while (c.next(&v)) {
    const std::string p(v.payload());
    if (v.stream() != **id) {
      text.push_back(p);
      continue;
    }
    (v.source_seq() <= 1000 ? got_a : got_b).push_back(p);
  }
  EXPECT_EQ(got_a, a);  // each connection's records in its own order, byte for byte
  EXPECT_EQ(got_b, b);
  EXPECT_EQ(text, (std::vector<std::string>{"a", "bb", "ccc"}));
}

// Multicast through a veth pair from another network namespace: the sender
// there, reel serve here joined on the veth's address.
TEST(CliServe, MulticastFromAnotherNamespaceComesBackByteForByte) {
  VethNamespace net;
  if (std::string why = net.make(); !why.empty()) GTEST_SKIP() << "multicast test skipped: " << why;
  testing::TempDir dir;
  const std::string S = dir.path() + "/S";
  const std::string group = "239.1.2.3";
  const int port = 20000 + static_cast<int>(::getpid() % 20000);
  Server server;
  start(
      &server,
      {REEL_BINARY, "serve", S, "--mcast",
       group + ":" + std::to_string(port) + ",iface=" + net.local_ip + ",stream=itch,seq=0:u32be"},
      dir.path() + "/out", dir.path() + "/err");
  ASSERT_GT(server.port(), 0) << testing::read_all(dir.path() + "/err");
  // A small sender in the other namespace: 200 datagrams, each a u32 BE
  // sequence number and some bytes; 57 is skipped on purpose.
  const std::string py =
      "import socket,struct,time\n"
      "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
      "s.setsockopt(socket.IPPROTO_IP,socket.IP_MULTICAST_IF,socket.inet_aton('" +
      net.remote_ip +
      "'))\n"
      "for i in range(1,202):\n"
      "  if i==57: continue\n"
      "  s.sendto(struct.pack('>I',i)+bytes((i*7+k)%256 for k in range(i%300)),('" +
      group + "'," + std::to_string(port) +
      "))\n"
      "  time.sleep(0.0005)\n";
  testing::write_all(dir.path() + "/send.py", py);
  ASSERT_EQ(sh("ip netns exec " + net.ns + " python3 " + dir.path() + "/send.py"), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  ASSERT_EQ(server.interrupt(), 0) << testing::read_all(dir.path() + "/err");
  const std::string out = testing::read_all(dir.path() + "/out");
  EXPECT_NE(out.find("200 records"), std::string::npos) << out;
  EXPECT_NE(out.find("1 gaps (1 missing)"), std::string::npos) << out;
  auto reader = Reader::open(S);
  ASSERT_TRUE(reader);
  Cursor c = (*reader)->range(1);
  RecordView v;
  uint32_t i = 1;
  while (c.next(&v)) {
    if (i == 57) ++i;
    std::string want(4, '\0');
    for (int b = 0; b < 4; ++b) want[b] = static_cast<char>(i >> (8 * (3 - b)));
    for (uint32_t k = 0; k < i % 300; ++k) want += static_cast<char>((i * 7 + k) % 256);
    ASSERT_EQ(v.payload(), want) << "datagram " << i;
    EXPECT_EQ(v.source_seq(), i);
    ++i;
  }
  EXPECT_EQ(i, 202u);
}

}  // namespace
}  // namespace reel
