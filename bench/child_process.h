// The benchmarks' other processes: this binary run again in a child mode
// (a subscriber, a sink, a live reader), waited for, and what they hand back
// through files; plus the clocks the rows are measured with.
#pragma once

#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace reel::bench {

[[noreturn]] inline void child_die(const std::string& why) {
  std::fprintf(stderr, "bench: %s\n", why.c_str());
  std::exit(1);
}

inline uint64_t mono_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// This process's user + system CPU time, all threads, not its children.
inline double process_cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return s(u.ru_utime) + s(u.ru_stime);
}

// Runs this binary (`self`) with `args`; returns the pid.
inline pid_t spawn_self(const std::string& self, const std::vector<std::string>& args) {
  std::vector<std::string> all{self};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (::posix_spawn(&pid, self.c_str(), nullptr, nullptr, argv.data(), environ) != 0) {
    child_die("posix_spawn " + self);
  }
  return pid;
}

// Waits for a child; a failed one ends the benchmark.
inline void wait_ok(pid_t pid) {
  int st = 0;
  ::waitpid(pid, &st, 0);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) child_die("a child process failed");
}

// Waits (up to 10 s) until a child has made the file `path`.
inline void wait_ready(const std::string& path) {
  for (int i = 0; i < 1000 && !std::filesystem::exists(path); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (!std::filesystem::exists(path)) child_die("a child did not start (no " + path + ")");
}

// Raw doubles a child wrote to `path`.
inline std::vector<double> read_doubles(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::vector<double> v;
  double d = 0;
  while (f.read(reinterpret_cast<char*>(&d), sizeof d)) v.push_back(d);
  return v;
}

}  // namespace reel::bench
