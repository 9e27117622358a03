// Pacer: when each replayed record is due, against one absolute start
// (CLOCK_MONOTONIC), and the wait until then: sleep until spin_ns before,
// then spin. Never computed from the previous record's send time, so
// lateness does not accumulate (measured by reel_replay_bench: clock_nanosleep
// alone is 30-500 us late, sleep-then-spin about 7.5 us at p99).
//
// One thread uses a Pacer.
#pragma once

#include <time.h>

#include <algorithm>
#include <atomic>
#include <cstdint>

namespace reel::replay {

inline uint64_t mono_ns() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<uint64_t>(t.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(t.tv_nsec);
}

// The CLOCK_MONOTONIC time of a CLOCK_REALTIME one (--start-at).
inline uint64_t mono_from_realtime(uint64_t real_ns) {
  timespec r;
  clock_gettime(CLOCK_REALTIME, &r);
  const uint64_t now_real =
      static_cast<uint64_t>(r.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(r.tv_nsec);
  const uint64_t now = mono_ns();
  return real_ns > now_real ? now + (real_ns - now_real) : now;
}

// How late it is now for something due at `due` (0 when early).
inline uint64_t late_ns(uint64_t due) {
  const uint64_t now = mono_ns();
  return now > due ? now - due : 0;
}

class Pacer {
 public:
  Pacer(double speed, uint64_t max_gap_ns, uint64_t anchor_ns, uint64_t spin_ns)
      : speed_(speed), max_gap_(max_gap_ns), anchor_(anchor_ns), spin_(spin_ns) {}

  // When the record with `ts_ns` is due. Call in replay order.
  uint64_t due(uint64_t ts_ns) {
    if (!started_) {
      started_ = true;
      first_ = prev_ = ts_ns;
    }
    if (ts_ns > prev_) {
      const uint64_t gap = ts_ns - prev_;
      if (max_gap_ != 0 && gap > max_gap_) shortened_ += gap - max_gap_;
      prev_ = ts_ns;
    }
    // Records out of time order (a late one) are due at once.
    const uint64_t offset = ts_ns >= first_ + shortened_ ? ts_ns - first_ - shortened_ : 0;
    const double scaled = static_cast<double>(offset) / speed_;
    constexpr double kFar = 4e18;  // past any replay; keeps the sum in range
    return anchor_ + static_cast<uint64_t>(std::min(scaled, kFar));
  }

  bool must_wait(uint64_t due) const { return mono_ns() < due; }

  // Waits until `due`; false when `stop` was set meanwhile (checked at least
  // every 50 ms).
  bool wait_until(uint64_t due, const std::atomic<bool>& stop) const {
    for (;;) {
      if (stop.load(std::memory_order_relaxed)) return false;
      const uint64_t now = mono_ns();
      if (now >= due) return true;
      if (due - now <= spin_) break;
      const uint64_t wake = std::min(due - spin_, now + 50'000'000);
      const timespec ts{static_cast<time_t>(wake / 1'000'000'000),
                        static_cast<long>(wake % 1'000'000'000)};
      clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
    }
    while (mono_ns() < due) {
    }
    return true;
  }

 private:
  double speed_;
  uint64_t max_gap_, anchor_, spin_;
  bool started_ = false;
  uint64_t first_ = 0, prev_ = 0, shortened_ = 0;
};

}  // namespace reel::replay
