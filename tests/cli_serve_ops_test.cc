// Running `reel serve` in production: the Prometheus endpoint (scraped with
// socat, a real client) reports what the endpoints took while a hostile
// scraper hangs on it, and a client flooding a TCP endpoint cannot stall
// another client's acknowledged records.
#include <atomic>
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

TEST(CliServeOps, MetricsReportTheEndpointsTheRingAndTheSeqs) {
  testing::TempDir dir;
  const std::string d = dir.path();
  Server server;
  start(&server,
        {"reel", "serve", d + "/S", "--udp", "127.0.0.1:0,stream=feed", "--tcp", "127.0.0.1:0",
         "--metrics", "127.0.0.1:0"},
        d + "/out", d + "/err");
  const auto ports = server.ports(2);
  ASSERT_EQ(ports.size(), 2u) << testing::read_all(d + "/err");
  const int mport = server.number_after("metrics on port");
  ASSERT_GT(mport, 0);
  // A scraper that connects and says nothing: ingest goes on.
  const int hostile = connect_to(mport);
  ASSERT_GE(hostile, 0);
  sockaddr_in to{};
  const int fd = udp_to(ports[0], &to);
  for (int i = 0; i < 200; ++i) {
    const std::string p = testing::numbered("datagram ", i);
    ASSERT_EQ(::sendto(fd, p.data(), p.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to),
              static_cast<ssize_t>(p.size()));
  }
  ::close(fd);
  auto pub = Publisher::connect("127.0.0.1:" + std::to_string(ports[1]));
  ASSERT_TRUE(pub);
  for (int i = 0; i < 7; ++i) ASSERT_TRUE((*pub)->publish("tcp record"));
  ASSERT_TRUE((*pub)->close(std::chrono::seconds(10)));
  std::this_thread::sleep_for(std::chrono::milliseconds(700));  // a metrics refresh
  const std::string page = scrape(mport, "/metrics", d + "/m");
  ::close(hostile);
  ASSERT_NE(page.find("HTTP/1.0 200 OK"), std::string::npos) << page;
  EXPECT_NE(page.find("text/plain; version=0.0.4"), std::string::npos);
  EXPECT_NE(page.find("reel_serve_udp_records_total{endpoint=\"udp:127.0.0.1:0\",stream=\"feed\"} "
                      "200\n"),
            std::string::npos)
      << page;
  EXPECT_NE(page.find("reel_serve_tcp_records_total{endpoint=\"tcp:127.0.0.1:0\",stream=\"tcp:"
                      "127.0.0.1:0\"} 7\n"),
            std::string::npos)
      << page;
  EXPECT_NE(page.find("reel_serve_tcp_connections_total{"), std::string::npos);
  EXPECT_NE(page.find("reel_serve_udp_kernel_drops_total{"), std::string::npos);
  EXPECT_NE(page.find("reel_ring_capacity_bytes 67108864\n"), std::string::npos) << page;
  EXPECT_NE(page.find("reel_store_written_seq 207\n"), std::string::npos) << page;
  EXPECT_NE(page.find("reel_store_durable_seq 207\n"), std::string::npos) << page;
  EXPECT_NE(scrape(mport, "/", d + "/n").find("404"), std::string::npos);
  ASSERT_EQ(server.interrupt(), 0);
  const std::string out = testing::read_all(d + "/out");
  EXPECT_NE(out.find("reel serve: ring "), std::string::npos) << out;
  EXPECT_NE(out.find("appended 207, written 207, indexed 207, durable 207"), std::string::npos)
      << out;
}

TEST(CliServeOps, AFloodingClientCannotStallAnotherClient) {
  testing::TempDir dir;
  const std::string d = dir.path();
  Server server;
  start(&server, {"reel", "serve", d + "/S", "--tcp", "127.0.0.1:0", "--sync", "none"}, d + "/out",
        d + "/err");
  const int port = server.port();
  ASSERT_GT(port, 0);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> flooded{0};
  std::thread flood([&] {
    const int fd = connect_to(port);
    std::string batch;
    for (int i = 0; i < 256; ++i)
      batch += std::string("\xfc\x03\x00\x00", 4) + std::string(1020, 'f');
    while (!stop.load()) {
      if (::send(fd, batch.data(), batch.size(), MSG_NOSIGNAL) <= 0) break;
      flooded += 256;
    }
    ::close(fd);
  });
  // Another client, record by record, each acknowledged while the flood runs.
  Publisher::Options o;
  o.level = Level::kWritten;
  auto pub = Publisher::connect("127.0.0.1:" + std::to_string(port), o);
  ASSERT_TRUE(pub);
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE((*pub)->publish(testing::numbered("small ", i)));
    Status s = (*pub)->flush(std::chrono::seconds(10));
    ASSERT_TRUE(s) << "record " << i << " waited behind the flood: " << s.to_string();
  }
  const uint64_t during = flooded.load();
  stop.store(true);
  flood.join();
  EXPECT_GT(during, 1000u) << "the flood did not run beside the small client";
  ASSERT_TRUE((*pub)->close(std::chrono::seconds(10)));
  ASSERT_EQ(server.interrupt(), 0);
}

}  // namespace
}  // namespace reel
