// Futex wait/wake on a 32-bit word. Shared (not FUTEX_PRIVATE): the word may
// live in a MAP_SHARED file mapping (the head file) and be waited on from
// other processes; a read-only mapping is enough to wait.
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstdint>
#include <ctime>

namespace reel::ring {

// Sleeps while *word == expected, at most `timeout` (negative: no limit).
// May return early (a wake, a signal, or *word already differs).
inline void futex_wait(const uint32_t* word, uint32_t expected, std::chrono::nanoseconds timeout) {
  timespec ts{};
  timespec* tsp = nullptr;
  if (timeout.count() >= 0) {
    ts.tv_sec = static_cast<time_t>(timeout.count() / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(timeout.count() % 1'000'000'000);
    tsp = &ts;
  }
  ::syscall(SYS_futex, word, FUTEX_WAIT, expected, tsp, nullptr, 0);
}

// Wakes every thread, in any process, sleeping on `word`.
inline void futex_wake_all(const uint32_t* word) {
  ::syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}

}  // namespace reel::ring
