// Captures, end to end, with the real tools: a sender in another network
// namespace sends MoldUDP64 datagrams over a veth pair while tcpdump
// records them; `reel import` of that nanosecond pcap must give back every
// datagram byte for byte with the capture time tshark reads, and tcpreplay
// replaying the same capture into `reel serve` must be recorded byte for
// byte too. On loopback: several files merged in time order (one of them a
// microsecond Linux-cooked capture from -i any), --filter, --stream-by dst,
// a capture cut mid-packet. Needs root (tcpdump, ip netns); skipped with
// the reason elsewhere.
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "capture_util.h"
#include "cli_util.h"
#include "reel/reel.h"
#include "serve_util.h"
#include "test_util.h"

namespace reel {
namespace {

std::vector<std::string> sent_lines(const std::string& path) {
  std::vector<std::string> out;
  const std::string all = testing::read_all(path);
  size_t at = 0;
  for (size_t nl; (nl = all.find('\n', at)) != std::string::npos; at = nl + 1) {
    out.push_back(unhex(all.substr(at, nl - at)));
  }
  return out;
}

uint64_t mold_seq(const std::string& d) {
  uint64_t v = 0;
  for (int i = 10; i < 18; ++i) v = v << 8 | static_cast<uint8_t>(d[i]);
  return v;
}

// Records 1.. of `S` are `sent`, byte for byte, with MoldUDP64 source seqs;
// with `times`, their ts_ns are those.
void expect_store(const std::string& S, const std::vector<std::string>& sent,
                  const std::vector<uint64_t>* times) {
  auto reader = Reader::open(S);
  ASSERT_TRUE(reader) << reader.status().to_string();
  Cursor c = (*reader)->range(1);
  RecordView v;
  size_t i = 0;
  while (c.next(&v)) {
    ASSERT_LT(i, sent.size()) << "more records than datagrams sent";
    ASSERT_EQ(v.payload(), sent[i]) << "datagram " << i;
    EXPECT_EQ(v.source_seq(), mold_seq(sent[i])) << "datagram " << i;
    if (times != nullptr) {
      ASSERT_EQ(v.ts_ns(), (*times)[i]) << "capture time of datagram " << i;
    }
    ++i;
  }
  ASSERT_TRUE(c.status()) << c.status().to_string();
  EXPECT_EQ(i, sent.size());
}

TEST(CliCapture, ImportAndTcpreplayIntoServeKeepEveryDatagram) {
  VethNamespace net;
  if (std::string why = net.make(); !why.empty()) GTEST_SKIP() << "capture test skipped: " << why;
  const uint64_t seed = testing::test_seed();
  testing::TempDir dir;
  const std::string d = dir.path();
  const int port = free_udp_port();
  Tcpdump dump;
  const std::string why =
      dump.start({"-i", net.here, "-n", "-U", "--immediate-mode", "--time-stamp-precision=nano",
                  "-w", d + "/cap.pcap", "udp and dst port " + std::to_string(port)},
                 d + "/tcpdump.err");
  if (!why.empty()) GTEST_SKIP() << "capture test skipped: " << why;
  // 300 MoldUDP64 datagrams; numbers 400..404 (or wherever packet 150
  // starts) are skipped on purpose.
  const std::string py =
      "import socket,struct,time,random\nrandom.seed(" + std::to_string(seed) +
      ")\n"
      "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
      "out=open('" +
      d +
      "/sent.hex','w')\nseq=1\nfor i in range(300):\n"
      "  if i==150: seq+=5\n"
      "  n=random.randint(1,4)\n"
      "  m=b''\n"
      "  for k in range(n):\n"
      "    L=random.randint(1,300)\n"
      "    m+=struct.pack('>H',L)+bytes(random.getrandbits(8) for _ in range(L))\n"
      "  p=b'SESSION001'+struct.pack('>QH',seq,n)+m\n"
      "  s.sendto(p,('" +
      net.local_ip + "'," + std::to_string(port) +
      "))\n"
      "  out.write(p.hex()+'\\n')\n"
      "  seq+=n\n"
      "  time.sleep(0.0003)\n";
  testing::write_all(d + "/send.py", py);
  ASSERT_EQ(sh("ip netns exec " + net.ns + " python3 " + d + "/send.py"), 0);
  EXPECT_TRUE(captured(d + "/cap.pcap", 300, d + "/n"));
  ASSERT_EQ(dump.stop(), 0) << testing::read_all(d + "/tcpdump.err");
  const auto sent = sent_lines(d + "/sent.hex");
  ASSERT_EQ(sent.size(), 300u);
  const auto times = tshark_times(d + "/cap.pcap", d + "/times");
  ASSERT_EQ(times.size(), sent.size()) << testing::read_all(d + "/tcpdump.err");

  // reel import keeps each datagram and its nanosecond capture time.
  CliRun r = reel("import " + d + "/S1 " + d + "/cap.pcap --stream itch --seq moldudp64");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("300 imported"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("itch: 300 records"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1 gaps (5 missing)"), std::string::npos) << r.out;
  expect_store(d + "/S1", sent, &times);
  r = reel("gaps " + d + "/S1 --seq moldudp64");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(count_lines(r.out), 2) << r.out;  // a header and the one gap
  // The store kept the rule it was imported with: no --seq needed.
  r = reel("gaps " + d + "/S1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(count_lines(r.out), 2) << r.out;
  EXPECT_NE(r.out.find("1 gaps (5 source seqs missing)"), std::string::npos) << r.out;

  // tcpreplay sends the capture again, from the namespace's end of the
  // veth, into reel serve (checksums fixed: the capture saw them offloaded).
  Server server;
  start(&server,
        {REEL_BINARY, "serve", d + "/S2", "--udp",
         "0.0.0.0:" + std::to_string(port) + ",stream=itch,seq=moldudp64"},
        d + "/out", d + "/err");
  ASSERT_GT(server.port(), 0) << testing::read_all(d + "/err");
  ASSERT_EQ(sh("tcprewrite --fixcsum -i " + d + "/cap.pcap -o " + d + "/fixed.pcap"), 0);
  ASSERT_EQ(sh("ip netns exec " + net.ns + " tcpreplay -i " + net.there + " " + d + "/fixed.pcap"),
            0);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_EQ(server.interrupt(), 0) << testing::read_all(d + "/err");
  const std::string out = testing::read_all(d + "/out");
  EXPECT_NE(out.find("300 records"), std::string::npos) << out;
  EXPECT_NE(out.find("1 gaps (5 missing)"), std::string::npos) << out;
  expect_store(d + "/S2", sent, nullptr);
  r = reel("gaps " + d + "/S2");  // the rule reel serve recorded with
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("1 gaps (5 source seqs missing)"), std::string::npos) << r.out;
}

// Sends `n` datagrams to 127.0.0.1:port_a and :port_b in turn, "a0", "b0",
// "a1", ..., a little apart.
void send_alternating(int port_a, int port_b, int n) {
  sockaddr_in a{}, b{};
  const int fd = udp_to(port_a, &a);
  (void)udp_to(port_b, &b);
  ASSERT_GE(fd, 0);
  for (int i = 0; i < n; ++i) {
    for (auto* to : {&a, &b}) {
      const std::string p = testing::numbered(to == &a ? "a" : "b", i);
      ASSERT_EQ(::sendto(fd, p.data(), p.size(), 0, reinterpret_cast<sockaddr*>(to), sizeof *to),
                static_cast<ssize_t>(p.size()));
      std::this_thread::sleep_for(std::chrono::microseconds(300));
    }
  }
  ::close(fd);
}

// Two captures made at once on loopback, one at nanosecond precision on lo
// (Ethernet), one at microsecond precision on "any" (Linux cooked v2).
TEST(CliCapture, FilesMergeInTimeOrderWithFilterStreamsAndACutTail) {
  if (::geteuid() != 0) GTEST_SKIP() << "capture test skipped: tcpdump needs root";
  testing::TempDir dir;
  const std::string d = dir.path();
  const int pa = free_udp_port();
  int pb = free_udp_port();
  while (pb == pa) pb = free_udp_port();
  Tcpdump ta, tb;
  std::string why =
      ta.start({"-i", "lo", "-n", "-U", "--immediate-mode", "--time-stamp-precision=nano", "-w",
                d + "/a.pcap", "udp and dst port " + std::to_string(pa)},
               d + "/a.err");
  if (why.empty()) {
    why = tb.start({"-i", "any", "-n", "-U", "--immediate-mode", "-w", d + "/b.pcap",
                    "udp and dst port " + std::to_string(pb)},
                   d + "/b.err");
  }
  if (!why.empty()) GTEST_SKIP() << "capture test skipped: " << why;
  send_alternating(pa, pb, 100);
  EXPECT_TRUE(captured(d + "/a.pcap", 100, d + "/na"));
  EXPECT_TRUE(captured(d + "/b.pcap", 100, d + "/nb"));
  ASSERT_EQ(ta.stop(), 0);
  ASSERT_EQ(tb.stop(), 0);
  const auto times_a = tshark_times(d + "/a.pcap", d + "/ta");
  const auto times_b = tshark_times(d + "/b.pcap", d + "/tb");
  ASSERT_EQ(times_a.size(), 100u) << testing::read_all(d + "/a.err");
  ASSERT_EQ(times_b.size(), 100u) << testing::read_all(d + "/b.err");
  EXPECT_NE(testing::read_all(d + "/b.err").find("LINUX_SLL"), std::string::npos)
      << "the -i any capture is meant to be Linux cooked";

  CliRun r = reel("import " + d + "/S " + d + "/b.pcap " + d + "/a.pcap --stream-by dst");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("127.0.0.1:" + std::to_string(pa) + ": 100 records"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("127.0.0.1:" + std::to_string(pb) + ": 100 records"), std::string::npos)
      << r.out;
  auto reader = Reader::open(d + "/S");
  ASSERT_TRUE(reader);
  Cursor c = (*reader)->range(1);
  RecordView v;
  size_t ia = 0, ib = 0;
  uint64_t last_ts = 0;
  while (c.next(&v)) {
    EXPECT_GE(v.ts_ns(), last_ts) << "not in capture-time order at seq " << v.seq();
    last_ts = v.ts_ns();
    const bool is_a = v.payload()[0] == 'a';
    const size_t i = is_a ? ia++ : ib++;
    ASSERT_LT(i, 100u);
    ASSERT_EQ(v.payload(), testing::numbered(is_a ? "a" : "b", static_cast<int>(i)));
    EXPECT_EQ(v.ts_ns(), is_a ? times_a[i] : times_b[i]) << v.payload();
    if (!is_a) {
      EXPECT_EQ(v.ts_ns() % 1000, 0u) << "a microsecond file";
    }
  }
  EXPECT_EQ(ia + ib, 200u);

  r = reel("import " + d + "/F " + d + "/a.pcap " + d + "/b.pcap --filter 'udp dst port " +
           std::to_string(pb) + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("200 packets read, 100 imported, 100 rejected by --filter"),
            std::string::npos)
      << r.out;

  // pcapng (editcap converts; nanosecond times kept).
  ASSERT_EQ(sh("editcap -F pcapng " + d + "/a.pcap " + d + "/a.pcapng"), 0);
  r = reel("import " + d + "/N " + d + "/a.pcapng");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("100 imported"), std::string::npos) << r.out;
  auto ng = Reader::open(d + "/N");
  ASSERT_TRUE(ng);
  for (size_t i = 0; i < 100; ++i) {
    auto rec = (*ng)->get(i + 1);
    ASSERT_TRUE(rec);
    EXPECT_EQ(rec->payload(), testing::numbered("a", static_cast<int>(i)));
    EXPECT_EQ(rec->ts_ns(), times_a[i]) << "pcapng record " << i;
  }

  // A capture cut in its last packet (tcpdump killed mid-write).
  std::string bytes = testing::read_all(d + "/a.pcap");
  testing::write_all(d + "/cut.pcap", bytes.substr(0, bytes.size() - 3));
  r = reel("import " + d + "/C " + d + "/cut.pcap");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("99 imported"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("cut.pcap: the packet after packet 99 is cut short"), std::string::npos)
      << r.err;

  r = reel("import " + d + "/X " + d + "/a.pcap --filter 'udp port'");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--filter 'udp port'"), std::string::npos) << r.err;
  testing::write_all(d + "/junk.pcap", "not a capture at all");
  r = reel("import " + d + "/X " + d + "/junk.pcap");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("junk.pcap"), std::string::npos) << r.err;
  r = reel("import " + d + "/X");
  EXPECT_EQ(r.exit_code, 2) << r.err;
}

}  // namespace
}  // namespace reel
