// `reel serve` against hostile clients: each test runs an attack from a
// client of its own beside an honest client, and checks that the honest
// client got every record it sent or asked for and that serve still runs
// and answers.
#include <arpa/inet.h>
#include <poll.h>
#include <sys/resource.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "cli_util.h"
#include "reel/reel.h"
#include "reel/replay_generated.h"
#include "serve_util.h"
#include "test_util.h"
#include "util/coding.h"
#include "wire/replay_wire.h"

namespace reel {
namespace {

using namespace std::chrono_literals;

// Publishes `count` records of `bytes` each at the durable level and waits
// for every acknowledgement; "" on success, else what failed.
std::string publish_acked(int port, int count, size_t bytes, const std::string& tag) {
  Publisher::Options po;
  po.level = Level::kDurable;
  auto pub = Publisher::connect("127.0.0.1:" + std::to_string(port), po);
  if (!pub) return "connect: " + pub.status().to_string();
  for (int i = 0; i < count; ++i) {
    std::string payload = testing::numbered(tag, static_cast<uint64_t>(i));
    payload.resize(std::max(bytes, payload.size()), '.');
    if (Status s = (*pub)->publish(payload); !s) return "publish: " + s.to_string();
  }
  if (Status s = (*pub)->close(60s); !s) return "close: " + s.to_string();
  if ((*pub)->acknowledged() != static_cast<uint64_t>(count)) return "not every record acked";
  return "";
}

// The payloads of `stream` in the store, in seq order.
std::vector<std::string> payloads(const std::string& store, const std::string& stream) {
  std::vector<std::string> out;
  auto reader = Reader::open(store);
  if (!reader) return out;
  auto id = (*reader)->stream_id(stream);
  if (!id || !*id) return out;
  Cursor c = (*reader)->range(1);
  RecordView v;
  while (c.next(&v)) {
    if (v.stream() == **id) out.emplace_back(v.payload());
  }
  return out;
}

// A record limit that does not fit the ring is refused at start, in one
// line naming both values, instead of failing at the first such record
// (which used to end serve).
TEST(ServeAttack, ARecordLimitTheRingCannotTakeIsRefusedAtStart) {
  testing::TempDir dir;
  auto r = reel("serve " + dir.path() + "/S --tcp 127.0.0.1:0 --max-record 40MiB");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("--max-record 40MiB does not fit --segment-size 1GiB: the largest record "
                       "that fits is 335"),
            std::string::npos)
      << r.err;
  r = reel("serve " + dir.path() + "/S --tcp 127.0.0.1:0 --segment-size 1MiB --max-record 1MiB");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("the largest record that fits is 52"), std::string::npos) << r.err;
  r = reel("append " + dir.path() + "/A --segment-size 64KiB --max-record 64KiB", "x\n");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("does not fit --segment-size 64KiB"), std::string::npos) << r.err;
}

// A 40 MiB record on one connection (over --max-record) closes that
// connection; an honest producer beside it gets every record acknowledged.
TEST(ServeAttack, AnOversizeRecordCostsOnlyItsOwnConnection) {
  testing::TempDir dir;
  const std::string d = dir.path();
  Server server;
  start(&server,
        {"reel", "serve", d + "/S", "--tcp", "127.0.0.1:0,stream=in", "--max-record", "1MiB"},
        d + "/out", d + "/err");
  const int port = server.port();
  ASSERT_GT(port, 0) << testing::read_all(d + "/err");
  std::string honest;
  std::thread producer([&] { honest = publish_acked(port, 2000, 100, "honest "); });
  const int attacker = connect_to(port);
  ASSERT_GE(attacker, 0);
  std::string big(4 + (2 << 20), 'x');
  const uint32_t len = 40u << 20;
  encode_fixed32(reinterpret_cast<uint8_t*>(big.data()), len);   // lp: u32 LE, 40 MiB announced
  (void)::send(attacker, big.data(), big.size(), MSG_NOSIGNAL);  // cut off part-way
  producer.join();
  ::close(attacker);
  EXPECT_EQ(honest, "");
  EXPECT_EQ(publish_acked(port, 10, 100, "after "), "") << "serve no longer answers";
  ASSERT_EQ(server.interrupt(), 0) << testing::read_all(d + "/err");
  EXPECT_NE(testing::read_all(d + "/out").find("1 framing errors"), std::string::npos);
  const auto got = payloads(d + "/S", "in");
  ASSERT_EQ(got.size(), 2010u);
  for (int i = 0; i < 2000; ++i) {
    ASSERT_EQ(got[i].substr(0, 7 + std::to_string(i).size()), testing::numbered("honest ", i));
  }
}

