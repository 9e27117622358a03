// TcpReceiver: records from TCP endpoints, through one io_uring: a
// multishot accept per listening socket, a multishot recv per connection
// with buffers from one provided-buffer ring, and a feed::Deframer per
// connection that cuts the byte stream into records by the endpoint's
// framing. Records come out in each connection's order.
//
// A framing error (an oversize record, a line too long) closes that
// connection only, and is counted and logged with the peer's address
// (util/log_limit.h: rate-limited). --max-connections is enforced per
// receiver: a new connection over it closes the open one idle longest
// among those quiet for a second or more, inside no record and owed no ack
// (counted as evicted), or, when there is none, is itself closed at once
// (refused). An accept that fails (out of descriptors, say) pauses that
// listener for 100 ms (the backlog holds the peers) instead of spinning.
//
// Back-pressure: the callback may block (the store's ring is full); then no
// connection is read, the kernel's socket buffers fill and TCP slows the
// senders. Nothing is dropped.
//
// Acknowledged producers (wire/ack_protocol.h): an lp connection that opens
// with a hello word gets acks; the callback returns each record's store seq
// and acknowledge() sends the counts that reached the level. Such a
// connection that half-closes stays open until its last ack is sent.
// A connection that sent nothing for the idle timeout is closed (and
// counted), unless its records wait for their level; one that takes no ack
// for that long (it does not read them) is closed too.
//
// A refused producer (wire/ack_protocol.h: a durable hello to a store that
// never syncs) is sent the reason; what it sends after is read and dropped
// until it closes, for up to 2 s, so that its reset does not destroy the
// reason before the producer reads it.
//
// Memory: a connection holds at most one unfinished record (given back once
// complete, wire/framing.h); TcpLimits::max_buffered caps them all.
//
// ts_ns is read from the clock when the bytes are taken (TCP gives no
// per-record kernel time). One thread uses a receiver.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "feed/endpoint.h"
#include "net/allow_list.h"
#include "reel/status.h"
#include "reel/types.h"

namespace reel::net {

struct TcpRecord {
  size_t endpoint = 0;
  std::span<const uint8_t> payload;  // valid during the callback only
  uint64_t ts_ns = 0;
};

struct TcpLimits {
  size_t max_record = 65535;
  size_t max_connections = 1024;  // in all; past it the idlest one is closed
  // Memory for unfinished records, all connections together: a connection
  // whose bytes take it past this is closed (counted, logged).
  size_t max_buffered = size_t{256} << 20;
  // False (a store that never syncs on its own): a producer asking for
  // durable acknowledgements is refused, with this reason.
  bool durable_acks = true;
  std::string durable_refusal;
  AllowList allow;  // peers that may connect (empty: any); others are closed at once
};

struct TcpEndpointCounts {
  uint64_t connections = 0, open = 0, refused = 0, framing_errors = 0, idle_closed = 0;
  uint64_t acked_connections = 0;  // connections that asked for acks
  uint64_t evicted = 0;            // closed, idle longest, to make room for a new one
  uint64_t accept_failures = 0;    // accepts that failed (out of descriptors: paused 100 ms)
  uint64_t hellos_refused = 0;     // producers refused at their hello (a refusal sent)
  uint64_t memory_closed = 0;      // closed: unfinished records over TcpLimits::max_buffered
  uint64_t refused_peers = 0;      // closed at once: the peer is not in TcpLimits::allow
};

class TcpReceiver {
 public:
  static Result<std::unique_ptr<TcpReceiver>> open(const std::vector<feed::Endpoint>& endpoints,
                                                   const TcpLimits& limits);
  ~TcpReceiver();
  TcpReceiver(const TcpReceiver&) = delete;
  TcpReceiver& operator=(const TcpReceiver&) = delete;

  // Takes a record; returns the store seq it got, or 0 when it was not
  // stored (its connection is then closed, with *refusal as the reason
  // logged when set: it cannot be acknowledged).
  using RecordFn = std::function<uint64_t(const TcpRecord&, std::string* refusal)>;

  // Waits up to `timeout` and hands every complete record to `fn`. Returns
  // how many records it handled.
  Result<size_t> poll(std::chrono::milliseconds timeout, const RecordFn& fn);

  // Sends the acks that the store's watermarks `w` allow, and closes
  // half-closed connections that have all theirs.
  void acknowledge(const Watermarks& w);
  // Whether some connection waits for acks, and the newest store seq one
  // waits for at `level` (0: none), so that a sync (kDurable) or the index
  // (kIndexed) can be asked for it.
  bool acks_pending() const;
  uint64_t pending_seq(Level level) const;
  // Closes connections with no traffic either way for `idle` whose records
  // do not wait for the store. A zero `idle` closes none.
  void expire_idle(std::chrono::steady_clock::duration idle);

  uint16_t port(size_t i) const;
  const TcpEndpointCounts& counts(size_t i) const;

  struct Impl;

 private:
  explicit TcpReceiver(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace reel::net
