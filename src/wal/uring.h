// Uring: the single RAII owner of an io_uring instance.
#pragma once

#include <liburing.h>

#include <cstdint>

#include "reel/status.h"

namespace reel::wal {

class Uring {
 public:
  Uring() = default;
  ~Uring();
  Uring(const Uring&) = delete;
  Uring& operator=(const Uring&) = delete;

  Status init(unsigned entries);
  // Submits one prepared SQE and waits for its completion: 0 and *res =
  // cqe->res (negative errno if the operation failed), or a negative errno
  // if submitting or waiting failed (the ring is then unusable: the SQE may
  // still be queued).
  int submit_and_wait_one(int* res);
  // Submits the prepared SQEs without waiting: how many went in, or a
  // negative errno.
  int submit() { return io_uring_submit(&ring_); }
  // Takes one completion: 0 and *res = cqe->res; -EAGAIN when none is
  // ready and `wait` is false; another negative errno if waiting failed.
  int reap(bool wait, int* res);
  io_uring_sqe* get_sqe() { return io_uring_get_sqe(&ring_); }
  // io_uring_register_buffers: 0 or a negative errno.
  int register_buffers(const iovec* iovecs, unsigned count) {
    return io_uring_register_buffers(&ring_, iovecs, count);
  }
  int unregister_buffers() { return io_uring_unregister_buffers(&ring_); }

 private:
  io_uring ring_{};
  bool ready_ = false;
};

}  // namespace reel::wal