// 1,100 idle connections against serve under a 1,024 descriptor limit, then
// an honest producer sends 60 records of 60 KB into 1 MiB segments (each
// roll opens files): --max-connections is sized under the limit, new
// connections displace the idle ones, the store never runs out of
// descriptors, and every record is acknowledged durable.
TEST(ServeAttack, ElevenHundredIdleConnectionsUnderADescriptorLimit) {
  rlimit mine{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &mine), 0);
  if (mine.rlim_max < 2000) GTEST_SKIP() << "needs 2000 descriptors for the attacker";
  rlimit raised = mine;
  raised.rlim_cur = mine.rlim_max;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &raised), 0);
  testing::TempDir dir;
  const std::string d = dir.path();
  Server server;
  start_program(&server, "/usr/bin/prlimit",
                {"prlimit", "--nofile=1024:1024", REEL_BINARY, "serve", d + "/S", "--tcp",
                 "127.0.0.1:0,stream=in", "--segment-size", "1MiB", "--sync", "always"},
                d + "/out", d + "/err");
  const int port = server.port();
  ASSERT_GT(port, 0) << testing::read_all(d + "/err");
  EXPECT_NE(testing::read_all(d + "/err").find("--max-connections 1024 lowered to 960"),
            std::string::npos)
      << testing::read_all(d + "/err");
  std::vector<int> idle;
  for (int i = 0; i < 1100; ++i) {
    const int fd = connect_to(port);
    if (fd >= 0) idle.push_back(fd);
  }
  EXPECT_GE(idle.size(), 1000u);
  // Past the limit only a connection quiet for a second gives way: the
  // producer may be refused until the idle ones are that old (nothing of its
  // is stored then), so it tries again; the deadline only ends a hung test.
  std::string honest = "not tried";
  const auto give_up = std::chrono::steady_clock::now() + 60s;
  while (!honest.empty() && std::chrono::steady_clock::now() < give_up) {
    honest = publish_acked(port, 60, 60'000, "big ");
    if (!honest.empty()) std::this_thread::sleep_for(200ms);
  }
  EXPECT_EQ(honest, "") << testing::read_all(d + "/err");
  EXPECT_EQ(publish_acked(port, 5, 100, "after "), "") << "serve no longer answers";
  for (int fd : idle) ::close(fd);
  ASSERT_EQ(server.interrupt(), 0) << testing::read_all(d + "/err");
  const auto got = payloads(d + "/S", "in");
  ASSERT_EQ(got.size(), 65u);
  for (int i = 0; i < 60; ++i) {
    EXPECT_EQ(got[i].size(), 60'000u);
    EXPECT_EQ(got[i].rfind(testing::numbered("big ", i), 0), 0u) << i;
  }
  EXPECT_NE(testing::read_all(d + "/err").find("idle longest of 960 connections"),
            std::string::npos);
}

// The number after `name ` in a metrics page (0 when absent).
uint64_t metric(const std::string& page, const std::string& name) {
  const size_t at = page.find("\n" + name + " ");
  return at == std::string::npos ? 0 : std::stoull(page.substr(at + name.size() + 2));
}

// A thousand producers asking for durable acknowledgements cost no more
// fdatasyncs than the sync policy's own (one per interval at most), and an
// honest producer beside them gets every record acknowledged.
TEST(ServeAttack, AThousandDurableProducersCostNoSyncBeyondThePolicys) {
  testing::TempDir dir;
  const std::string d = dir.path();
  Server server;
  const auto started = std::chrono::steady_clock::now();
  start(&server,
        {"reel", "serve", d + "/S", "--tcp", "127.0.0.1:0,stream=in", "--sync", "interval:100ms",
         "--metrics", "127.0.0.1:0"},
        d + "/out", d + "/err");
  const int port = server.port();
  const int mport = server.number_after("metrics on port");
  ASSERT_GT(port, 0);
  ASSERT_GT(mport, 0);
  std::string honest;
  std::thread producer([&] { honest = publish_acked(port, 500, 100, "honest "); });
  std::vector<std::thread> flood;
  std::atomic<int> acked{0};
  for (int t = 0; t < 8; ++t) {
    flood.emplace_back([&, t] {
      for (int i = 0; i < 125; ++i) {
        if (publish_acked(port, 1, 10, "flood " + std::to_string(t) + " ").empty()) ++acked;
      }
    });
  }
  for (auto& t : flood) t.join();
  producer.join();
  EXPECT_EQ(honest, "");
  EXPECT_EQ(acked.load(), 1000);
  std::this_thread::sleep_for(700ms);  // a metrics refresh
  const std::string page = scrape(mport, "/metrics", d + "/m");
  const auto elapsed = std::chrono::steady_clock::now() - started;
  const uint64_t syncs = metric(page, "reel_wal_syncs_total");
  const uint64_t intervals = static_cast<uint64_t>(elapsed / 100ms);
  std::printf("%llu fdatasyncs in %llu intervals of 100 ms\n",
              static_cast<unsigned long long>(syncs), static_cast<unsigned long long>(intervals));
  EXPECT_GT(syncs, 0u) << page;
  EXPECT_LE(syncs, intervals + 2) << page;
  ASSERT_EQ(server.interrupt(), 0);
  EXPECT_EQ(payloads(d + "/S", "in").size(), 1500u);
}

// Under --sync none nothing would ever be acknowledged as durable: such a
// producer is refused with the reason (reel append --to prints it in one
// line), and one asking for written beside it is served.
TEST(ServeAttack, ADurableProducerIsRefusedWithAReasonUnderSyncNone) {
  testing::TempDir dir;
  const std::string d = dir.path();
  Server server;
  start(&server, {"reel", "serve", d + "/S", "--tcp", "127.0.0.1:0,stream=in", "--sync", "none"},
        d + "/out", d + "/err");
  const int port = server.port();
  ASSERT_GT(port, 0);
  const std::string to = " --to 127.0.0.1:" + std::to_string(port);
  auto r = reel("append" + to + " --ack durable", lines(1, 100));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("refused by the server: this server's store never syncs on its own "
                       "(--sync none)"),
            std::string::npos)
      << r.err;
  r = reel("append" + to + " --ack written", lines(1, 100));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(server.interrupt(), 0);
  EXPECT_EQ(payloads(d + "/S", "in").size(), 100u);
  EXPECT_NE(testing::read_all(d + "/err").find("refused: this server's store never syncs"),
            std::string::npos);
}

