#include "client/connect.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace reel::client {
namespace {

Result<addrinfo*> resolve(const std::string& host_port) {
  const size_t colon = host_port.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == host_port.size()) {
    return Status::invalid_argument("bad address '" + host_port + "' (HOST:PORT)");
  }
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int rc = ::getaddrinfo(host_port.substr(0, colon).c_str(),
                               host_port.substr(colon + 1).c_str(), &hints, &found);
  if (rc != 0) {
    return Status::invalid_argument(host_port + ": " + std::string(::gai_strerror(rc)));
  }
  return found;
}

}  // namespace

Result<int> connect_to(const std::string& host_port, std::chrono::milliseconds timeout) {
  auto ai = resolve(host_port);
  if (!ai) return ai.status();
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ::freeaddrinfo(*ai);
    return Status::from_errno(host_port + ": socket", errno);
  }
  int rc = ::connect(fd, (*ai)->ai_addr, (*ai)->ai_addrlen);
  int err = rc == 0 ? 0 : errno;
  ::freeaddrinfo(*ai);
  if (err == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    rc = ::poll(&p, 1, static_cast<int>(timeout.count()));
    socklen_t len = sizeof err;
    if (rc == 0) {
      err = ETIMEDOUT;
    } else if (rc < 0 || ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
      err = errno;
    }
  }
  if (err != 0) {
    ::close(fd);
    return Status::from_errno("connecting to " + host_port, err);
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

}  // namespace reel::client
