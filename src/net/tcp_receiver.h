// TcpReceiver: records from TCP endpoints, through one io_uring: a
// multishot accept per listening socket, a multishot recv per connection
// with buffers from one provided-buffer ring, and a feed::Deframer per
// connection that cuts the byte stream into records by the endpoint's
// framing. Records come out in each connection's order.
//
// A framing error (an oversize record, a line too long) closes that
// connection only, and is counted and logged with the peer's address;
// --max-connections is enforced per receiver (a connection over it is
// closed at once and counted).
//
// Back-pressure: the callback may block (the store's ring is full); then no
// connection is read, the kernel's socket buffers fill and TCP slows the
// senders. Nothing is dropped.
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
#include "reel/status.h"

namespace reel::net {

struct TcpRecord {
  size_t endpoint = 0;
  std::span<const uint8_t> payload;  // valid during the callback only
  uint64_t ts_ns = 0;
};

struct TcpEndpointCounts {
  uint64_t connections = 0, open = 0, refused = 0, framing_errors = 0;
};

class TcpReceiver {
 public:
  static Result<std::unique_ptr<TcpReceiver>> open(const std::vector<feed::Endpoint>& endpoints,
                                                   size_t max_record, size_t max_connections);
  ~TcpReceiver();
  TcpReceiver(const TcpReceiver&) = delete;
  TcpReceiver& operator=(const TcpReceiver&) = delete;

  // Waits up to `timeout` and hands every complete record to `fn`. Returns
  // how many records it handled.
  Result<size_t> poll(std::chrono::milliseconds timeout,
                      const std::function<void(const TcpRecord&)>& fn);

  uint16_t port(size_t i) const;
  const TcpEndpointCounts& counts(size_t i) const;

  struct Impl;

 private:
  explicit TcpReceiver(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace reel::net