// Clients that trickle a request a byte at a time, and more silent ones
// than the metrics port has slots: a scrape beside them is answered, and
// SIGTERM ends serve at once while they are still connected.
TEST(ServeAttack, MetricsSlowLorisDoesNotStarveAScrapeOrHoldTheStop) {
  testing::TempDir dir;
  const std::string d = dir.path();
  Server server;
  start(&server,
        {"reel", "serve", d + "/S", "--udp", "127.0.0.1:0,stream=feed", "--metrics", "127.0.0.1:0"},
        d + "/out", d + "/err");
  const int mport = server.number_after("metrics on port");
  ASSERT_GT(mport, 0) << testing::read_all(d + "/err");
  std::atomic<bool> stop{false};
  std::vector<std::thread> trickle;
  for (int t = 0; t < 4; ++t) {
    trickle.emplace_back([&] {
      const int fd = connect_to(mport);
      const std::string req = "GET /metrics HTTP/1.0\r\n\r\n";
      for (size_t i = 0; fd >= 0 && !stop.load() && i < req.size() - 1; ++i) {
        (void)::send(fd, &req[i], 1, MSG_NOSIGNAL);
        for (int w = 0; w < 9 && !stop.load(); ++w) std::this_thread::sleep_for(100ms);
      }
      while (!stop.load()) std::this_thread::sleep_for(50ms);
      if (fd >= 0) ::close(fd);
    });
  }
  std::vector<int> silent;
  for (int i = 0; i < 40; ++i) silent.push_back(connect_to(mport));
  for (int i = 0; i < 3; ++i) {
    const std::string page = scrape(mport, "/metrics", d + "/m" + std::to_string(i));
    EXPECT_NE(page.find("HTTP/1.0 200 OK"), std::string::npos) << "scrape " << i;
    EXPECT_NE(page.find("reel_store_written_seq"), std::string::npos);
  }
  EXPECT_EQ(server.interrupt(), 0);  // with the attackers still connected
  stop.store(true);
  for (auto& t : trickle) t.join();
  for (int fd : silent) ::close(fd);
}

