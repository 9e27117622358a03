#include "net/ack_ledger.h"

#include <sys/socket.h>

#include <cerrno>

namespace reel::net {

void AckLedger::stored(uint64_t records, uint64_t last_seq) {
  if (records == 0) return;
  stored_ += records;
  pending_.push_back({stored_, last_seq});
}

void AckLedger::advance(const Watermarks& w) {
  const uint64_t reached = feed::level_seq(w, level_);
  while (!pending_.empty() && pending_.front().last_seq <= reached) {
    acked_ = pending_.front();
    pending_.pop_front();
    dirty_ = true;
  }
}

Status AckLedger::send(int fd) {
  for (;;) {
    if (out_off_ == out_len_) {
      if (!dirty_) return Status::ok();
      feed::encode_ack(acked_, out_);
      out_len_ = sizeof out_;
      out_off_ = 0;
      dirty_ = false;
    }
    const ssize_t n = ::send(fd, out_ + out_off_, out_len_ - out_off_, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return Status::ok();
    if (n < 0) return Status::from_errno("sending an acknowledgement", errno);
    out_off_ += static_cast<size_t>(n);
    bytes_sent_ += static_cast<uint64_t>(n);
  }
}

}  // namespace reel::net
