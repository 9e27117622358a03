#include "net/tcp_receiver.h"

#include <arpa/inet.h>
#include <liburing.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <map>

#include "feed/framing.h"
#include "net/buffer_ring.h"

namespace reel::net {
namespace {

constexpr unsigned kBuffers = 256;  // a power of two
constexpr size_t kBufferBytes = 64 << 10;
constexpr uint16_t kBufferGroup = 9;
constexpr uint64_t kAcceptTag = uint64_t{1} << 63;  // user_data: accept of endpoint i

uint64_t now_ns() {
  timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return static_cast<uint64_t>(t.tv_sec) * 1'000'000'000ull + t.tv_nsec;
}

Result<int> listen_on(const feed::Endpoint& e) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::from_errno(feed::endpoint_name(e) + ": socket", errno);
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);  // restart while TIME_WAIT
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(e.port);
  inet_pton(AF_INET, e.address.c_str(), &addr.sin_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 128) != 0) {
    const int err = errno;
    ::close(fd);
    return Status::from_errno(
        feed::endpoint_name(e) + ": bind " + e.address + ":" + std::to_string(e.port), err);
  }
  return fd;
}

struct Connection {
  size_t endpoint;
  int fd;
  std::string peer;
  feed::Deframer deframer;
};

}  // namespace

struct TcpReceiver::Impl {
  std::vector<feed::Endpoint> endpoints;
  std::vector<int> listeners;
  std::vector<uint16_t> ports;
  std::vector<TcpEndpointCounts> counts;
  size_t max_record = 0, max_connections = 0;
  std::map<uint64_t, Connection> conns;  // by id (the recv's user_data)
  uint64_t next_id = 1;
  io_uring ring{};
  bool ring_ready = false;
  BufferRing buffers;  // outlives the ring: ~Impl tears the ring down first

  ~Impl() {
    if (ring_ready) io_uring_queue_exit(&ring);
    for (auto& [id, c] : conns) ::close(c.fd);
    for (int fd : listeners) ::close(fd);
  }

  Status setup();
  void arm_accept(size_t i) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring);
    io_uring_prep_multishot_accept(sqe, listeners[i], nullptr, nullptr, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, kAcceptTag | i);
  }
  void arm_recv(uint64_t id, int fd) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring);
    io_uring_prep_recv_multishot(sqe, fd, nullptr, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = buffers.group();
    io_uring_sqe_set_data64(sqe, id);
  }
  void accepted(size_t i, int fd);
  void close_conn(uint64_t id);
  Status handle(const io_uring_cqe* cqe, const std::function<void(const TcpRecord&)>& fn);
};

Status TcpReceiver::Impl::setup() {
  int rc = io_uring_queue_init(512, &ring, 0);
  if (rc < 0) return Status::from_errno("io_uring_queue_init", -rc);
  ring_ready = true;
  if (Status s = buffers.setup(&ring, kBufferGroup, kBuffers, kBufferBytes); !s) return s;
  for (size_t i = 0; i < listeners.size(); ++i) arm_accept(i);
  rc = io_uring_submit(&ring);
  return rc < 0 ? Status::from_errno("io_uring_submit", -rc) : Status::ok();
}

void TcpReceiver::Impl::accepted(size_t i, int fd) {
  ++counts[i].connections;
  if (conns.size() >= max_connections) {
    ++counts[i].refused;
    ::close(fd);
    return;
  }
  sockaddr_in peer{};
  socklen_t len = sizeof peer;
  ::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len);
  char ip[INET_ADDRSTRLEN] = "?";
  inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof ip);
  const uint64_t id = next_id++;
  conns.emplace(id, Connection{i, fd, std::string(ip) + ":" + std::to_string(ntohs(peer.sin_port)),
                               feed::Deframer(endpoints[i].framing, max_record)});
  ++counts[i].open;
  arm_recv(id, fd);
}