// A stream name with a newline and a terminal escape, asked for on the
// replay port, reaches the log escaped: no forged line.
TEST(ServeAttack, ClientTextReachesTheLogEscaped) {
  testing::TempDir dir;
  const std::string d = dir.path();
  Server server;
  start(&server, {"reel", "serve", d + "/S", "--udp", "127.0.0.1:0", "--replay", "0"}, d + "/out",
        d + "/err");
  const int rport = server.number_after("replay on port");
  ASSERT_GT(rport, 0) << testing::read_all(d + "/err");
  SubscribeOptions so;
  so.streams = {"evil\nreel serve: forged line\x1b[31m"};
  so.reconnect = false;
  auto sub = Subscriber::connect("127.0.0.1:" + std::to_string(rport), so);
  EXPECT_FALSE(sub);
  ASSERT_EQ(server.interrupt(), 0);
  const std::string err = testing::read_all(d + "/err");
  EXPECT_EQ(err.find("\nreel serve: forged line"), std::string::npos) << err;
  EXPECT_EQ(err.find('\x1b'), std::string::npos) << err;
  EXPECT_NE(err.find("evil\\x0areel serve: forged line\\x1b[31m"), std::string::npos) << err;
}

// Whether the server closed `fd` (EOF or reset) within 10 s, reading
// nothing else.
bool closed_by_server(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 10'000) != 1) return false;
  char c;
  return ::recv(fd, &c, 1, 0) <= 0;
}

// With --allow 127.0.0.1/32, connections from 127.0.0.2 to the ingest,
// replay and metrics ports are closed at once, counted and logged with the
// peer's address; the honest producer and subscriber on 127.0.0.1 are
// served.
TEST(ServeAttack, PeersOutsideAllowAreClosedAtOnce) {
  testing::TempDir dir;
  const std::string d = dir.path();
  Server server;
  start(&server,
        {"reel", "serve", d + "/S", "--tcp", "127.0.0.1:0,stream=in", "--replay", "0", "--metrics",
         "0", "--allow", "127.0.0.1/32"},
        d + "/out", d + "/err");
  const int port = server.port();
  const int rport = server.number_after("replay on port");
  const int mport = server.number_after("metrics on port");
  ASSERT_GT(port, 0);
  ASSERT_GT(rport, 0);
  ASSERT_GT(mport, 0);
  for (int p : {port, rport, mport}) {
    const int fd = connect_to(p, "127.0.0.2");
    if (fd < 0) GTEST_SKIP() << "cannot bind 127.0.0.2 here";
    const std::string hello = "GET /metrics HTTP/1.0\r\n\r\n";
    (void)::send(fd, hello.data(), hello.size(), MSG_NOSIGNAL);
    EXPECT_TRUE(closed_by_server(fd)) << "port " << p;
    ::close(fd);
  }
  EXPECT_EQ(publish_acked(port, 100, 10, "honest "), "");
  SubscribeOptions so;
  so.reconnect = false;
  auto sub = Subscriber::connect("127.0.0.1:" + std::to_string(rport), so);
  ASSERT_TRUE(sub) << sub.status().to_string();
  RecordView v;
  int got = 0;
  while ((*sub)->next(&v, 10s)) ++got;
  EXPECT_EQ(got, 100) << (*sub)->status().to_string();
  EXPECT_NE(scrape(mport, "/metrics", d + "/m").find("200 OK"), std::string::npos);
  ASSERT_EQ(server.interrupt(), 0);
  const std::string err = testing::read_all(d + "/err");
  EXPECT_NE(err.find("refusing 127.0.0.2:"), std::string::npos) << err;
  EXPECT_NE(err.find("not in --allow 127.0.0.1/32"), std::string::npos) << err;
  EXPECT_NE(err.find("replay: refusing 127.0.0.2:"), std::string::npos) << err;
  EXPECT_NE(testing::read_all(d + "/out").find("1 not allowed"), std::string::npos);
}

