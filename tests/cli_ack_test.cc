// Acknowledged producers against a real `reel serve`: reel::Publisher and
// `reel append --to` get acks that never claim more than the store holds
// (checked by a reader beside the live server and after a SIGKILL), a
// server that dies mid-stream is an error for the producer, and the idle
// timeout closes a silent client.
#include <poll.h>

#include <cstdio>
#include <random>
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

std::string random_payload(std::mt19937_64& rng) {
  std::string p(rng() % 2000, '\0');
  for (auto& c : p) c = static_cast<char>(rng());
  return p;
}

std::string addr(int port) {
  return "127.0.0.1:" + std::to_string(port);
}

// Every record in `sent` is at seqs 1.. of S, byte for byte.
void expect_records(const std::string& S, const std::vector<std::string>& sent, size_t count) {
  auto reader = Reader::open(S);
  ASSERT_TRUE(reader) << reader.status().to_string();
  for (size_t i = 0; i < count; ++i) {
    auto v = (*reader)->get(i + 1);
    ASSERT_TRUE(v) << "record " << i + 1 << ": " << v.status().to_string();
    ASSERT_EQ(v->payload(), sent[i]) << "record " << i + 1;
  }
}

// Each level's acknowledgements follow the store's own progress (durable:
// the sync policy's syncs).
TEST(CliAck, PublisherIsAcknowledgedOnlyForWhatTheStoreHolds) {
  const uint64_t seed = testing::test_seed();
  std::mt19937_64 rng(seed);
  testing::TempDir dir;
  const std::string S = dir.path() + "/S";
  Server server;
  start(&server, {"reel", "serve", S, "--tcp", "127.0.0.1:0", "--sync", "interval:20ms"},
        dir.path() + "/out", dir.path() + "/err");
  const int port = server.port();
  ASSERT_GT(port, 0) << testing::read_all(dir.path() + "/err");

  std::vector<std::string> sent;
  for (Level level : {Level::kWritten, Level::kIndexed, Level::kDurable}) {
    Publisher::Options o;
    o.level = level;
    o.buffer_bytes = 1 + rng() % 20000;
    auto pub = Publisher::connect(addr(port), o);
    ASSERT_TRUE(pub) << pub.status().to_string();
    for (int i = 0; i < 3000; ++i) {
      sent.push_back(random_payload(rng));
      ASSERT_TRUE((*pub)->publish(sent.back()));
      if (rng() % 500 == 0) {
        ASSERT_TRUE((*pub)->flush());
      }
    }
    Status s = (*pub)->flush(std::chrono::seconds(30));
    ASSERT_TRUE(s) << s.to_string();
    EXPECT_EQ((*pub)->acknowledged(), 3000u);
    EXPECT_EQ((*pub)->last_acknowledged_seq(), sent.size());
    // Beside the live server: the acknowledged level is really reached.
    auto reader = Reader::open(S);
    ASSERT_TRUE(reader);
    const Watermarks w = (*reader)->watermarks();
    const uint64_t reached = level == Level::kWritten   ? w.written_seq
                             : level == Level::kIndexed ? w.indexed_seq
                                                        : w.durable_seq;
    EXPECT_GE(reached, sent.size()) << "level " << static_cast<int>(level);
    ASSERT_TRUE((*pub)->close(std::chrono::seconds(30)));
    expect_records(S, sent, sent.size());
  }
  ASSERT_EQ(server.interrupt(), 0) << testing::read_all(dir.path() + "/err");
  const std::string out = testing::read_all(dir.path() + "/out");
  EXPECT_NE(out.find("9000 records"), std::string::npos) << out;
  EXPECT_NE(out.find("3 acknowledged"), std::string::npos) << out;
}

