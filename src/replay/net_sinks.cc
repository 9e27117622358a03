// The built-in network sinks of reel::Replayer: UDP (unicast or multicast)
// and TCP, sending payloads (or stored frames) straight from the mapped
// segments through iovecs: the kernel's copy into its socket buffers is the
// only one.
#include <arpa/inet.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <vector>

#include "reel/replayer.h"
#include "util/coding.h"

namespace reel {
namespace {

constexpr size_t kBatch = 64;
constexpr size_t kFlushBytes = 1 << 20;  // frames: send once this much is held

struct Url {
  std::string scheme, host, port;
  std::map<std::string, std::string> params;
};

Result<Url> parse_url(const std::string& text) {
  Url u;
  const size_t colon = text.find("://");
  if (colon == std::string::npos) return Status::invalid_argument("bad destination '" + text + "'");
  u.scheme = text.substr(0, colon);
  std::string rest = text.substr(colon + 3);
  if (const size_t q = rest.find('?'); q != std::string::npos) {
    std::string query = rest.substr(q + 1);
    rest.resize(q);
    for (size_t at = 0; at <= query.size();) {
      size_t amp = query.find('&', at);
      if (amp == std::string::npos) amp = query.size();
      const std::string kv = query.substr(at, amp - at);
      const size_t eq = kv.find('=');
      if (eq == std::string::npos || eq == 0) {
        return Status::invalid_argument("bad option '" + kv + "' in '" + text + "'");
      }
      u.params[kv.substr(0, eq)] = kv.substr(eq + 1);
      at = amp + 1;
    }
  }
  const size_t port = rest.rfind(':');
  if (port == std::string::npos || port == 0 || port + 1 == rest.size()) {
    return Status::invalid_argument("bad destination '" + text + "' (HOST:PORT)");
  }
  u.host = rest.substr(0, port);
  u.port = rest.substr(port + 1);
  return u;
}

Result<sockaddr_in> resolve(const Url& u, const std::string& text) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  addrinfo* found = nullptr;
  if (int rc = ::getaddrinfo(u.host.c_str(), u.port.c_str(), &hints, &found); rc != 0) {
    return Status::invalid_argument(text + ": " + ::gai_strerror(rc));
  }
  sockaddr_in a;
  std::memcpy(&a, found->ai_addr, sizeof a);
  ::freeaddrinfo(found);
  return a;
}

class UdpSink final : public ReplaySink {
 public:
  UdpSink(int fd, std::string name) : fd_(fd), name_(std::move(name)) {}
  ~UdpSink() override { ::close(fd_); }

  Status send(const RecordView& r, uint64_t due_ns) override {
    const auto p = r.payload();
    if (p.size() > 65507) {
      return Status::invalid_argument(name_ + ": record seq " + std::to_string(r.seq()) + " has " +
                                      std::to_string(p.size()) +
                                      " bytes, more than one UDP datagram holds");
    }
    iov_[n_] = {const_cast<char*>(p.data()), p.size()};
    msgs_[n_] = {};
    msgs_[n_].msg_hdr.msg_iov = &iov_[n_];
    msgs_[n_].msg_hdr.msg_iovlen = 1;
    ++n_;
    (void)due_ns;  // paced or not, the replayer says when to flush
    return n_ == kBatch ? flush() : Status::ok();
  }

  Status flush() override {
    size_t done = 0;
    while (done < n_) {
      const int k = ::sendmmsg(fd_, msgs_ + done, static_cast<unsigned>(n_ - done), 0);
      // ECONNREFUSED reports an earlier datagram nobody took (no listener
      // yet): this one was not sent, send it again.
      if (k < 0 && errno == ECONNREFUSED) continue;
      if (k < 0 && errno == EINTR) return Status::busy(name_ + ": interrupted");
      if (k < 0) return Status::from_errno(name_, errno);
      done += static_cast<size_t>(k);
    }
    n_ = 0;
    return Status::ok();
  }

 private:
  int fd_;
  std::string name_;
  iovec iov_[kBatch];
  mmsghdr msgs_[kBatch];
  size_t n_ = 0;
};

Result<std::unique_ptr<ReplaySink>> open_udp(const Url& u, const std::string& text) {
  auto to = resolve(u, text);
  if (!to) return to.status();
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::from_errno(text, errno);
  auto sink = std::make_unique<UdpSink>(fd, text);
  if (IN_MULTICAST(ntohl(to->sin_addr.s_addr))) {
    int ttl = 1;
    if (u.params.count("ttl")) {
      const std::string& t = u.params.at("ttl");
      if (t.empty() || t.size() > 3 || t.find_first_not_of("0123456789") != std::string::npos ||
          std::stoi(t) > 255) {
        return Status::invalid_argument(text + ": bad ttl '" + t + "' (0 to 255)");
      }
      ttl = std::stoi(t);
    }
    if (::setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl) != 0) {
      return Status::from_errno(text + ": IP_MULTICAST_TTL", errno);
    }
    if (u.params.count("iface")) {
      ip_mreqn m{};
      m.imr_ifindex = static_cast<int>(::if_nametoindex(u.params.at("iface").c_str()));
      if (m.imr_ifindex == 0) {
        return Status::invalid_argument(text + ": no interface '" + u.params.at("iface") + "'");
      }
      if (::setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &m, sizeof m) != 0) {
        return Status::from_errno(text + ": IP_MULTICAST_IF", errno);
      }
    }
  }
  for (const auto& [k, v] : u.params) {
    if (k != "ttl" && k != "iface")
      return Status::invalid_argument(text + ": unknown option '" + k + "'");
  }
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&*to), sizeof *to) != 0) {
    return Status::from_errno(text, errno);
  }
  return std::unique_ptr<ReplaySink>(std::move(sink));
}

