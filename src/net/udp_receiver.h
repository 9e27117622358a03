// UdpReceiver: datagrams from several UDP endpoints (unicast, or multicast
// groups joined on an interface, optionally source-specific) through one
// io_uring: a multishot recvmsg per socket, buffers from one provided-buffer
// ring, so the kernel writes each datagram straight into a buffer it picked
// (one copy, kernel to user) and no syscall is made per datagram.
//
// Each datagram comes with the kernel's receive time (SO_TIMESTAMPNS) and
// the socket's running count of datagrams the kernel dropped for want of
// buffer space (SO_RXQ_OVFL). A datagram longer than `max_datagram` is
// reported as truncated (MSG_TRUNC), never passed on as if whole.
//
// One thread uses a receiver; the sockets close with it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "feed/endpoint.h"
#include "reel/status.h"

namespace reel::net {

struct Datagram {
  size_t endpoint = 0;               // index into the endpoints given to open()
  std::span<const uint8_t> payload;  // valid during the callback only
  uint64_t ts_ns = 0;                // kernel receive time (0 if none came)
  bool truncated = false;            // longer than max_datagram: payload is cut
};

class UdpReceiver {
 public:
  // Binds (and joins) every endpoint; all must be UDP or multicast.
  static Result<std::unique_ptr<UdpReceiver>> open(const std::vector<feed::Endpoint>& endpoints,
                                                   size_t max_datagram);
  ~UdpReceiver();
  UdpReceiver(const UdpReceiver&) = delete;
  UdpReceiver& operator=(const UdpReceiver&) = delete;

  // Waits up to `timeout` for datagrams (0: only what is there) and hands
  // each to `fn`. Returns how many it handled (0 on timeout or a signal), or
  // a socket's receive error.
  Result<size_t> poll(std::chrono::milliseconds timeout,
                      const std::function<void(const Datagram&)>& fn);

  // The port endpoint i is bound to (the kernel's pick when 0 was asked).
  uint16_t port(size_t i) const;
  // Datagrams the kernel dropped on endpoint i's socket so far (SO_RXQ_OVFL,
  // as last reported with a datagram).
  uint64_t kernel_drops(size_t i) const;

  struct Impl;

 private:
  explicit UdpReceiver(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace reel::net
