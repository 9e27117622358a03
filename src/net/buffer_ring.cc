#include "net/buffer_ring.h"

#include <sys/mman.h>

#include <cerrno>

namespace reel::net {

BufferRing::~BufferRing() {
  if (ring_ != nullptr) ::munmap(ring_, ring_bytes_);
}

Status BufferRing::setup(io_uring* ring, uint16_t group, unsigned count, size_t bytes) {
  ring_bytes_ = count * sizeof(io_uring_buf);
  void* mem =
      ::mmap(nullptr, ring_bytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (mem == MAP_FAILED) return Status::from_errno("mmap buffer ring", errno);
  ring_ = static_cast<io_uring_buf_ring*>(mem);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<uint64_t>(mem);
  reg.ring_entries = count;
  reg.bgid = group;
  const int rc = io_uring_register_buf_ring(ring, &reg, 0);
  if (rc < 0) return Status::from_errno("io_uring_register_buf_ring", -rc);
  io_uring_buf_ring_init(ring_);
  count_ = count;
  group_ = group;
  bytes_ = bytes;
  stride_ = (bytes + 63) & ~size_t{63};
  buffers_.assign(count * stride_, 0);
  for (unsigned bid = 0; bid < count; ++bid) give_back(bid);
  return Status::ok();
}

void BufferRing::give_back(unsigned bid) {
  // The kernel may fill exactly bytes_, never the stride's padding.
  io_uring_buf_ring_add(ring_, data(bid), static_cast<unsigned>(bytes_),
                        static_cast<unsigned short>(bid), io_uring_buf_ring_mask(count_), 0);
  io_uring_buf_ring_advance(ring_, 1);
}

Status drain_completions(io_uring* ring, std::chrono::milliseconds timeout,
                         const std::function<Status(const io_uring_cqe*)>& fn) {
  __kernel_timespec ts{timeout.count() / 1000, (timeout.count() % 1000) * 1'000'000};
  io_uring_cqe* cqe = nullptr;
  const int rc = io_uring_submit_and_wait_timeout(ring, &cqe, 1, &ts, nullptr);
  if (rc == -ETIME || rc == -EINTR) return Status::ok();
  if (rc < 0) return Status::from_errno("io_uring wait", -rc);
  Status failure;
  unsigned head, seen = 0;
  io_uring_for_each_cqe(ring, head, cqe) {
    if (failure) failure = fn(cqe);
    ++seen;
  }
  io_uring_cq_advance(ring, seen);
  if (failure) io_uring_submit(ring);
  return failure;
}

}  // namespace reel::net