enum class Framing { kRaw, kLp, kU16be, kFrames };

class TcpSink final : public ReplaySink {
 public:
  TcpSink(int fd, std::string name, Framing f) : fd_(fd), name_(std::move(name)), framing_(f) {}
  ~TcpSink() override { ::close(fd_); }

  Status send(const RecordView& r, uint64_t due_ns) override {
    (void)due_ns;  // paced or not, the replayer says when to flush
    if (framing_ == Framing::kFrames) {
      // Frames that follow each other in a segment go as one iovec.
      const auto f = r.frame();
      auto* start = const_cast<std::byte*>(f.data());
      if (n_ > 0 &&
          static_cast<std::byte*>(iov_[n_ - 1].iov_base) + iov_[n_ - 1].iov_len == start) {
        iov_[n_ - 1].iov_len += f.size();
      } else {
        iov_[n_++] = {start, f.size()};
      }
      bytes_ += f.size();
      ++records_;
      return n_ == 2 * kBatch || bytes_ >= kFlushBytes ? flush() : Status::ok();
    } else {
      const auto p = r.payload();
      uint8_t* h = headers_[records_];
      if (framing_ == Framing::kLp) {
        const auto len = static_cast<uint32_t>(p.size());
        encode_fixed32(h, len);
        iov_[n_++] = {h, 4};
      } else if (framing_ == Framing::kU16be) {
        if (p.size() > 0xffff) {
          return Status::invalid_argument(name_ + ": record seq " + std::to_string(r.seq()) +
                                          " has " + std::to_string(p.size()) +
                                          " bytes, more than u16be can frame");
        }
        encode_big16(h, static_cast<uint16_t>(p.size()));
        iov_[n_++] = {h, 2};
      }
      iov_[n_++] = {const_cast<char*>(p.data()), p.size()};
    }
    ++records_;
    return records_ == kBatch ? flush() : Status::ok();
  }

  Status flush() override {
    size_t first = 0;
    while (first < n_) {
      msghdr m{};
      m.msg_iov = iov_ + first;
      m.msg_iovlen = n_ - first;
      const ssize_t w = ::sendmsg(fd_, &m, MSG_NOSIGNAL);
      if (w < 0 && errno == EINTR) return Status::busy(name_ + ": interrupted");
      if (w < 0) return Status::from_errno(name_, errno);
      size_t left = static_cast<size_t>(w);
      while (first < n_ && left >= iov_[first].iov_len) left -= iov_[first++].iov_len;
      if (left > 0) {  // a partial iovec: send the rest of it next
        iov_[first].iov_base = static_cast<char*>(iov_[first].iov_base) + left;
        iov_[first].iov_len -= left;
      }
    }
    n_ = records_ = bytes_ = 0;
    return Status::ok();
  }

 private:
  int fd_;
  std::string name_;
  Framing framing_;
  iovec iov_[2 * kBatch];
  uint8_t headers_[kBatch][4];
  size_t n_ = 0, records_ = 0, bytes_ = 0;
};

Result<std::unique_ptr<ReplaySink>> open_tcp(const Url& u, const std::string& text) {
  Framing f = Framing::kLp;
  for (const auto& [k, v] : u.params) {
    if (k != "framing") return Status::invalid_argument(text + ": unknown option '" + k + "'");
    if (v == "raw") {
      f = Framing::kRaw;
    } else if (v == "lp") {
      f = Framing::kLp;
    } else if (v == "u16be") {
      f = Framing::kU16be;
    } else if (v == "frames") {
      f = Framing::kFrames;
    } else {
      return Status::invalid_argument(text + ": unknown framing '" + v +
                                      "' (raw, lp, u16be or frames)");
    }
  }
  auto to = resolve(u, text);
  if (!to) return to.status();
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::from_errno(text, errno);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&*to), sizeof *to) != 0) {
    const int err = errno;
    ::close(fd);
    return Status::from_errno("connecting to " + text, err);
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return std::unique_ptr<ReplaySink>(std::make_unique<TcpSink>(fd, text, f));
}

}  // namespace

Result<std::unique_ptr<ReplaySink>> open_network_sink(const std::string& url) {
  auto u = parse_url(url);
  if (!u) return u.status();
  if (u->scheme == "udp") return open_udp(*u, url);
  if (u->scheme == "tcp") return open_tcp(*u, url);
  return Status::invalid_argument("unknown destination '" + url + "' (udp://, tcp://)");
}

}  // namespace reel
