#include "reel/publisher.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "client/connect.h"
#include "util/coding.h"
#include "util/log_limit.h"
#include "wire/ack_protocol.h"

namespace reel {
namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

struct Publisher::Impl {
  std::string peer;
  Options options;
  int fd = -1;
  std::vector<uint8_t> out;  // bytes not yet sent, from out_off
  size_t out_off = 0;
  uint8_t in[feed::kAckBytes] = {};
  size_t in_len = 0;
  uint64_t published = 0;
  feed::Ack acked;
  bool peer_closed = false;  // the server closed once every record was acknowledged
  bool closed_cleanly = false;
  Status broken;  // set once the connection failed or was closed by the server

  ~Impl() {
    if (fd >= 0) ::close(fd);
  }
  Status lost(const std::string& what) {
    broken = Status::failed(peer + ": " + what + " with " + std::to_string(acked.count) + " of " +
                            std::to_string(published) + " records acknowledged");
    return broken;
  }
  Status read_acks();
  Status refused(uint64_t length);
  Status write_some();
  // Sends everything buffered; with `all_acked`, also waits for every ack.
  Status pump(bool all_acked, std::chrono::nanoseconds timeout);
};

Status Publisher::Impl::read_acks() {
  for (;;) {
    const ssize_t n = ::recv(fd, in + in_len, sizeof in - in_len, MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return Status::ok();
    if (n < 0) return lost(std::string("connection failed (") + std::strerror(errno) + ")");
    if (n == 0 && acked.count == published && out_off == out.size()) {
      peer_closed = true;  // nothing was owed; the next record has nowhere to go
      return Status::ok();
    }
    if (n == 0) return lost("the server closed the connection");
    in_len += static_cast<size_t>(n);
    if (in_len == sizeof in) {
      const feed::Ack a = feed::decode_ack(in);
      if (a.count == feed::kAckRefusal) return refused(a.last_seq);
      if (a.count < acked.count || a.count > published) {
        return lost("bad acknowledgement (count " + std::to_string(a.count) + ")");
      }
      acked = a;
      in_len = 0;
    }
  }
}

// The server refused the connection (wire/ack_protocol.h): its reason, read
// within a second, is the error.
Status Publisher::Impl::refused(uint64_t length) {
  std::string reason(std::min<uint64_t>(length, feed::kMaxRefusalBytes), '\0');
  size_t got = 0;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  while (got < reason.size() && std::chrono::steady_clock::now() < until) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    const ssize_t n = ::recv(fd, reason.data() + got, reason.size() - got, MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  reason.resize(got);
  broken = Status::failed(peer + ": refused by the server: " + printable(reason));
  return broken;
}

Status Publisher::Impl::write_some() {
  while (out_off < out.size()) {
    const ssize_t n = ::send(fd, out.data() + out_off, out.size() - out_off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return Status::ok();
    if (n < 0) return lost(std::string("sending failed (") + std::strerror(errno) + ")");
    out_off += static_cast<size_t>(n);
  }
  out.clear();
  out_off = 0;
  return Status::ok();
}

Status Publisher::Impl::pump(bool all_acked, std::chrono::nanoseconds timeout) {
  if (!broken) return broken;
  const auto start = Clock::now();
  for (;;) {
    if (peer_closed) {
      if (out_off == out.size() && acked.count == published) return Status::ok();
      return lost("the server closed the connection");
    }
    if (Status s = write_some(); !s) return s;
    if (Status s = read_acks(); !s) return s;
    const bool sending = out_off < out.size();
    if (!sending && (!all_acked || acked.count == published)) return Status::ok();
    int wait_ms = -1;
    if (timeout.count() >= 0) {
      const auto left = timeout - (Clock::now() - start);
      if (left.count() <= 0) {
        return Status::busy(peer + ": " + std::to_string(published - acked.count) +
                            " records not yet acknowledged");
      }
      wait_ms = static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(left).count());
    }
    pollfd p{fd, static_cast<short>(POLLIN | (sending ? POLLOUT : 0)), 0};
    if (::poll(&p, 1, wait_ms) < 0 && errno != EINTR) {
      return lost(std::string("poll failed (") + std::strerror(errno) + ")");
    }
  }
}

Publisher::Publisher(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Publisher::~Publisher() = default;

Result<std::unique_ptr<Publisher>> Publisher::connect(const std::string& host_port,
                                                      const Options& options) {
  auto fd = client::connect_to(host_port, options.connect_timeout);
  if (!fd) return fd.status();
  auto impl = std::make_unique<Impl>();
  impl->peer = host_port;
  impl->options = options;
  impl->fd = *fd;
  const uint32_t hello = feed::ack_hello(options.level);
  impl->out.resize(4);
  encode_fixed32(impl->out.data(), hello);
  return std::unique_ptr<Publisher>(new Publisher(std::move(impl)));
}

Status Publisher::publish(std::string_view payload) {
  if (!impl_->broken) return impl_->broken;
  if (impl_->fd < 0) return Status::failed(impl_->peer + ": publisher is closed");
  if (payload.size() > (64u << 20)) {
    return Status::invalid_argument("record of " + std::to_string(payload.size()) +
                                    " bytes: more than 64 MiB");
  }
  auto& out = impl_->out;
  const auto len = static_cast<uint32_t>(payload.size());
  uint8_t header[4];
  encode_fixed32(header, len);
  out.insert(out.end(), header, header + 4);
  out.insert(out.end(), payload.begin(), payload.end());
  ++impl_->published;
  if (out.size() - impl_->out_off < impl_->options.buffer_bytes) return Status::ok();
  return impl_->pump(false, std::chrono::nanoseconds(-1));
}

Status Publisher::flush(std::chrono::nanoseconds timeout) {
  if (impl_->fd < 0) return impl_->broken;
  return impl_->pump(true, timeout);
}

Status Publisher::close(std::chrono::nanoseconds timeout) {
  if (impl_->closed_cleanly) return Status::ok();
  if (impl_->fd < 0) return impl_->broken;
  const auto start = Clock::now();
  Status s = flush(timeout);
  if (s && !impl_->peer_closed) {
    // Half-close and wait for the server's close: nothing more to come.
    ::shutdown(impl_->fd, SHUT_WR);
    pollfd p{impl_->fd, POLLIN, 0};
    int wait_ms = -1;
    if (timeout.count() >= 0) {
      const auto left = timeout - (Clock::now() - start);
      wait_ms =
          std::max(0, static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(left).count()));
    }
    char byte;
    if (::poll(&p, 1, wait_ms) > 0 && ::recv(impl_->fd, &byte, 1, MSG_DONTWAIT) > 0) {
      s = impl_->lost("unexpected bytes after the last acknowledgement");
    }
  }
  ::close(impl_->fd);
  impl_->fd = -1;
  impl_->closed_cleanly = static_cast<bool>(s);
  if (s) impl_->broken = Status::failed(impl_->peer + ": publisher is closed");
  return s;
}

uint64_t Publisher::published() const {
  return impl_->published;
}
uint64_t Publisher::acknowledged() const {
  return impl_->acked.count;
}
uint64_t Publisher::last_acknowledged_seq() const {
  return impl_->acked.last_seq;
}

}  // namespace reel
