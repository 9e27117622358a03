#include "wal/uring.h"

#include <cerrno>

namespace reel::wal {

Uring::~Uring() {
  if (ready_) io_uring_queue_exit(&ring_);
}

Status Uring::init(unsigned entries) {
  int rc = io_uring_queue_init(entries, &ring_, 0);
  if (rc < 0) return Status::from_errno("io_uring_queue_init", -rc);
  ready_ = true;
  return Status::ok();
}

int Uring::submit_and_wait_one(int* res) {
  int rc = io_uring_submit(&ring_);
  if (rc < 0) return rc;
  if (rc == 0) return -EBUSY;  // nothing went in
  io_uring_cqe* cqe = nullptr;
  do {
    rc = io_uring_wait_cqe(&ring_, &cqe);
  } while (rc == -EINTR);
  if (rc < 0) return rc;
  *res = cqe->res;
  io_uring_cqe_seen(&ring_, cqe);
  return 0;
}

int Uring::reap(bool wait, int* res) {
  io_uring_cqe* cqe = nullptr;
  int rc = 0;
  do {
    rc = wait ? io_uring_wait_cqe(&ring_, &cqe) : io_uring_peek_cqe(&ring_, &cqe);
  } while (rc == -EINTR);
  if (rc < 0) return rc;
  *res = cqe->res;
  io_uring_cqe_seen(&ring_, cqe);
  return 0;
}

}  // namespace reel::wal
