// A `reel serve` child process for end-to-end tests, and small TCP helpers.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "test_util.h"

namespace reel {

// A running `reel serve`, its stderr in a file.
struct Server {
  pid_t pid = -1;
  std::string err_path;
  ~Server() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
  // SIGINT, then the exit status (-1 if it did not end in 30 s).
  int interrupt() {
    if (::kill(pid, SIGINT) != 0) return -1;
    const int rc = testing::wait_child(pid, std::chrono::seconds(30));
    pid = -1;
    return rc;
  }
  // Every "listening on port N", in the order printed, once `count` are there.
  std::vector<int> ports(size_t count) const {
    const std::regex re("listening on port ([0-9]+)");
    for (int i = 0; i < 500; ++i) {
      const std::string err = testing::read_all(err_path);
      std::vector<int> out;
      for (auto it = std::sregex_iterator(err.begin(), err.end(), re); it != std::sregex_iterator();
           ++it) {
        out.push_back(std::stoi((*it)[1]));
      }
      if (out.size() >= count) return out;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return {};
  }
  // Waits for the "listening on port N" line and returns N (0 on timeout).
  int port() const { return number_after("listening on port"); }
  // The number after `words` in the first stderr line that has it, once
  // there (0 after 5 s).
  int number_after(const std::string& words) const {
    const std::regex re(words + " ([0-9]+)");
    for (int i = 0; i < 500; ++i) {
      std::smatch m;
      const std::string err = testing::read_all(err_path);
      if (std::regex_search(err, m, re)) return std::stoi(m[1]);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return 0;
  }
};

// Runs `program` with `argv` (argv[0] included), its stdout and stderr in
// files.
inline void start_program(Server* s, const std::string& program,
                          const std::vector<std::string>& argv, const std::string& out,
                          const std::string& err) {
  s->err_path = err;
  s->pid = ::fork();
  ASSERT_GE(s->pid, 0);
  if (s->pid == 0) {
    freopen(out.c_str(), "w", stdout);
    freopen(err.c_str(), "w", stderr);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(program.c_str(), args.data());
    _exit(127);
  }
}

#ifdef REEL_BINARY
inline void start(Server* s, const std::vector<std::string>& argv, const std::string& out,
                  const std::string& err) {
  start_program(s, REEL_BINARY, argv, out, err);
}
#endif

// A UDP socket and the loopback address of `port`.
inline int udp_to(int port, sockaddr_in* to) {
  *to = {};
  to->sin_family = AF_INET;
  to->sin_port = htons(static_cast<uint16_t>(port));
  to->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return ::socket(AF_INET, SOCK_DGRAM, 0);
}

// A TCP socket listening on 127.0.0.1 (a port the kernel picks: *port).
inline int listen_loopback(uint16_t* port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 4) != 0) {
    ::close(fd);
    return -1;
  }
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  *port = ntohs(a.sin_port);
  return fd;
}

// A TCP connection to 127.0.0.1:port, from the local address `from` when
// given (any 127.x.y.z is this machine); -1 when it fails.
inline int connect_to(int port, const char* from = nullptr) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (from != nullptr) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    inet_pton(AF_INET, from, &a.sin_addr);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd);
      return -1;
    }
  }
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(port));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

inline void send_all(int fd, const std::string& bytes, std::mt19937_64& rng) {
  for (size_t at = 0; at < bytes.size();) {
    const size_t n = std::min<size_t>(bytes.size() - at, 1 + rng() % 3000);
    const ssize_t w = ::send(fd, bytes.data() + at, n, MSG_NOSIGNAL);
    ASSERT_GT(w, 0);
    at += static_cast<size_t>(w);
  }
}

// `GET path` on 127.0.0.1:port through socat (a real client); the whole
// response, "" when socat failed.
inline std::string scrape(int port, const std::string& path, const std::string& scratch) {
  testing::write_all(scratch + ".req", "GET " + path + " HTTP/1.0\r\n\r\n");
  const std::string cmd = "socat -t 5 - TCP:127.0.0.1:" + std::to_string(port) + " < " + scratch +
                          ".req > " + scratch + ".resp 2>/dev/null";
  if (std::system(cmd.c_str()) != 0) return "";
  return testing::read_all(scratch + ".resp");
}

inline int sh(const std::string& cmd) {
  const int rc = std::system((cmd + " >/dev/null 2>&1").c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

// A network namespace joined to this one by a veth pair, made and removed by
// the test: 10.X.Y.1 here (veth "rlNa"), 10.X.Y.2 inside ("rlNb"), X.Y and N
// from the pid.
struct VethNamespace {
  std::string ns, here, there, local_ip, remote_ip;
  bool made = false;
  std::string make() {
    if (::geteuid() != 0) return "needs root (ip netns, veth)";
    const int n = static_cast<int>(::getpid() % 25000);
    const std::string net =
        "10." + std::to_string(100 + n / 250) + "." + std::to_string(n % 250) + ".";
    ns = "reel-ns-" + std::to_string(::getpid());
    here = "rl" + std::to_string(n) + "a";
    there = "rl" + std::to_string(n) + "b";
    local_ip = net + "1";
    remote_ip = net + "2";
    if (sh("ip netns add " + ns) != 0) return "cannot make a network namespace";
    made = true;
    if (sh("ip link add " + here + " type veth peer name " + there) != 0 ||
        sh("ip link set " + there + " netns " + ns) != 0 ||
        sh("ip addr add " + local_ip + "/24 dev " + here) != 0 ||
        sh("ip link set " + here + " up") != 0 ||
        sh("ip netns exec " + ns + " ip addr add " + remote_ip + "/24 dev " + there) != 0 ||
        sh("ip netns exec " + ns + " ip link set " + there + " up") != 0 ||
        sh("ip netns exec " + ns + " ip route add 224.0.0.0/4 dev " + there) != 0) {
      return "cannot set up a veth pair";
    }
    return "";
  }
  ~VethNamespace() {
    if (!made) return;
    sh("ip link del " + here);
    sh("ip netns del " + ns);
  }
};

}  // namespace reel
