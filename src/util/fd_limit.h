// The process's file-descriptor limit (RLIMIT_NOFILE).
#pragma once

#include <cstdint>

namespace reel {

// Raises the soft limit to the hard limit (no privilege needed) and returns
// the soft limit now in force; 0 when it cannot be read. Process-wide: a
// server calls it once at start.
uint64_t raise_fd_limit();

}  // namespace reel