TEST(CliAck, ReelAppendToWaitsForEveryAckAndFailsWhenTheServerDies) {
  testing::TempDir dir;
  const std::string S = dir.path() + "/S";
  Server server;
  start(&server, {"reel", "serve", S, "--tcp", "127.0.0.1:0,stream=orders"}, dir.path() + "/out",
        dir.path() + "/err");
  const int port = server.port();
  ASSERT_GT(port, 0);
  CliRun r = reel("append --to " + addr(port), lines(1, 5000));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "5000\n");
  EXPECT_NE(r.err.find("5000 records acknowledged (durable)"), std::string::npos) << r.err;
  auto reader = Reader::open(S);
  ASSERT_TRUE(reader);
  EXPECT_GE((*reader)->watermarks().durable_seq, 5000u);
  auto v = (*reader)->get(4321);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->payload(), "4321");

  r = reel("append --to 127.0.0.1:1", "x\n");  // nobody listens
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("127.0.0.1:1"), std::string::npos) << r.err;
  r = reel("append S --to " + addr(port), "x\n");
  EXPECT_EQ(r.exit_code, 2) << r.err;

  // The server dies while a publisher streams: the publisher fails, and
  // every record it had acknowledged is in the store.
  std::mt19937_64 rng(testing::test_seed());
  std::vector<std::string> sent;
  auto pub = Publisher::connect(addr(port));
  ASSERT_TRUE(pub);
  Status s;
  for (int i = 0; s && i < 2000000; ++i) {
    sent.push_back(random_payload(rng));
    s = (*pub)->publish(sent.back());
    if (i == 20000) {
      ASSERT_TRUE((*pub)->flush(std::chrono::seconds(30)));
      ::kill(server.pid, SIGKILL);
    }
  }
  if (s) s = (*pub)->flush(std::chrono::seconds(30));
  ASSERT_FALSE(s) << "the server was killed, yet every record was acknowledged";
  EXPECT_EQ(s.code(), Code::kFailed) << s.to_string();
  EXPECT_NE(s.message().find("records acknowledged"), std::string::npos) << s.message();
  const uint64_t acked = (*pub)->acknowledged();
  EXPECT_GE(acked, 20001u);
  ::waitpid(server.pid, nullptr, 0);
  server.pid = -1;
  // seqs 1..5000 are the lines; the publisher's records follow.
  auto after = Reader::open(S);
  ASSERT_TRUE(after);
  for (uint64_t i = 0; i < acked; ++i) {
    auto rec = (*after)->get(5001 + i);
    ASSERT_TRUE(rec) << "acknowledged record " << i + 1 << " is missing";
    ASSERT_EQ(rec->payload(), sent[i]) << "acknowledged record " << i + 1;
  }
}

TEST(CliAck, SilentClientsTimeOutAndABadRecordEndsOnlyItsPublisher) {
  testing::TempDir dir;
  const std::string S = dir.path() + "/S";
  Server server;
  start(&server,
        {"reel", "serve", S, "--tcp", "127.0.0.1:0", "--idle-timeout", "300ms", "--max-record",
         "1KiB"},
        dir.path() + "/out", dir.path() + "/err");
  const int port = server.port();
  ASSERT_GT(port, 0);
  const int silent = connect_to(port);
  ASSERT_GE(silent, 0);
  pollfd p{silent, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 10000), 1) << "the idle connection was not closed";
  char byte;
  EXPECT_LE(::recv(silent, &byte, 1, 0), 0);
  ::close(silent);

  auto pub = Publisher::connect(addr(port));
  ASSERT_TRUE(pub);
  ASSERT_TRUE((*pub)->publish("fits"));
  ASSERT_TRUE((*pub)->flush(std::chrono::seconds(30)));
  ASSERT_TRUE((*pub)->publish(std::string(2000, 'x')));
  Status s = (*pub)->flush(std::chrono::seconds(30));
  EXPECT_EQ(s.code(), Code::kFailed) << s.to_string();
  EXPECT_EQ((*pub)->acknowledged(), 1u);

  ASSERT_EQ(server.interrupt(), 0);
  const std::string out = testing::read_all(dir.path() + "/out");
  EXPECT_NE(out.find("1 idle closed"), std::string::npos) << out;
  EXPECT_NE(out.find("1 framing errors"), std::string::npos) << out;
  EXPECT_NE(testing::read_all(dir.path() + "/err").find("idle for longer than --idle-timeout"),
            std::string::npos);
}

std::string le32(uint32_t v) {
  std::string s(4, '\0');
  for (int i = 0; i < 4; ++i) s[i] = static_cast<char>(v >> (8 * i));
  return s;
}

// Established server-side connections on `port` (ss from iproute2).
int established_on(int port) {
  const std::string cmd =
      "ss -Htn state established '( sport = :" + std::to_string(port) + " )' | wc -l";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return -1;
  int n = -1;
  if (std::fscanf(p, "%d", &n) != 1) n = -1;
  ::pclose(p);
  return n;
}

// Waits until the server holds no connection on `port`; false after 30 s
// (that deadline only ends a hung test).
bool server_closed_every_connection(int port) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (established_on(port) != 0) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

