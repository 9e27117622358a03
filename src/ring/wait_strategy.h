// Wait strategies: how a ring producer (waiting for space) or consumer
// (waiting for records) passes the time. Template policies, chosen by option:
//
//   BusySpinWait  lowest latency, burns a core per waiter.
//   YieldingWait  spins briefly, then sched_yield(): low latency, polite.
//   BlockingWait  spins briefly, then sleeps on a futex until notify(): no
//                 CPU when idle, microseconds to wake.
//
// A strategy has wait_until(pred), which returns once pred() holds, and
// notify(), which the side that changed the state calls after its release
// store, so that sleepers re-check their predicate.
#pragma once

#include <sched.h>

#include <atomic>
#include <chrono>
#include <cstdint>

#include "ring/futex.h"

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

// Waiter: a wait strategy chosen at run time, with a time limit. The store's
// stages use it (StoreOptions::wait_strategy). notify() costs a fence and a
// load when nobody sleeps (and, kOneSleeper, when a notify since it fell
// asleep already woke it); only kBlock ever sleeps.
//
// kOneSleeper: only one thread ever waits (a stage thread). The first
// notify() after it fell asleep wakes it and takes it off the count, so the
// notifies that follow before it runs again cost an atomic exchange, not a
// futex syscall each (a producer publishing 1,000 records while the journal
// thread waits for a CPU made 1,000 futex calls: ~1 ms).
enum class WaitMode { kBusySpin, kYield, kBlock };
enum class Sleepers { kMany, kOneSleeper };

class Waiter {
 public:
  explicit Waiter(WaitMode mode = WaitMode::kBlock, Sleepers sleepers = Sleepers::kMany)
      : mode_(mode), one_sleeper_(sleepers == Sleepers::kOneSleeper) {}

  // Returns once ready() holds (true) or `timeout` has passed (false;
  // negative: no limit).
  template <class Pred>
  bool wait_for(Pred&& ready, std::chrono::nanoseconds timeout) {
    for (int spins = 0; spins < 200; ++spins) {
      if (ready()) return true;
      cpu_relax();
    }
    const auto deadline = timeout.count() < 0 ? std::chrono::steady_clock::time_point::max()
                                              : std::chrono::steady_clock::now() + timeout;
    for (;;) {
      // Read the epoch before re-checking: a notify() between the check and
      // the sleep changes it, so the futex returns at once (no lost wake).
      const uint32_t epoch = epoch_.load(std::memory_order_acquire);
      if (ready()) return true;
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline) return false;
      switch (mode_) {
        case WaitMode::kBusySpin:
          cpu_relax();
          break;
        case WaitMode::kYield:
          sched_yield();
          break;
        case WaitMode::kBlock:
          // seq_cst: pairs with notify()'s fence; either notify sees this
          // sleeper, or our re-check of ready() sees its state.
          sleepers_.fetch_add(1, std::memory_order_seq_cst);
          if (!ready()) {
            futex_wait(reinterpret_cast<const uint32_t*>(&epoch_), epoch,
                       deadline == std::chrono::steady_clock::time_point::max()
                           ? std::chrono::nanoseconds(-1)
                           : std::chrono::nanoseconds(deadline - now));
          }
          if (one_sleeper_) {
            // Off the count unless a notify() took it off already.
            uint32_t one = 1;
            sleepers_.compare_exchange_strong(one, 0, std::memory_order_acq_rel);
          } else {
            sleepers_.fetch_sub(1, std::memory_order_relaxed);
          }
          break;
      }
    }
  }

  // True when a thread may be asleep in wait_for (kBlock only): a notify()
  // now would wake it. Ordered as notify() is: call it after the release
  // store, and notify() if it is true.
  bool has_sleeper() {
    if (mode_ != WaitMode::kBlock) return false;
#if defined(__SANITIZE_THREAD__)
    return sleepers_.fetch_add(0, std::memory_order_seq_cst) != 0;
#else
    std::atomic_thread_fence(std::memory_order_seq_cst);
    return sleepers_.load(std::memory_order_relaxed) != 0;
#endif
  }

  // Call after the release store that may make a sleeper's predicate true.
  void notify() {
    if (mode_ != WaitMode::kBlock) return;
#if defined(__SANITIZE_THREAD__)
    // TSan has no fences; a seq_cst read-modify-write orders the same way.
    if (sleepers_.fetch_add(0, std::memory_order_seq_cst) == 0) return;
#else
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_relaxed) == 0) return;
#endif
    // One sleeper: take it off the count, so that the notifies before it
    // runs again return above. Only the notify that took it wakes it.
    if (one_sleeper_ && sleepers_.exchange(0, std::memory_order_seq_cst) == 0) return;
    epoch_.fetch_add(1, std::memory_order_release);
    futex_wake_all(reinterpret_cast<const uint32_t*>(&epoch_));
  }

 private:
  WaitMode mode_;
  bool one_sleeper_;
  alignas(64) std::atomic<uint32_t> epoch_{0};
  std::atomic<uint32_t> sleepers_{0};
};

// The blocking strategy as a template policy: a Waiter that sleeps.
class BlockingWait {
 public:
  template <class Pred>
  void wait_until(Pred&& ready) {
    waiter_.wait_for(ready, std::chrono::nanoseconds(-1));
  }
  void notify() { waiter_.notify(); }

 private:
  Waiter waiter_{WaitMode::kBlock};
};

}  // namespace reel::ring
