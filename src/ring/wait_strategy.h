// Wait strategies: how a ring producer (waiting for space) or consumer
// (waiting for records) passes the time. Template policies, chosen by option:
//
//   BusySpinWait  lowest latency, burns a core per waiter.
//   YieldingWait  spins briefly, then sched_yield(): low latency, polite.
//   BlockingWait  spins briefly, then sleeps on a futex (std::atomic::wait)
//                 until notify(): no CPU when idle, microseconds to wake.
//
// A strategy has wait_until(pred), which returns once pred() holds, and
// notify(), which the side that changed the state calls after its release
// store, so that sleepers re-check their predicate.
#pragma once

#include <sched.h>

#include <atomic>
#include <cstdint>

namespace reel::ring {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

struct BusySpinWait {
  template <class Pred>
  void wait_until(Pred&& ready) {
    while (!ready()) cpu_relax();
  }
  void notify() {}
};

struct YieldingWait {
  template <class Pred>
  void wait_until(Pred&& ready) {
    for (int spins = 0; !ready(); ++spins) {
      if (spins < 100) {
        cpu_relax();
      } else {
        sched_yield();
      }
    }
  }
  void notify() {}
};

class BlockingWait {
 public:
  template <class Pred>
  void wait_until(Pred&& ready) {
    for (int spins = 0; spins < 200; ++spins) {
      if (ready()) return;
      cpu_relax();
    }
    for (;;) {
      // Read the epoch before re-checking: a notify() between the check and
      // the wait changes the epoch, so wait() returns at once (no lost wake).
      const uint32_t epoch = epoch_.load(std::memory_order_acquire);
      if (ready()) return;
      waiters_.fetch_add(1, std::memory_order_seq_cst);
      if (!ready()) epoch_.wait(epoch, std::memory_order_acquire);
      waiters_.fetch_sub(1, std::memory_order_relaxed);
    }
  }
  void notify() {
    // seq_cst pairs with the waiter's increment: either we see the waiter,
    // or the waiter's re-check of ready() sees the state we published.
    epoch_.fetch_add(1, std::memory_order_seq_cst);
    if (waiters_.load(std::memory_order_seq_cst) != 0) epoch_.notify_all();
  }

 private:
  std::atomic<uint32_t> epoch_{0};
  std::atomic<uint32_t> waiters_{0};
};

}  // namespace reel::ring
