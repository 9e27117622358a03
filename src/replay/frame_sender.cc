#include "replay/frame_sender.h"

#include <liburing.h>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <cstdio>

namespace reel::replay {
namespace {

// sendmsg(2) from the caller's thread, waiting for room with poll.
class CopySender final : public FrameSender {
 public:
  explicit CopySender(int fd) : fd_(fd) {}

  Outcome send(std::vector<iovec>* iov, bool* started, std::chrono::milliseconds stall) override {
    size_t first = 0;
    while (first < iov->size()) {
      msghdr m{};
      m.msg_iov = iov->data() + first;
      m.msg_iovlen = iov->size() - first;
      const ssize_t w = ::sendmsg(fd_, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0 && errno == EAGAIN) {
        pollfd p{fd_, POLLOUT, 0};
        const int rc = ::poll(&p, 1, static_cast<int>(stall.count()));
        if (rc == 0) {
          iov->erase(iov->begin(), iov->begin() + static_cast<ptrdiff_t>(first));
          return Outcome::kStalled;
        }
        continue;
      }
      if (w <= 0) return Outcome::kGone;
      *started = true;
      advance(iov, &first, static_cast<size_t>(w));
    }
    iov->clear();
    return Outcome::kSent;
  }

  bool drain(std::chrono::milliseconds) override { return true; }

 private:
  int fd_;
};

// io_uring SENDMSG or SENDMSG_ZC, MSG_DONTWAIT: a full socket completes
// the request with -EAGAIN (it is not left waiting in the ring), and
// poll(2) waits for room. So no request is in flight when send() returns:
// the caller may change or drop the iovecs. With zero copy each send's
// completion says (IORING_CQE_F_MORE) that a notification will follow once
// the kernel lets go of the pages; drain() waits for those.
class UringSender final : public FrameSender {
 public:
  UringSender(int fd, bool zero_copy) : fd_(fd), zero_copy_(zero_copy) {}

  Status init() {
    // Room for many notifications: zero-copy pages stay the kernel's until
    // the peer acknowledges them, so unreaped notifications pile up while
    // it is slow.
    io_uring_params p{};
    p.flags = IORING_SETUP_CQSIZE;
    p.cq_entries = 1024;
    const int rc = io_uring_queue_init_params(8, &ring_, &p);
    if (rc < 0) return Status::from_errno("replay: io_uring_queue_init", -rc);
    ready_ = true;
    // A kernel without the opcode (SENDMSG_ZC came in 6.1) would fail every
    // send: find out now.
    io_uring_probe* probe = io_uring_get_probe_ring(&ring_);
    const int op = zero_copy_ ? IORING_OP_SENDMSG_ZC : IORING_OP_SENDMSG;
    const bool supported = probe != nullptr && io_uring_opcode_supported(probe, op);
    if (probe != nullptr) io_uring_free_probe(probe);
    if (!supported) {
      return Status::failed(std::string("replay: this kernel's io_uring has no ") +
                            (zero_copy_ ? "SENDMSG_ZC" : "SENDMSG"));
    }
    return Status::ok();
  }

  ~UringSender() override {
    if (!ready_) return;
    (void)drain(std::chrono::seconds(5));
    io_uring_queue_exit(&ring_);
  }

  Outcome send(std::vector<iovec>* iov, bool* started, std::chrono::milliseconds stall) override {
    while (!iov->empty()) {
      const int res = send_once(iov);
      if (res == -EAGAIN) {
        pollfd p{fd_, POLLOUT, 0};
        const int rc = ::poll(&p, 1, static_cast<int>(stall.count()));
        if (rc == 0) return Outcome::kStalled;
        continue;
      }
      if (res == -EINTR) continue;
      if (res <= 0) return Outcome::kGone;
      *started = true;
      size_t first = 0;
      advance(iov, &first, static_cast<size_t>(res));
      iov->erase(iov->begin(), iov->begin() + static_cast<ptrdiff_t>(first));
    }
    return Outcome::kSent;
  }

  bool drain(std::chrono::milliseconds limit) override {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (notifications_ > 0) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      int res = 0;
      if (reap(left, &res) < 0) return false;
    }
    return true;
  }

