// The replay server (`reel serve --replay`) and its clients, with real
// sockets and processes: history then live through `reel tail tcp://`; a
// read-only server beside a writer in another process; frames on the wire
// equal to the segment file's bytes; a server killed with SIGKILL and
// restarted while a Subscriber follows (no gap, no duplicate); 20
// subscribers at once; bad requests cost only their connection.
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "cli_util.h"
#include "reel/reel.h"
#include "reel/replay_generated.h"
#include "serve_util.h"
#include "test_util.h"

namespace reel {
namespace {

std::string url(int port) {
  return "tcp://127.0.0.1:" + std::to_string(port);
}
std::string addr(int port) {
  return "127.0.0.1:" + std::to_string(port);
}

void send_datagrams(int port, int from, int to) {
  sockaddr_in dst{};
  const int fd = udp_to(port, &dst);
  for (int i = from; i <= to; ++i) {
    const std::string p = testing::numbered("d", i);
    ASSERT_EQ(::sendto(fd, p.data(), p.size(), 0, reinterpret_cast<sockaddr*>(&dst), sizeof dst),
              static_cast<ssize_t>(p.size()));
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  ::close(fd);
}

TEST(CliReplayServer, RemoteTailShowsHistoryThenLive) {
  testing::TempDir dir;
  const std::string d = dir.path();
  Server server;
  start(&server, {"reel", "serve", d + "/S", "--udp", "127.0.0.1:0", "--replay", "127.0.0.1:0"},
        d + "/out", d + "/err");
  const int udp = server.port();
  const int rp = server.number_after("replay on port");
  ASSERT_GT(udp, 0);
  ASSERT_GT(rp, 0) << testing::read_all(d + "/err");
  send_datagrams(udp, 1, 50);
  Server tail;  // reel tail tcp:// -f, another process
  start(
      &tail,
      {REEL_BINARY, "tail", url(rp), "-f", "--from", "1", "--format", "payload", "--limit", "100"},
      d + "/tail.out", d + "/tail.err");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  send_datagrams(udp, 51, 100);
  EXPECT_EQ(testing::wait_child(tail.pid, std::chrono::seconds(30)), 0)
      << testing::read_all(d + "/tail.err");
  tail.pid = -1;
  std::string want;
  for (int i = 1; i <= 100; ++i) want += testing::numbered("d", i) + "\n";
  EXPECT_EQ(testing::read_all(d + "/tail.out"), want);
  ASSERT_EQ(server.interrupt(), 0);
  EXPECT_NE(testing::read_all(d + "/out").find("reel serve: replay: 1 subscribers"),
            std::string::npos);
}

// A store written by the library, served by a read-only `reel serve
// --replay` while a writer in another process keeps appending.
TEST(CliReplayServer, AReadOnlyServerBesideAWriterSendsTheSegmentFilesBytes) {
  testing::TempDir dir;
  const std::string d = dir.path();
  Server writer;
  start(&writer, {"reel", "serve", d + "/S", "--udp", "127.0.0.1:0", "--segment-size", "4MiB"},
        d + "/wout", d + "/werr");
  const int udp = writer.port();
  ASSERT_GT(udp, 0);
  send_datagrams(udp, 1, 500);
  Server replay;
  start(&replay, {"reel", "serve", d + "/S", "--replay", "127.0.0.1:0"}, d + "/rout", d + "/rerr");
  const int rp = replay.number_after("replay on port");
  ASSERT_GT(rp, 0) << testing::read_all(d + "/rerr");
  std::thread more([&] { send_datagrams(udp, 501, 1000); });
  SubscribeOptions o;
  o.from_seq = 1;
  o.to_seq = 500;
  auto sub = Subscriber::connect(addr(rp), o);
  ASSERT_TRUE(sub) << sub.status().to_string();
  std::string frames;
  RecordView v;
  uint64_t expect = 1;
  while ((*sub)->next(&v, std::chrono::seconds(10))) {
    ASSERT_EQ(v.seq(), expect++);
    ASSERT_EQ(v.payload(), testing::numbered("d", static_cast<int>(v.seq())));
    frames.append(reinterpret_cast<const char*>(v.frame().data()), v.frame().size());
  }
  more.join();
  ASSERT_TRUE((*sub)->status()) << (*sub)->status().to_string();
  EXPECT_TRUE((*sub)->done());
  EXPECT_EQ(expect, 501u);
  const std::string seg = testing::read_all(d + "/S/wal/00000000000000000001.seg");
  const size_t at = seg.find(frames.substr(0, 64));
  ASSERT_NE(at, std::string::npos);
  EXPECT_TRUE(seg.compare(at, frames.size(), frames) == 0) << "frames differ from the file";
  ASSERT_EQ(replay.interrupt(), 0);
  ASSERT_EQ(writer.interrupt(), 0) << "the writer was disturbed by the read-only server";
  EXPECT_NE(testing::read_all(d + "/wout").find("1000 records"), std::string::npos);
}

void build_store(const std::string& S, int records) {
  auto store = Store::open(S);
  ASSERT_TRUE(store);
  for (int i = 1; i <= records; ++i) {
    ASSERT_TRUE((*store)->append(i % 3 ? "a" : "b", testing::numbered("r", i)));
  }
  ASSERT_TRUE((*store)->close());
}

// D/S: `n` records "r<i>", every `b_every`-th in stream b and the others in
// a, `step_ns` apart from 2026-11-18T11:06:40Z; served read-only by `reel
// serve --replay` (its port; 0 when it did not start).
int serve_timed_store(Server* server, const std::string& d, int n, int b_every, uint64_t step_ns) {
  {
    auto store = Store::open(d + "/S");
    if (!store) return 0;
    for (int i = 1; i <= n; ++i) {
      AppendOptions ao;
      ao.ts_ns = 1'795'000'000'000'000'000ull + static_cast<uint64_t>(i) * step_ns;
      if (!(*store)->append(i % b_every ? "a" : "b", testing::numbered("r", i), ao)) return 0;
    }
    if (!(*store)->close()) return 0;
  }
  start(server, {"reel", "serve", d + "/S", "--replay", "127.0.0.1:0"}, d + "/out", d + "/err");
  return server->number_after("replay on port");
}

// Every read `reel cat` does on a store gives the same output from
// tcp://, the store served by `reel serve --replay`.
TEST(CliReplayServer, RemoteCatPrintsWhatLocalCatPrints) {
  testing::TempDir dir;
  const std::string d = dir.path();
  Server server;
  const int rp = serve_timed_store(&server, d, 300, 3, 1'000'000);
  ASSERT_GT(rp, 0) << testing::read_all(d + "/err");
  for (const std::string args :
       {"", " --from 17 --to 42", " --stream b", " --stream a --from 100 --limit 7",
        " --from 2026-11-18T11:06:40.050Z --to 2026-11-18T11:06:40.090Z",
        " --stream b --from 2026-11-18T11:06:40.100Z --format payload", " --format hex --to 5",
        " --from 290 --to 1000 --format payload"}) {
    const CliRun local = reel("cat " + d + "/S" + args);
    const CliRun remote = reel("cat " + url(rp) + args);
    ASSERT_EQ(local.exit_code, 0) << args << ": " << local.err;
    EXPECT_EQ(remote.exit_code, 0) << args << ": " << remote.err;
    EXPECT_GT(count_lines(local.out), 0) << args;
    EXPECT_EQ(remote.out, local.out) << args;
  }
  for (const std::string empty : {" --to 0", " --from 9 --to 3", " --from 0 --to 0"}) {
    const CliRun r = reel("cat " + url(rp) + empty);
    EXPECT_EQ(r.exit_code, 0) << empty << ": " << r.err;
    EXPECT_EQ(r.out, reel("cat " + d + "/S" + empty).out) << empty;
  }
  const CliRun unknown = reel("cat " + url(rp) + " --stream nope");
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("no stream 'nope'"), std::string::npos) << unknown.err;
  ASSERT_EQ(server.interrupt(), 0);
}

// reel replay from tcp:// gives what it gives from the store (records
// stored in time order: seq order is time order), to stdout and to pcap
// (compared byte for byte), paced or flat out; per-stream outputs use the
// stream names the server sends.
TEST(CliReplayServer, RemoteReplayGivesWhatLocalReplayGives) {
  testing::TempDir dir;
  const std::string d = dir.path();
  Server server;
  const int rp = serve_timed_store(&server, d, 400, 4, 100'000);
  ASSERT_GT(rp, 0) << testing::read_all(d + "/err");
  for (const std::string args :
       {" --out - --max --format json", " --out b=- --max",
        " --out - --speed 20 --from 50 --to 120", " --out - --max --stream b --stream a --loop 2",
        " --out - --max --from 2026-11-18T11:06:40.010Z --to 2026-11-18T11:06:40.020Z"}) {
    const CliRun local = reel("replay " + d + "/S" + args);
    const CliRun remote = reel("replay " + url(rp) + args);
    ASSERT_EQ(local.exit_code, 0) << args << ": " << local.err;
    EXPECT_EQ(remote.exit_code, 0) << args << ": " << remote.err;
    EXPECT_GT(count_lines(local.out), 0) << args;
    EXPECT_EQ(remote.out, local.out) << args;
  }
  ASSERT_EQ(
      reel("replay " + d + "/S --max --out pcap:" + d + "/local.pcap?dst=10.0.0.1:5000").exit_code,
      0);
  const CliRun remote =
      reel("replay " + url(rp) + " --max --out pcap:" + d + "/remote.pcap?dst=10.0.0.1:5000");
  ASSERT_EQ(remote.exit_code, 0) << remote.err;
  const std::string local_pcap = testing::read_all(d + "/local.pcap");
  EXPECT_GT(local_pcap.size(), 400u * 16);
  EXPECT_TRUE(testing::read_all(d + "/remote.pcap") == local_pcap) << "the pcaps differ";
  for (const std::string empty : {" --to 0", " --from 0 --to 0", " --from 9 --to 3"}) {
    const CliRun local = reel("replay " + d + "/S --max --out -" + empty);
    const CliRun r = reel("replay " + url(rp) + " --max --out -" + empty);
    EXPECT_EQ(r.exit_code, local.exit_code) << empty << ": " << r.err;
    EXPECT_EQ(r.out, "") << empty;
  }
  const CliRun unknown = reel("replay " + url(rp) + " --max --out nope=-");
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("no stream 'nope'"), std::string::npos) << unknown.err;
  ASSERT_EQ(server.interrupt(), 0);
}

TEST(CliReplayServer, AFollowerResumesWithNoGapAfterTheServerIsKilledAndRestarted) {
  testing::TempDir dir;
  const std::string d = dir.path();
  build_store(d + "/S", 50'000);
  Server first;
  start(&first, {"reel", "serve", d + "/S", "--replay", "127.0.0.1:0"}, d + "/o1", d + "/e1");
  const int rp = first.number_after("replay on port");
  ASSERT_GT(rp, 0) << testing::read_all(d + "/e1");
  SubscribeOptions o;
  o.from_seq = 1;
  o.follow = true;
  auto sub = Subscriber::connect(addr(rp), o);
  ASSERT_TRUE(sub) << sub.status().to_string();
  RecordView v;
  uint64_t expect = 1;
  Server second;
  // The first server may have sent all 50,000 before it dies (the socket
  // buffers hold them): records appended after its death can only come
  // from the second, so the follower must reconnect to see them.
  while (expect <= 50'100) {
    ASSERT_TRUE((*sub)->next(&v, std::chrono::seconds(30)))
        << "stuck after seq " << expect - 1 << ": " << (*sub)->status().to_string();
    ASSERT_EQ(v.seq(), expect) << "a gap or a duplicate";
    ASSERT_EQ(v.payload(), testing::numbered("r", static_cast<int>(expect)));
    if (expect == 1000) {
      ::kill(first.pid, SIGKILL);
      ::waitpid(first.pid, nullptr, 0);
      first.pid = -1;
      std::string more;
      for (int i = 50'001; i <= 50'100; ++i) more += testing::numbered("r", i) + "\n";
      const CliRun appended = reel("append " + d + "/S --stream a", more);
      ASSERT_EQ(appended.exit_code, 0) << appended.err;
      start(&second, {"reel", "serve", d + "/S", "--replay", addr(rp)}, d + "/o2", d + "/e2");
      ASSERT_EQ(second.number_after("replay on port"), rp) << testing::read_all(d + "/e2");
    }
    ++expect;
  }
  EXPECT_GE((*sub)->reconnects(), 1u);
  ASSERT_EQ(second.interrupt(), 0);
}

TEST(CliReplayServer, TwentySubscribersGetTheirRangesAndBadRequestsCostOnlyThemselves) {
  testing::TempDir dir;
  const std::string d = dir.path();
  build_store(d + "/S", 20'000);
  Server server;
  start(&server, {"reel", "serve", d + "/S", "--replay", "127.0.0.1:0"}, d + "/out", d + "/err");
  const int rp = server.number_after("replay on port");
  ASSERT_GT(rp, 0);
  // Hostile clients first: garbage, an oversize request, silence.
  const int garbage = connect_to(rp);
  ASSERT_EQ(::send(garbage, "\x10\x00\x00\x00not a flatbuffer", 20, MSG_NOSIGNAL), 20);
  const int oversize = connect_to(rp);
  ASSERT_EQ(::send(oversize, "\xff\xff\xff\x00", 4, MSG_NOSIGNAL), 4);
  const int silent = connect_to(rp);
  SubscribeOptions bad;
  bad.streams = {"nope"};
  auto refused = Subscriber::connect(addr(rp), bad);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.status().message().find("no stream 'nope'"), std::string::npos)
      << refused.status().to_string();
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int k = 0; k < 20; ++k) {
    threads.emplace_back([&, k] {
      SubscribeOptions o;
      o.from_seq = 1 + static_cast<uint64_t>(k) * 900;
      o.to_seq = o.from_seq + 1000 + static_cast<uint64_t>(k);
      if (k % 2) o.streams = {"a"};
      auto sub = Subscriber::connect(addr(rp), o);
      if (!sub) return;
      RecordView v;
      uint64_t expect = o.from_seq, n = 0;
      while ((*sub)->next(&v, std::chrono::seconds(30))) {
        if (k % 2) {
          while (expect % 3 == 0) ++expect;  // stream "a" skips every third seq
        }
        if (v.seq() != expect) return;
        ++expect;
        ++n;
      }
      if (k % 2) {
        while (expect % 3 == 0) ++expect;  // the next "a" record is past the range
      }
      if ((*sub)->done() && (*sub)->status() && expect > o.to_seq && n > 0) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 20);
  // The garbage client got an error header, then the server's close.
  const timeval five{5, 0};
  ::setsockopt(garbage, SOL_SOCKET, SO_RCVTIMEO, &five, sizeof five);
  char buf[512];
  ssize_t n = 0;
  while ((n = ::recv(garbage, buf, sizeof buf, 0)) > 0) {
  }
  EXPECT_EQ(n, 0) << "the server did not close a client that sent garbage";
  ::close(garbage);
  ::close(oversize);
  ::close(silent);
  ASSERT_EQ(server.interrupt(), 0);
  const std::string out = testing::read_all(d + "/out");
  EXPECT_NE(out.find("bad requests"), std::string::npos) << out;
}

// A follow never reaches an end time: the request is refused, saying why.
TEST(CliReplayServer, AnEndTimeWithFollowIsRefused) {
  testing::TempDir dir;
  const std::string d = dir.path();
  build_store(d + "/S", 10);
  Server server;
  start(&server, {"reel", "serve", d + "/S", "--replay", "127.0.0.1:0"}, d + "/o", d + "/e");
  const int rp = server.number_after("replay on port");
  ASSERT_GT(rp, 0);
  SubscribeOptions o;
  o.follow = true;
  o.to_ts_ns = 5;
  auto refused = Subscriber::connect(addr(rp), o);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.status().message().find("to_ts_ns with follow"), std::string::npos)
      << refused.status().to_string();
  ASSERT_EQ(server.interrupt(), 0);
}

// A follower whose server dies while another store's server takes its port
// must not resume there: it stops, naming the reason, and gets no record.
TEST(CliReplayServer, AFollowerDoesNotResumeOnAnotherStore) {
  testing::TempDir dir;
  const std::string d = dir.path();
  build_store(d + "/S1", 100);
  build_store(d + "/S2", 100);
  Server first;
  start(&first, {"reel", "serve", d + "/S1", "--replay", "127.0.0.1:0"}, d + "/o1", d + "/e1");
  const int rp = first.number_after("replay on port");
  ASSERT_GT(rp, 0);
  SubscribeOptions o;
  o.follow = true;
  o.from_seq = 1;
  auto sub = Subscriber::connect(addr(rp), o);
  ASSERT_TRUE(sub);
  RecordView v;
  for (int i = 0; i < 100; ++i) ASSERT_TRUE((*sub)->next(&v, std::chrono::seconds(10)));
  ::kill(first.pid, SIGKILL);
  ::waitpid(first.pid, nullptr, 0);
  first.pid = -1;
  Server other;
  start(&other, {"reel", "serve", d + "/S2", "--replay", addr(rp)}, d + "/o2", d + "/e2");
  ASSERT_EQ(other.number_after("replay on port"), rp);
  // Until the follower gives up (the 60 s deadline only ends a hung test).
  bool got = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while ((*sub)->status() && std::chrono::steady_clock::now() < deadline) {
    got |= (*sub)->next(&v, std::chrono::milliseconds(200));
  }
  EXPECT_FALSE(got) << "resumed on another store at seq " << v.seq();
  EXPECT_NE((*sub)->status().message().find("now serves another store"), std::string::npos)
      << (*sub)->status().to_string();
  ASSERT_EQ(other.interrupt(), 0);
}

// A server that answers the request, then goes silent without closing (a
// dead host): the subscriber must give up on it and connect again.
TEST(CliReplayServer, ASilentServerIsLeftAndConnectedAgain) {
  uint16_t port = 0;
  const int lfd = listen_loopback(&port);
  ASSERT_GE(lfd, 0);
  std::atomic<int> accepted{0};
  std::vector<int> held;
  std::thread fake([&] {
    for (;;) {
      pollfd p{lfd, POLLIN, 0};
      if (::poll(&p, 1, 9000) <= 0) return;
      const int fd = ::accept(lfd, nullptr, nullptr);
      if (fd < 0) return;
      ++accepted;
      held.push_back(fd);
      char req[4096];
      (void)::recv(fd, req, sizeof req, 0);
      flatbuffers::FlatBufferBuilder b;
      fb::ReplayHeaderBuilder h(b);
      h.add_version(1);
      h.add_store_id(42);
      b.Finish(h.Finish());
      std::string msg(4, '\0');
      for (int i = 0; i < 4; ++i) msg[i] = static_cast<char>(b.GetSize() >> (8 * i));
      msg.append(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
      (void)::send(fd, msg.data(), msg.size(), MSG_NOSIGNAL);  // then nothing, ever
      if (accepted.load() >= 2) return;
    }
  });
  SubscribeOptions o;
  o.follow = true;
  auto sub = Subscriber::connect("127.0.0.1:" + std::to_string(port), o);
  ASSERT_TRUE(sub) << sub.status().to_string();
  RecordView v;
  const auto t0 = std::chrono::steady_clock::now();
  while (accepted.load() < 2 && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(9)) {
    EXPECT_FALSE((*sub)->next(&v, std::chrono::milliseconds(200)));
  }
  EXPECT_GE(accepted.load(), 2) << "the subscriber stayed on a silent connection";
  fake.join();
  for (int fd : held) ::close(fd);
  ::close(lfd);
}

}  // namespace
}  // namespace reel
