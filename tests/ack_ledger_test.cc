// AckLedger over a real socket pair: acks wait for the connection's own
// level, are cumulative and coalesced, survive a full socket, and a gone
// peer is an error.
#include "net/ack_ledger.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

namespace reel::net {
namespace {

struct Pair {
  int fd[2] = {-1, -1};
  Pair() { EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fd), 0); }
  ~Pair() {
    for (int f : fd) {
      if (f >= 0) ::close(f);
    }
  }
  // Every whole ack waiting at the client side, in order.
  std::vector<feed::Ack> acks() {
    std::vector<feed::Ack> out;
    uint8_t b[feed::kAckBytes];
    while (::recv(fd[1], b, sizeof b, MSG_DONTWAIT) == static_cast<ssize_t>(sizeof b)) {
      out.push_back(feed::decode_ack(b));
    }
    return out;
  }
};

Watermarks marks(uint64_t written, uint64_t indexed, uint64_t durable) {
  Watermarks w;
  w.written_seq = written;
  w.indexed_seq = indexed;
  w.durable_seq = durable;
  return w;
}

TEST(AckLedger, AcksWaitForTheConnectionsOwnLevel) {
  Pair p;
  AckLedger ledger(Level::kDurable);
  ledger.stored(3, 10);  // records 1..3, the last at seq 10
  ledger.stored(2, 15);
  ledger.advance(marks(15, 15, 9));
  ASSERT_TRUE(ledger.send(p.fd[0]));
  EXPECT_TRUE(p.acks().empty()) << "acknowledged before the durable level";
  EXPECT_FALSE(ledger.settled());
  ledger.advance(marks(15, 15, 12));
  ASSERT_TRUE(ledger.send(p.fd[0]));
  auto got = p.acks();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].count, 3u);
  EXPECT_EQ(got[0].last_seq, 10u);
  ledger.advance(marks(15, 15, 15));
  ASSERT_TRUE(ledger.send(p.fd[0]));
  got = p.acks();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].count, 5u);
  EXPECT_TRUE(ledger.settled());
}

TEST(AckLedger, WrittenAndIndexedLevelsFollowTheirOwnWatermark) {
  Pair p;
  AckLedger written(Level::kWritten), indexed(Level::kIndexed);
  written.stored(1, 7);
  indexed.stored(1, 7);
  written.advance(marks(7, 6, 0));
  indexed.advance(marks(7, 6, 0));
  EXPECT_EQ(written.acknowledged(), 1u);
  EXPECT_EQ(indexed.acknowledged(), 0u);
  EXPECT_EQ(indexed.newest_pending_seq(), 7u);
}

TEST(AckLedger, AFullSocketDelaysTheNewestAckAndAGonePeerIsAnError) {
  Pair p;
  const int flags = ::fcntl(p.fd[0], F_GETFL);
  ASSERT_EQ(::fcntl(p.fd[0], F_SETFL, flags | O_NONBLOCK), 0);
  std::vector<char> junk(4096, 'j');
  for (size_t n : {junk.size(), size_t{1}}) {  // full, to the last byte
    while (::send(p.fd[0], junk.data(), n, MSG_DONTWAIT) > 0) {
    }
  }
  AckLedger ledger(Level::kWritten);
  for (uint64_t i = 1; i <= 100; ++i) {
    ledger.stored(1, i);
    ledger.advance(marks(i, 0, 0));
    ASSERT_TRUE(ledger.send(p.fd[0]));  // the socket is full: kept for later
  }
  EXPECT_FALSE(ledger.settled());
  // Drained, the socket takes the newest ack: those that waited are one.
  std::vector<char> sink(1 << 20);
  while (::recv(p.fd[1], sink.data(), sink.size(), MSG_DONTWAIT) > 0) {
  }
  ASSERT_TRUE(ledger.send(p.fd[0]));
  std::vector<feed::Ack> got;
  uint8_t b[feed::kAckBytes];
  size_t have = 0;
  for (;;) {
    const ssize_t n = ::recv(p.fd[1], b + have, sizeof b - have, MSG_DONTWAIT);
    if (n <= 0) break;
    have += static_cast<size_t>(n);
    if (have == sizeof b) {
      got.push_back(feed::decode_ack(b));
      have = 0;
    }
  }
  ASSERT_FALSE(got.empty());
  EXPECT_LE(got.size(), 2u) << "acks are coalesced while the socket is full";
  for (size_t i = 1; i < got.size(); ++i) EXPECT_LT(got[i - 1].count, got[i].count);
  EXPECT_EQ(got.back().count, 100u);
  EXPECT_EQ(got.back().last_seq, 100u);
  EXPECT_TRUE(ledger.settled());

  ::close(p.fd[1]);
  p.fd[1] = -1;
  ledger.stored(1, 101);
  ledger.advance(marks(101, 0, 0));
  EXPECT_FALSE(ledger.send(p.fd[0]));
}

}  // namespace
}  // namespace reel::net