 private:
  static constexpr uint64_t kSend = 1;

  // One request for all of *iov; its result (bytes, or -errno).
  int send_once(std::vector<iovec>* iov) {
    reap_ready();  // notifications that came meanwhile: keep the queue clear
    msghdr m{};
    m.msg_iov = iov->data();
    m.msg_iovlen = iov->size();
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (zero_copy_) {
      io_uring_prep_sendmsg_zc(sqe, fd_, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
    } else {
      io_uring_prep_sendmsg(sqe, fd_, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    io_uring_sqe_set_data64(sqe, kSend);
    if (const int rc = io_uring_submit(&ring_); rc < 0) return rc;
    in_flight_ = true;
    int res = 0;
    while (in_flight_) {
      const int rc = reap(std::chrono::seconds(30), &res);  // completes at once: DONTWAIT
      if (rc < 0) return rc;
    }
    return res;
  }

  void reap_ready() {
    io_uring_cqe* cqe = nullptr;
    while (io_uring_peek_cqe(&ring_, &cqe) == 0) {
      if (cqe->flags & IORING_CQE_F_NOTIF) --notifications_;
      io_uring_cqe_seen(&ring_, cqe);
    }
  }

  // Takes one completion (waiting at most `wait`): the send's result clears
  // in_flight_ and lands in *res; a notification counts down.
  int reap(std::chrono::milliseconds wait, int* res) {
    __kernel_timespec ts{wait.count() / 1000, (wait.count() % 1000) * 1'000'000};
    io_uring_cqe* cqe = nullptr;
    const int rc = io_uring_wait_cqe_timeout(&ring_, &cqe, &ts);
    if (rc == -EINTR) return 0;
    if (rc < 0) return rc;
    if (cqe->flags & IORING_CQE_F_NOTIF) {
      --notifications_;
    } else {
      in_flight_ = false;
      *res = cqe->res;
      if (cqe->flags & IORING_CQE_F_MORE) ++notifications_;
    }
    io_uring_cqe_seen(&ring_, cqe);
    return 0;
  }

  int fd_;
  bool zero_copy_;
  bool ready_ = false, in_flight_ = false;
  int notifications_ = 0;  // zero-copy sends whose pages the kernel still holds
  io_uring ring_{};
};

}  // namespace

const char* send_mode_name(SendMode mode) {
  switch (mode) {
    case SendMode::kCopy:
      return "copy";
    case SendMode::kUring:
      return "uring";
    case SendMode::kZeroCopy:
      return "zc";
  }
  return "?";
}

Result<SendMode> parse_send_mode(const std::string& text) {
  if (text == "copy") return SendMode::kCopy;
  if (text == "uring") return SendMode::kUring;
  if (text == "zc") return SendMode::kZeroCopy;
  return Status::invalid_argument("send mode '" + text + "' (copy, uring or zc)");
}

Result<std::unique_ptr<FrameSender>> FrameSender::make(int fd, SendMode mode) {
  if (mode == SendMode::kCopy) return std::unique_ptr<FrameSender>(new CopySender(fd));
  auto s = std::make_unique<UringSender>(fd, mode == SendMode::kZeroCopy);
  if (Status st = s->init(); !st) {
    // io_uring refused (a seccomp filter, a locked-down kernel): serve by
    // plain sendmsg rather than refuse every subscriber.
    static std::atomic<bool> said{false};
    if (!said.exchange(true)) {
      std::fprintf(stderr, "reel serve: replay: %s; sending with sendmsg instead\n",
                   st.to_string().c_str());
    }
    return std::unique_ptr<FrameSender>(new CopySender(fd));
  }
  return std::unique_ptr<FrameSender>(std::move(s));
}

void FrameSender::advance(std::vector<iovec>* iov, size_t* first, size_t n) {
  while (*first < iov->size() && n >= (*iov)[*first].iov_len) n -= (*iov)[(*first)++].iov_len;
  if (n > 0) {
    (*iov)[*first].iov_base = static_cast<char*>((*iov)[*first].iov_base) + n;
    (*iov)[*first].iov_len -= n;
  }
}

}  // namespace reel::replay
