#include "net/udp_receiver.h"

#include <arpa/inet.h>
#include <liburing.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "net/buffer_ring.h"

namespace reel::net {
namespace {

constexpr unsigned kBuffers = 512;  // a power of two
constexpr uint16_t kBufferGroup = 7;
constexpr size_t kControlBytes = CMSG_SPACE(sizeof(timespec)) + CMSG_SPACE(sizeof(uint32_t));

Status socket_error(const feed::Endpoint& e, const std::string& what, int err) {
  return Status::from_errno(feed::endpoint_name(e) + ": " + what, err);
}

in_addr ipv4(const std::string& a) {
  in_addr out{};
  inet_pton(AF_INET, a.c_str(), &out);
  return out;
}

// A bound socket for `e`, with receive timestamps and drop counts on.
Result<int> open_socket(const feed::Endpoint& e) {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return socket_error(e, "socket", errno);
  const int one = 1, zero = 0, rcvbuf = 16 << 20;
  const bool mcast = e.kind == feed::Endpoint::Kind::kMulticast;
  // Only a multicast socket shares its port: two unicast sockets on one port
  // would each get some of the datagrams.
  if (mcast) ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  // As large a receive buffer as allowed (SO_RCVBUFFORCE needs CAP_NET_ADMIN).
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) != 0) {
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  }
  if (::setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one) != 0 ||
      ::setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof one) != 0) {
    const int err = errno;
    ::close(fd);
    return socket_error(e, "receive timestamps and drop counts", err);
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(e.port);
  addr.sin_addr = ipv4(e.address);  // a multicast socket binds to its group
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    const int err = errno;
    ::close(fd);
    return socket_error(e, "bind " + e.address + ":" + std::to_string(e.port), err);
  }
  if (!mcast) return fd;
  // Only the groups this socket joined, on the interface it joined them on.
  ::setsockopt(fd, IPPROTO_IP, IP_MULTICAST_ALL, &zero, sizeof zero);
  int rc;
  if (e.source.empty()) {
    ip_mreq m{ipv4(e.address), ipv4(e.interface)};
    rc = ::setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m, sizeof m);
  } else {
    ip_mreq_source m{};
    m.imr_multiaddr = ipv4(e.address);
    m.imr_interface = ipv4(e.interface);
    m.imr_sourceaddr = ipv4(e.source);
    rc = ::setsockopt(fd, IPPROTO_IP, IP_ADD_SOURCE_MEMBERSHIP, &m, sizeof m);
  }
  if (rc != 0) {
    const int err = errno;
    ::close(fd);
    return socket_error(e, "join " + e.address + " on " + e.interface, err);
  }
  return fd;
}

}  // namespace

struct UdpReceiver::Impl {
  std::vector<feed::Endpoint> endpoints;
  std::vector<int> fds;
  std::vector<uint16_t> ports;
  std::vector<uint64_t> drops;
  io_uring ring{};
  bool ring_ready = false;
  BufferRing buffers;  // outlives the ring: ~Impl tears the ring down first
  msghdr msg{};        // the shape of every receive: name and control sizes

  ~Impl() {
    if (ring_ready) io_uring_queue_exit(&ring);  // before the buffers it may fill go
    for (int fd : fds) ::close(fd);
  }

  Status setup(size_t max_datagram);
  void arm(size_t i) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring);
    io_uring_prep_recvmsg_multishot(sqe, fds[i], &msg, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = buffers.group();
    io_uring_sqe_set_data64(sqe, i);
  }
  // Handles one completion; returns a socket error that ends receiving.
  Status handle(const io_uring_cqe* cqe, const std::function<void(const Datagram&)>& fn);
};

Status UdpReceiver::Impl::setup(size_t max_datagram) {
  int rc = io_uring_queue_init(256, &ring, 0);
  if (rc < 0) return Status::from_errno("io_uring_queue_init", -rc);
  ring_ready = true;
  msg.msg_namelen = sizeof(sockaddr_in);
  msg.msg_controllen = kControlBytes;
  // Each buffer: the recvmsg header, the name, the control data, then at
  // most max_datagram bytes of payload; a longer datagram comes MSG_TRUNC.
  Status s =
      buffers.setup(&ring, kBufferGroup, kBuffers,
                    sizeof(io_uring_recvmsg_out) + msg.msg_namelen + kControlBytes + max_datagram);
  if (!s) return s;
  for (size_t i = 0; i < fds.size(); ++i) arm(i);
  rc = io_uring_submit(&ring);
  return rc < 0 ? Status::from_errno("io_uring_submit", -rc) : Status::ok();
}

