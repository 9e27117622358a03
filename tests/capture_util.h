// tcpdump and tshark for end-to-end tests: a capture running beside the
// test, and the capture times tshark reads from a file (the judge of what
// `reel import` keeps).
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "serve_util.h"
#include "test_util.h"

namespace reel {

// `tcpdump ARGS -w FILE`, started and stopped by the test.
struct Tcpdump {
  pid_t pid = -1;
  std::string err_path;
  std::string netns;  // run inside this network namespace when set
  ~Tcpdump() { (void)stop(); }
  // Starts it and waits until it listens; "" or why it could not.
  std::string start(const std::vector<std::string>& args, const std::string& err) {
    err_path = err;
    pid = ::fork();
    if (pid < 0) return "fork failed";
    if (pid == 0) {
      freopen("/dev/null", "w", stdout);
      freopen(err.c_str(), "w", stderr);
      std::vector<std::string> all;
      if (!netns.empty()) all = {"ip", "netns", "exec", netns};
      // Immediate mode gives each packet a ring frame of the snap length:
      // at the default 256 KiB, the default 2 MiB buffer holds 8 packets,
      // and a loaded machine made the kernel drop some before tcpdump read
      // them. The tests' datagrams are far under 9 KiB.
      all.insert(all.end(), {"tcpdump", "-s", "9216", "-B", "32768"});
      all.insert(all.end(), args.begin(), args.end());
      std::vector<char*> argv;
      for (auto& a : all) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execvp(argv[0], argv.data());
      _exit(127);
    }
    for (int i = 0; i < 500; ++i) {
      const std::string text = testing::read_all(err);
      if (text.find("listening on") != std::string::npos) return "";
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        pid = -1;
        return "tcpdump did not start: " + text;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return "tcpdump did not start listening";
  }
  // SIGINT (it writes out what it captured), then its exit status.
  int stop() {
    if (pid <= 0) return -1;
    ::kill(pid, SIGINT);
    const int rc = testing::wait_child(pid, std::chrono::seconds(30));
    pid = -1;
    return rc;
  }
};

// A UDP port the kernel picked as free on 127.0.0.1 (and let go again).
// Tests that capture by port take theirs this way: ports made from the pid
// collided between test processes started one after another (one's port + 1
// was the next one's port), and each capture took the other's packets.
inline int free_udp_port() {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    if (fd >= 0) ::close(fd);
    return 0;
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

inline std::string unhex(const std::string& h) {
  std::string out;
  for (size_t i = 0; i + 1 < h.size(); i += 2) {
    out += static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16));
  }
  return out;
}

// Each packet's capture time in ns, as tshark reads `pcap` (frame.time_epoch).
inline std::vector<uint64_t> tshark_times(const std::string& pcap, const std::string& scratch) {
  std::vector<uint64_t> out;
  const std::string cmd =
      "tshark -r " + pcap + " -T fields -e frame.time_epoch > " + scratch + " 2>/dev/null";
  if (std::system(cmd.c_str()) != 0) return out;
  std::string all = testing::read_all(scratch);
  size_t at = 0;
  for (size_t nl; (nl = all.find('\n', at)) != std::string::npos; at = nl + 1) {
    const std::string line = all.substr(at, nl - at);
    const size_t dot = line.find('.');
    std::string frac = dot == std::string::npos ? "" : line.substr(dot + 1);
    frac.resize(9, '0');
    out.push_back(std::stoull(line.substr(0, dot)) * 1'000'000'000ull + std::stoull(frac));
  }
  return out;
}

// Waits until tcpdump has written `n` packets to `pcap` (it lags on a busy
// machine); false after 30 s, which only ends a hung test.
inline bool captured(const std::string& pcap, size_t n, const std::string& scratch) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (tshark_times(pcap, scratch).size() < n) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return true;
}

}  // namespace reel
