// Sequence: a 64-bit counter alone on its cache line, the unit of progress
// between ring producers and consumers (disruptorplus' sequence).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace reel::ring {

inline constexpr size_t kCacheLineSize = 64;

class alignas(kCacheLineSize) Sequence {
 public:
  explicit Sequence(uint64_t initial = 0) : value_(initial) {}
  // Acquire: pairs with the release in store(); everything the owner wrote
  // before storing `v` is visible after a load that returns `v`.
  uint64_t load() const { return value_.load(std::memory_order_acquire); }
  void store(uint64_t v) { value_.store(v, std::memory_order_release); }
  uint64_t load_relaxed() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_;  // alignas pads the rest of the line
};

static_assert(sizeof(Sequence) == kCacheLineSize);

// Raises `a` to `v` if it is lower (a request's high-water mark: several
// threads ask, the largest ask wins). acq_rel: pairs with the acquire load
// of whoever serves the request.
inline void raise_to(std::atomic<uint64_t>& a, uint64_t v) {
  uint64_t cur = a.load(std::memory_order_relaxed);
  while (cur < v && !a.compare_exchange_weak(cur, v, std::memory_order_acq_rel)) {
  }
}

}  // namespace reel::ring