Status UdpReceiver::Impl::handle(const io_uring_cqe* cqe,
                                 const std::function<void(const Datagram&)>& fn) {
  const size_t i = static_cast<size_t>(io_uring_cqe_get_data64(cqe));
  if (cqe->res < 0 && cqe->res != -ENOBUFS) {
    return Status::from_errno(feed::endpoint_name(endpoints[i]) + ": receive", -cqe->res);
  }
  // The multishot ended (a full buffer ring ends it with ENOBUFS): go again;
  // the buffers handled in this batch are back before the next submit.
  if (!(cqe->flags & IORING_CQE_F_MORE)) arm(i);
  if (cqe->res < 0 || !(cqe->flags & IORING_CQE_F_BUFFER)) return Status::ok();
  const unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
  uint8_t* buf = buffers.data(bid);
  io_uring_recvmsg_out* out = io_uring_recvmsg_validate(buf, cqe->res, &msg);
  if (out != nullptr) {
    Datagram d;
    d.endpoint = i;
    d.truncated = (out->flags & MSG_TRUNC) != 0;
    for (cmsghdr* c = io_uring_recvmsg_cmsg_firsthdr(out, &msg); c != nullptr;
         c = io_uring_recvmsg_cmsg_nexthdr(out, &msg, c)) {
      if (c->cmsg_level != SOL_SOCKET) continue;
      if (c->cmsg_type == SCM_TIMESTAMPNS) {
        timespec t;
        std::memcpy(&t, CMSG_DATA(c), sizeof t);
        d.ts_ns = static_cast<uint64_t>(t.tv_sec) * 1'000'000'000ull + t.tv_nsec;
      } else if (c->cmsg_type == SO_RXQ_OVFL) {
        uint32_t n;
        std::memcpy(&n, CMSG_DATA(c), sizeof n);
        drops[i] = n;
      }
    }
    d.payload = {static_cast<const uint8_t*>(io_uring_recvmsg_payload(out, &msg)),
                 io_uring_recvmsg_payload_length(out, cqe->res, &msg)};
    fn(d);
  }
  buffers.give_back(bid);
  return Status::ok();
}

UdpReceiver::UdpReceiver(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
UdpReceiver::~UdpReceiver() = default;

Result<std::unique_ptr<UdpReceiver>> UdpReceiver::open(const std::vector<feed::Endpoint>& endpoints,
                                                       size_t max_datagram) {
  auto impl = std::make_unique<Impl>();
  impl->endpoints = endpoints;
  for (const auto& e : endpoints) {
    auto fd = open_socket(e);
    if (!fd) return fd.status();
    impl->fds.push_back(*fd);
    sockaddr_in bound{};
    socklen_t len = sizeof bound;
    ::getsockname(*fd, reinterpret_cast<sockaddr*>(&bound), &len);
    impl->ports.push_back(ntohs(bound.sin_port));
    impl->drops.push_back(0);
  }
  if (Status s = impl->setup(max_datagram); !s) return s;
  return std::unique_ptr<UdpReceiver>(new UdpReceiver(std::move(impl)));
}

Result<size_t> UdpReceiver::poll(std::chrono::milliseconds timeout,
                                 const std::function<void(const Datagram&)>& fn) {
  size_t handled = 0;
  auto count = [&](const Datagram& d) {
    ++handled;
    fn(d);
  };
  Status s = drain_completions(&impl_->ring, timeout,
                               [&](const io_uring_cqe* cqe) { return impl_->handle(cqe, count); });
  if (!s) return s;
  return handled;
}

uint16_t UdpReceiver::port(size_t i) const {
  return impl_->ports[i];
}
uint64_t UdpReceiver::kernel_drops(size_t i) const {
  return impl_->drops[i];
}

}  // namespace reel::net
