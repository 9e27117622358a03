// Running the real `reel` binary from tests (REEL_BINARY is its path).
#pragma once

#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <string>

#include "test_util.h"

namespace reel {

struct CliRun {
  int exit_code;
  std::string out, err;
};

// Runs `reel ARGS` through the shell with `input` on stdin.
inline CliRun reel(const std::string& args, const std::string& input = "",
                   const std::string& shell_prefix = "") {
  testing::TempDir io;
  testing::write_all(io / "in", input);
  const std::string cmd = shell_prefix + std::string(REEL_BINARY) + " " + args + " < " +
                          (io / "in") + " > " + (io / "out") + " 2> " + (io / "err");
  int status = std::system(cmd.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, testing::read_all(io / "out"),
          testing::read_all(io / "err")};
}

inline std::string lines(int from, int to) {
  std::string s;
  for (int i = from; i <= to; ++i) s += std::to_string(i) + "\n";
  return s;
}

inline int count_lines(const std::string& s) {
  return static_cast<int>(std::count(s.begin(), s.end(), '\n'));
}

}  // namespace reel