// A fake replay server that answers a request with a valid header and then
// nothing but heartbeats, as fast as the socket takes them:
// Subscriber::next(timeout) still returns by its deadline.
TEST(ServeAttack, AHeartbeatFloodCannotHoldSubscriberNext) {
  uint16_t port = 0;
  const int lfd = listen_loopback(&port);
  ASSERT_GE(lfd, 0);
  std::atomic<bool> stop{false};
  std::thread fake([&] {
    const int fd = ::accept(lfd, nullptr, nullptr);
    if (fd < 0) return;
    uint8_t len[4];
    if (::recv(fd, len, 4, MSG_WAITALL) != 4) return;
    std::vector<uint8_t> request(decode_fixed32(len));
    (void)::recv(fd, request.data(), request.size(), MSG_WAITALL);
    flatbuffers::FlatBufferBuilder b;
    const auto streams = b.CreateVector(std::vector<flatbuffers::Offset<fb::ReplayStream>>{});
    fb::ReplayHeaderBuilder h(b);
    h.add_version(1);
    h.add_store_id(42);
    h.add_streams(streams);
    b.Finish(h.Finish());
    std::string header(4, '\0');
    encode_fixed32(reinterpret_cast<uint8_t*>(header.data()), static_cast<uint32_t>(b.GetSize()));
    header.append(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
    (void)::send(fd, header.data(), header.size(), MSG_NOSIGNAL);
    std::string beats;
    for (int i = 0; i < 4096; ++i) {
      beats.append(4, '\0');
      encode_fixed32(reinterpret_cast<uint8_t*>(beats.data()) + beats.size() - 4,
                     replay::kHeartbeat);
    }
    while (!stop.load() && ::send(fd, beats.data(), beats.size(), MSG_NOSIGNAL) > 0) {
    }
    ::close(fd);
  });
  SubscribeOptions so;
  so.follow = true;
  so.reconnect = false;
  auto sub = Subscriber::connect("127.0.0.1:" + std::to_string(port), so);
  ASSERT_TRUE(sub) << sub.status().to_string();
  std::atomic<bool> returned{false};
  bool got = true;
  std::thread reader([&] {
    RecordView v;
    got = (*sub)->next(&v, 300ms);
    returned.store(true);
  });
  // A watchdog only: the event checked is that next() returned at all.
  const auto give_up = std::chrono::steady_clock::now() + 60s;
  while (!returned.load() && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(10ms);
  }
  const bool in_time = returned.load();
  stop.store(true);  // the flood ends: next() returns either way
  reader.join();
  const Status status = (*sub)->status();
  sub->reset();  // the fake's blocked send fails
  fake.join();
  ::close(lfd);
  ASSERT_TRUE(in_time) << "next(300ms) did not return while heartbeats kept coming";
  EXPECT_FALSE(got);
  EXPECT_TRUE(status) << status.to_string();
}

// With no address, the replay and metrics ports listen on 127.0.0.1 only,
// and serve says so for each port with what it serves.
TEST(ServeAttack, ReadingPortsBindToLoopbackUnlessAnAddressIsGiven) {
  testing::TempDir dir;
  const std::string d = dir.path();
  Server server;
  start(&server, {"reel", "serve", d + "/S", "--tcp", "0", "--replay", "0", "--metrics", "0"},
        d + "/out", d + "/err");
  const int rport = server.number_after("replay on port");
  const int mport = server.number_after("metrics on port");
  ASSERT_GT(rport, 0);
  ASSERT_GT(mport, 0);
  const std::string err = testing::read_all(d + "/err");
  EXPECT_NE(err.find("replay on port " + std::to_string(rport) + " at 127.0.0.1"),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("metrics on port " + std::to_string(mport) + " at 127.0.0.1"),
            std::string::npos)
      << err;
  EXPECT_NE(err.find(" at 0.0.0.0, stream tcp:0"), std::string::npos) << err;
  // ss(8) lists the listening sockets by address.
  testing::TempDir io;
  ASSERT_EQ(std::system(("ss -Hltn > " + (io / "ss")).c_str()), 0);
  const std::string ss = testing::read_all(io / "ss");
  EXPECT_NE(ss.find("127.0.0.1:" + std::to_string(rport) + " "), std::string::npos) << ss;
  EXPECT_NE(ss.find("127.0.0.1:" + std::to_string(mport) + " "), std::string::npos) << ss;
  ASSERT_EQ(server.interrupt(), 0);
}

}  // namespace
}  // namespace reel
