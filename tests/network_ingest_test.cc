// NetworkIngest in-process: what one record or one client does costs only
// that record or that client.
#include "ingest/network_ingest.h"

#include <atomic>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "reel/reel.h"
#include "serve_util.h"
#include "test_util.h"
#include "util/coding.h"

namespace reel {
namespace {

using namespace std::chrono_literals;

// A store whose record limit is over what its ring takes (the library
// allows it; the reel commands refuse it at start): a record between the two
// is refused by the store. That closes only its own connection; the ingest
// goes on and an honest producer beside it gets every record acknowledged.
TEST(NetworkIngest, ARecordTheStoreRefusesClosesOnlyItsConnection) {
  testing::TempDir dir;
  StoreOptions o;
  o.max_record_bytes = 40 << 20;
  o.sync.mode = SyncPolicy::Mode::kNone;
  ASSERT_LT(largest_record_bytes(o), o.max_record_bytes);
  auto store = Store::open(dir.path(), o);
  ASSERT_TRUE(store);
  ingest::IngestOptions io;
  auto e = feed::parse_endpoint(feed::Endpoint::Kind::kTcp, "127.0.0.1:0,stream=in");
  ASSERT_TRUE(e);
  io.tcp.push_back(*e);
  io.max_record = o.max_record_bytes;
  auto in = ingest::NetworkIngest::open(store->get(), std::move(io));
  ASSERT_TRUE(in);
  const int port = (*in)->tcp()->receiver()->port(0);
  std::atomic<bool> stop{false};
  std::thread loop([&] {
    while (!stop.load() && (*in)->failure()) (void)(*in)->round((*in)->wait_budget());
  });
  // Over the ring (about 32 MiB), under the record limit.
  std::string big(4 + (34 << 20), 'x');
  const uint32_t len = 34u << 20;
  encode_fixed32(reinterpret_cast<uint8_t*>(big.data()), len);
  std::thread attacker([&] {
    const int fd = connect_to(port);
    if (fd < 0) return;
    for (size_t at = 0; at < big.size();) {
      const ssize_t n = ::send(fd, big.data() + at, big.size() - at, MSG_NOSIGNAL);
      if (n <= 0) break;  // closed by the server once it had the record
      at += static_cast<size_t>(n);
    }
    ::close(fd);
  });
  Publisher::Options po;
  po.level = Level::kWritten;
  auto pub = Publisher::connect("127.0.0.1:" + std::to_string(port), po);
  ASSERT_TRUE(pub);
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE((*pub)->publish(testing::numbered("honest ", i)));
  attacker.join();
  ASSERT_TRUE((*pub)->close(60s));
  EXPECT_EQ((*pub)->acknowledged(), 1000u);
  stop.store(true);
  loop.join();
  EXPECT_TRUE((*in)->failure()) << (*in)->failure().to_string();
  EXPECT_EQ((*in)->tcp()->counts()[0].rejected, 1u);
  EXPECT_EQ((*in)->tcp()->counts()[0].records, 1000u);
  ASSERT_TRUE((*in)->finish());
}

}  // namespace
}  // namespace reel
