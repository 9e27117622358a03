// The health the writer's stages (journal_stage.h, index_stage.h) report to
// producers and waiters: a full disk stalls the store, a failure stops it.

#include <chrono>
#include <mutex>

#include <spdlog/spdlog.h>

#include "store/store_impl.h"

namespace reel {

void Store::Impl::set_failure(const Status& s) {
  {
    MutexLock guard(status_mu);
    if (failure.is_ok()) {
      // A full disk or index map met by a stage that cannot wait it out is
      // not the temporary kNoSpace of a stalled segment creation: the store
      // has stopped, and says what a reopen needs.
      failure = s.code() != Code::kNoSpace
                    ? s
                    : Status::failed(s.message() +
                                     "; the store stopped (every written record "
                                     "is in the WAL): reopen once there is room");
    }
  }
  health.fail();
  head.notify();
  space.notify();
}

// The first caller to see a failure gets the error itself; later calls get
// kFailed: the store has stopped acknowledging anything (rule 7).
Status Store::Impl::failure_status() {
  MutexLock guard(status_mu);
  if (!failure_reported) {
    failure_reported = true;
    return failure;
  }
  return Status::failed(paths.root + ": the store stopped after an error: " + failure.to_string());
}

Status Store::Impl::stall_status() const {
  MutexLock guard(status_mu);
  return stall;
}

// After every journal step (under the journal lock): a full disk (`stall_now` not ok) stalls
// a healthy store; an ok step recovers a stalled one. A failure wins over
// both (stage_health.h).
void Store::Impl::track_stall(const Status& stall_now) {
  if (!stall_now.is_ok() && health.state() == store::StageHealth::kHealthy) {
    {
      MutexLock guard(status_mu);
      stall = stall_now;
    }
    if (health.try_stall()) {
      spdlog::error("{}: {}; records wait in the ring until space returns", paths.root,
                    stall_now.to_string());
      space.notify();  // head.notify() follows in the journal thread; a leader falls back to wait()
    }
  } else if (stall_now.is_ok() && health.try_recover()) {
    spdlog::info("{}: space returned; writing again", paths.root);
    head.notify();
  }
}

}  // namespace reel
