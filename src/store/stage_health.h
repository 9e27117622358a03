// StageHealth: how the writer's stages (journal and index threads) are
// doing, as producers and waiters see it. A state machine whose every move
// is one atomic read-modify-write:
//
//   kHealthy ──try_stall()───► kStalled    journal thread: the disk is full
//   kHealthy ◄──try_recover()── kStalled    journal thread: space returned
//   any ──────fail()─────────► kFailed     either stage: a write or index error
//
// A stall happens only from kHealthy and a recovery only from kStalled, each
// by compare-and-swap; fail() is an exchange. kFailed is terminal: a stall or
// recovery racing with a failure loses its compare-and-swap, so a failed
// store never reads as healthy or stalled again.
//
// Every move is a release that pairs with the acquire in state(): whoever
// sees a state also sees what the mover stored before moving (the stall or
// failure Status in Store::Impl, store_impl.h).
#pragma once

#include <atomic>

namespace reel::store {

class StageHealth {
 public:
  enum State : int { kHealthy = 0, kStalled = 1, kFailed = 2 };

  State state() const { return state_.load(std::memory_order_acquire); }

  // kHealthy -> kStalled; false (and no move) from any other state.
  bool try_stall() { return move(kHealthy, kStalled); }
  // kStalled -> kHealthy; false (and no move) from any other state.
  bool try_recover() { return move(kStalled, kHealthy); }
  // Any state -> kFailed, for good.
  void fail() { state_.exchange(kFailed, std::memory_order_acq_rel); }

 private:
  bool move(State from, State to) {
    return state_.compare_exchange_strong(from, to, std::memory_order_acq_rel,
                                          std::memory_order_acquire);
  }

  std::atomic<State> state_{kHealthy};
};

}  // namespace reel::store