struct IdleServer {
  testing::TempDir dir;
  std::string S = dir.path() + "/S";
  Server server;
  int port = 0;
  IdleServer() {
    start(&server, {"reel", "serve", S, "--tcp", "127.0.0.1:0", "--idle-timeout", "400ms"},
          dir.path() + "/out", dir.path() + "/err");
    port = server.port();
  }
};

// The four bytes read to look for a hello are a record's length when they
// are not one: an empty first record on a connection without a hello is
// kept, and so is the record after it.
TEST(CliAck, AnEmptyFirstRecordWithoutAHelloIsKept) {
  IdleServer s;
  ASSERT_GT(s.port, 0);
  std::mt19937_64 rng(1);
  const int fd = connect_to(s.port);
  ASSERT_GE(fd, 0);
  send_all(fd, le32(0) + le32(3) + "abc", rng);
  ::close(fd);
  ASSERT_TRUE(server_closed_every_connection(s.port));
  ASSERT_EQ(s.server.interrupt(), 0);
  auto reader = Reader::open(s.S);
  ASSERT_TRUE(reader) << reader.status().to_string();
  EXPECT_EQ((*reader)->get(1)->payload(), "");
  EXPECT_EQ((*reader)->get(2)->payload(), "abc");
}

// `reel append --to` sends what it has when its stdin pauses: the first
// line is in the store while the second has not been written yet (the pipe
// waits for a file that the test creates only once it saw the first).
TEST(CliAck, AppendToSendsWhatItHasWhileStdinPauses) {
  IdleServer s;
  ASSERT_GT(s.port, 0);
  const std::string go = s.dir.path() + "/go";
  const std::string cmd = "(echo first; while [ ! -e " + go + " ]; do sleep 0.05; done; " +
                          "echo second) | " + std::string(REEL_BINARY) + " append --to " +
                          addr(s.port) + " > " + s.dir.path() + "/append.out 2>&1";
  std::thread slow([&] { (void)std::system(cmd.c_str()); });
  bool seen = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!seen && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    auto r = Reader::open(s.S);
    if (r && (*r)->get(1)) seen = (*r)->get(1)->payload() == "first";
  }
  testing::write_all(go, "");
  slow.join();
  EXPECT_TRUE(seen) << "a record stayed in reel append's buffer while stdin paused";
  EXPECT_NE(testing::read_all(s.dir.path() + "/append.out").find("2 records acknowledged"),
            std::string::npos)
      << testing::read_all(s.dir.path() + "/append.out");
  ASSERT_EQ(s.server.interrupt(), 0);
}

// Every record acknowledged, then the server closes the idle connection:
// nothing is owed, so flush() succeeds; a record after it fails.
TEST(CliAck, APublisherOwedNothingFlushesAfterTheIdleClose) {
  IdleServer s;
  ASSERT_GT(s.port, 0);
  auto pub = Publisher::connect(addr(s.port));
  ASSERT_TRUE(pub);
  ASSERT_TRUE((*pub)->publish("one"));
  ASSERT_TRUE((*pub)->flush(std::chrono::seconds(10)));
  ASSERT_TRUE(server_closed_every_connection(s.port)) << "the idle timeout never closed it";
  EXPECT_TRUE((*pub)->flush(std::chrono::seconds(10))) << "nothing was owed";
  ASSERT_TRUE((*pub)->publish("two"));
  EXPECT_EQ((*pub)->flush(std::chrono::seconds(10)).code(), Code::kFailed);
  ASSERT_EQ(s.server.interrupt(), 0);
}

// A client that asks for acks, reads none and half-closes is not held open
// for ever: the server closes it, and says so when it stops.
TEST(CliAck, AClientThatReadsNoAcksAndHalfClosesIsClosed) {
  IdleServer s;
  ASSERT_GT(s.port, 0);
  std::mt19937_64 rng(1);
  const int fd = connect_to(s.port);
  ASSERT_GE(fd, 0);
  const int tiny = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &tiny, sizeof tiny);
  send_all(fd, le32(0xFFFFFF01u), rng);
  for (int i = 0; i < 5000; ++i) {  // one ack each: more than both buffers hold
    send_all(fd, le32(1) + "r", rng);
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  ::shutdown(fd, SHUT_WR);
  EXPECT_TRUE(server_closed_every_connection(s.port)) << "the connection is held open";
  ASSERT_EQ(s.server.interrupt(), 0);
  ::close(fd);
  const std::string out = testing::read_all(s.dir.path() + "/out");
  EXPECT_NE(out.find("(0 open"), std::string::npos) << out;
}

}  // namespace
}  // namespace reel
