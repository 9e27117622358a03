// Raw loopback TCP, the baseline of the benchmarks that send over TCP: a
// thread receives and discards while the caller's thread sends from memory.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "bench_util.h"

namespace reel::bench {

// A TCP listener on 127.0.0.1 at a port the kernel picks (*port).
inline int listen_loopback(uint16_t* port) {
  const int lfd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::listen(lfd, 1);
  socklen_t len = sizeof a;
  ::getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len);
  *port = ntohs(a.sin_port);
  return lfd;
}

// A listener whose thread receives and discards one connection.
struct Drain {
  int lfd = -1;
  uint16_t port = 0;
  std::thread t;
  Drain() {
    lfd = listen_loopback(&port);
    t = std::thread([this] {
      const int fd = ::accept(lfd, nullptr, nullptr);
      std::vector<char> buf(1 << 20);
      while (::recv(fd, buf.data(), buf.size(), 0) > 0) {
      }
      ::close(fd);
    });
  }
  ~Drain() {
    t.join();
    ::close(lfd);
  }
};

inline double thread_cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

struct TcpBaseline {
  double mb_s = 0;
  double sender_cpu_s = 0;  // the sending thread's CPU time
};

// `bytes` sent over loopback TCP in 256 KiB send()s.
inline TcpBaseline raw_tcp(uint64_t bytes) {
  Drain drain;
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(drain.port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    std::fprintf(stderr, "raw TCP baseline: connect failed\n");
    std::exit(1);
  }
  std::vector<char> buf(256 << 10, 'b');
  const double cpu0 = thread_cpu_seconds();
  const auto t0 = Clock::now();
  for (uint64_t sent = 0; sent < bytes;) {
    const ssize_t w = ::send(fd, buf.data(), std::min<uint64_t>(buf.size(), bytes - sent), 0);
    if (w <= 0) {
      std::fprintf(stderr, "raw TCP baseline: send failed\n");
      std::exit(1);
    }
    sent += static_cast<uint64_t>(w);
  }
  ::close(fd);
  TcpBaseline b;
  b.mb_s = static_cast<double>(bytes) / 1e6 / seconds_since(t0);
  b.sender_cpu_s = thread_cpu_seconds() - cpu0;
  return b;
}

inline double raw_tcp_mb_s(uint64_t bytes) {
  return raw_tcp(bytes).mb_s;
}

}  // namespace reel::bench
