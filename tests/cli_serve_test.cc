// `reel serve` with real sockets: a small sender and socat send datagrams
// to a running server, SIGINT stops it, and every datagram must come back
// from the store byte for byte, with its source seq and a kernel receive
// time inside the sending window.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "cli_util.h"
#include "reel/reel.h"
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

// A running `reel serve`, its stderr in a file.
struct Server {
  pid_t pid = -1;
  std::string err_path;
  ~Server() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
  // Waits for the "listening on port N" line and returns N (0 on timeout).
  int port() const {
    const std::regex re("listening on port ([0-9]+)");
    for (int i = 0; i < 500; ++i) {
      std::smatch m;
      const std::string err = testing::read_all(err_path);
      if (std::regex_search(err, m, re)) return std::stoi(m[1]);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return 0;
  }
};

void start(Server* s, const std::vector<std::string>& argv, const std::string& out,
           const std::string& err) {
  s->err_path = err;
  s->pid = ::fork();
  ASSERT_GE(s->pid, 0);
  if (s->pid == 0) {
    freopen(out.c_str(), "w", stdout);
    freopen(err.c_str(), "w", stderr);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(REEL_BINARY, args.data());
    _exit(127);
  }
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

  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(port));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
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
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  ASSERT_EQ(::kill(server.pid, SIGINT), 0);
  ASSERT_EQ(testing::wait_child(server.pid, std::chrono::seconds(30)), 0)
      << testing::read_all(dir.path() + "/err");
  server.pid = -1;
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

}  // namespace
}  // namespace reel