void TcpReceiver::Impl::close_conn(uint64_t id) {
  auto it = conns.find(id);
  if (it == conns.end()) return;
  --counts[it->second.endpoint].open;
  ::shutdown(it->second.fd, SHUT_RDWR);  // ends the multishot recv
  ::close(it->second.fd);
  conns.erase(it);
}

Status TcpReceiver::Impl::handle(const io_uring_cqe* cqe,
                                 const std::function<void(const TcpRecord&)>& fn) {
  const uint64_t tag = io_uring_cqe_get_data64(cqe);
  if (tag & kAcceptTag) {
    const size_t i = static_cast<size_t>(tag & ~kAcceptTag);
    if (cqe->res >= 0) accepted(i, cqe->res);
    if (!(cqe->flags & IORING_CQE_F_MORE)) arm_accept(i);
    return Status::ok();
  }
  auto it = conns.find(tag);
  const bool has_buffer = (cqe->flags & IORING_CQE_F_BUFFER) != 0;
  const unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
  if (it != conns.end() && cqe->res > 0 && has_buffer) {
    Connection& c = it->second;
    const uint64_t ts = now_ns();
    Status s = c.deframer.feed({buffers.data(bid), static_cast<size_t>(cqe->res)},
                               [&](std::span<const uint8_t> r) {
                                 fn({c.endpoint, r, ts});
                               });
    if (!s) {
      ++counts[c.endpoint].framing_errors;
      std::fprintf(stderr, "reel serve: %s: closing %s: %s\n",
                   feed::endpoint_name(endpoints[c.endpoint]).c_str(), c.peer.c_str(),
                   s.message().c_str());
      close_conn(tag);
    } else if (!(cqe->flags & IORING_CQE_F_MORE)) {
      arm_recv(tag, c.fd);
    }
  } else if (it != conns.end() && cqe->res == -ENOBUFS) {
    arm_recv(tag, it->second.fd);  // buffers run out: they are back before the next submit
  } else if (it != conns.end() && !(cqe->flags & IORING_CQE_F_MORE)) {
    close_conn(tag);  // the peer closed (0) or the connection failed
  }
  if (has_buffer) buffers.give_back(bid);
  return Status::ok();
}

TcpReceiver::TcpReceiver(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TcpReceiver::~TcpReceiver() = default;

Result<std::unique_ptr<TcpReceiver>> TcpReceiver::open(const std::vector<feed::Endpoint>& endpoints,
                                                       size_t max_record, size_t max_connections) {
  auto impl = std::make_unique<Impl>();
  impl->endpoints = endpoints;
  impl->max_record = max_record;
  impl->max_connections = max_connections;
  for (const auto& e : endpoints) {
    auto fd = listen_on(e);
    if (!fd) return fd.status();
    impl->listeners.push_back(*fd);
    sockaddr_in bound{};
    socklen_t len = sizeof bound;
    ::getsockname(*fd, reinterpret_cast<sockaddr*>(&bound), &len);
    impl->ports.push_back(ntohs(bound.sin_port));
    impl->counts.emplace_back();
  }
  if (Status s = impl->setup(); !s) return s;
  return std::unique_ptr<TcpReceiver>(new TcpReceiver(std::move(impl)));
}

Result<size_t> TcpReceiver::poll(std::chrono::milliseconds timeout,
                                 const std::function<void(const TcpRecord&)>& fn) {
  size_t handled = 0;
  auto count = [&](const TcpRecord& r) {
    ++handled;
    fn(r);
  };
  Status s = drain_completions(&impl_->ring, timeout,
                               [&](const io_uring_cqe* cqe) { return impl_->handle(cqe, count); });
  if (!s) return s;
  return handled;
}

uint16_t TcpReceiver::port(size_t i) const {
  return impl_->ports[i];
}
const TcpEndpointCounts& TcpReceiver::counts(size_t i) const {
  return impl_->counts[i];
}

}  // namespace reel::net
