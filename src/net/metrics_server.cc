#include "net/metrics_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <deque>
#include <vector>

namespace reel::net {

struct MetricsServer::Client {
  int fd = -1;
  std::chrono::steady_clock::time_point deadline;
  std::string in;   // the request so far
  std::string out;  // the answer, once the request is whole
  size_t sent = 0;
  bool answering = false;
  bool done = false;  // close it
};

namespace {

constexpr size_t kMaxRequest = 8192;

std::string response(const char* status, const char* type, const std::string& body) {
  return std::string("HTTP/1.0 ") + status + "\r\nContent-Type: " + type +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" +
         body;
}

bool request_whole(const std::string& r) {
  return r.find("\r\n\r\n") != std::string::npos || r.find("\n\n") != std::string::npos ||
         r.size() >= kMaxRequest;
}

// Reads what is there; true when the request is whole (or the peer ended
// it: answer what came).
bool read_some(MetricsServer::Client* c) {
  char buf[2048];
  for (;;) {
    const ssize_t n = ::recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return request_whole(c->in);
    if (n <= 0) return true;
    c->in.append(buf, static_cast<size_t>(n));
    if (request_whole(c->in)) return true;
  }
}

// Sends what the socket takes; done once all is out or the peer is gone.
void write_some(MetricsServer::Client* c) {
  while (c->sent < c->out.size()) {
    const ssize_t n = ::send(c->fd, c->out.data() + c->sent, c->out.size() - c->sent,
                             MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0) break;
    c->sent += static_cast<size_t>(n);
  }
  c->done = true;
}

}  // namespace

Result<std::unique_ptr<MetricsServer>> MetricsServer::start(const std::string& address,
                                                            uint16_t port, AllowList allow) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return Status::from_errno("--metrics: socket", errno);
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (inet_pton(AF_INET, address.c_str(), &addr.sin_addr) != 1) {
    ::close(fd);
    return Status::invalid_argument("--metrics: bad address '" + address + "'");
  }
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 64) != 0) {
    const int err = errno;
    ::close(fd);
    return Status::from_errno("--metrics: bind " + address + ":" + std::to_string(port), err);
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  return std::unique_ptr<MetricsServer>(
      new MetricsServer(fd, ntohs(addr.sin_port), std::move(allow)));
}

MetricsServer::MetricsServer(int fd, uint16_t port, AllowList allow)
    : fd_(fd), port_(port), allow_(std::move(allow)) {
  thread_ = std::thread([this] { run(); });
}

MetricsServer::~MetricsServer() {
  stop_.store(true);
  thread_.join();
  ::close(fd_);
}

void MetricsServer::publish(std::string text) {
  MutexLock guard(mu_);
  text_ = std::move(text);
}

std::string MetricsServer::answer(const std::string& request) {
  ++requests_;
  if (request.rfind("GET /metrics ", 0) == 0 || request.rfind("GET /metrics?", 0) == 0) {
    std::string body;
    {
      MutexLock guard(mu_);
      body = text_;
    }
    return response("200 OK", "text/plain; version=0.0.4", body);
  }
  return response("404 Not Found", "text/plain", "reel serve: try GET /metrics\n");
}

void MetricsServer::run() {
  std::deque<Client> clients;  // oldest first
  std::vector<pollfd> polled;
  std::chrono::steady_clock::time_point accept_paused_until{};  // out of descriptors
  while (!stop_.load()) {
    const bool accepting = std::chrono::steady_clock::now() >= accept_paused_until;
    polled.assign(1, pollfd{fd_, static_cast<short>(accepting ? POLLIN : 0), 0});
    for (const Client& c : clients) {
      polled.push_back(pollfd{c.fd, static_cast<short>(c.answering ? POLLOUT : POLLIN), 0});
    }
    if (::poll(polled.data(), polled.size(), 100) < 0 && errno != EINTR) break;
    const auto now = std::chrono::steady_clock::now();
    for (size_t i = 0; i < clients.size(); ++i) {
      Client& c = clients[i];
      const short ev = polled[i + 1].revents;
      if (!c.answering && (ev & (POLLIN | POLLHUP | POLLERR)) && read_some(&c)) {
        c.out = answer(c.in);
        c.answering = true;
      }
      if (c.answering) write_some(&c);
      if (!c.done && now >= c.deadline) {
        c.done = true;
        ++dropped_;
      }
    }
    std::erase_if(clients, [](const Client& c) {
      if (c.done) ::close(c.fd);
      return c.done;
    });
    if (!(polled[0].revents & POLLIN)) continue;
    for (;;) {
      const int fd = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd < 0 && (errno == EMFILE || errno == ENFILE)) {
        accept_paused_until = now + std::chrono::milliseconds(100);  // not a spin
      }
      if (fd < 0) break;
      if (std::string peer; !allow_.allows_socket(fd, &peer)) {
        ::close(fd);
        ++dropped_;
        continue;
      }
      if (clients.size() >= kMaxClients) {
        ::close(clients.front().fd);
        clients.pop_front();
        ++dropped_;
      }
      clients.push_back(Client{fd, now + kRequestDeadline, {}, {}, 0, false, false});
    }
  }
  for (const Client& c : clients) ::close(c.fd);
}

}  // namespace reel::net
