// BufferRing: an io_uring provided-buffer ring and the buffers it hands to
// the kernel (the receive side of net/udp_receiver and net/tcp_receiver).
// The ring's memory is mapped here: liburing 2.3 has no
// io_uring_setup_buf_ring. Buffers go to the kernel at setup and return to
// it through give_back() once their bytes were taken.
//
// Owned by one receiver and used by its thread; the io_uring it was set up
// on must be torn down before it (the kernel may be filling a buffer).
#pragma once

#include <liburing.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "reel/status.h"

namespace reel::net {

class BufferRing {
 public:
  BufferRing() = default;
  ~BufferRing();
  BufferRing(const BufferRing&) = delete;
  BufferRing& operator=(const BufferRing&) = delete;

  // Registers `count` (a power of two) buffers of `bytes` each as group
  // `group` of `ring`, each starting on a 64-byte boundary.
  Status setup(io_uring* ring, uint16_t group, unsigned count, size_t bytes);

  uint16_t group() const { return group_; }
  uint8_t* data(unsigned bid) { return buffers_.data() + bid * stride_; }
  // Hands buffer `bid` back to the kernel.
  void give_back(unsigned bid);

 private:
  io_uring_buf_ring* ring_ = nullptr;
  size_t ring_bytes_ = 0;
  unsigned count_ = 0;
  uint16_t group_ = 0;
  size_t bytes_ = 0, stride_ = 0;
  std::vector<uint8_t> buffers_;
};

// Submits what is queued, waits up to `timeout` for a completion on `ring`
// (0: takes only what is there), passes each completion to `fn`, and
// submits again (re-arms). Stops passing completions at the first error
// `fn` returns, which it returns. A timeout or a signal is not an error.
Status drain_completions(io_uring* ring, std::chrono::milliseconds timeout,
                         const std::function<Status(const io_uring_cqe*)>& fn);

}  // namespace reel::net
