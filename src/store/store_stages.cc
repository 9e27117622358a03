// The writer's index stage (the index thread, started by start_pipeline,
// store_open.cc) and the health both stages report to producers and
// waiters. The journal stage is journal_stage.cc.
#include <sched.h>
#include <algorithm>

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

bool Store::Impl::index_now() {
  return options.index_delay.count() <= 0 || index_backlog_large() ||
         index_request.load(std::memory_order_acquire) > indexer->indexed_seq() || closing.load() ||
         journal->done() || health.state() != store::StageHealth::kHealthy;
}

void Store::Impl::index_batching_wait() {
  // Never longer than index_sync_interval: index_upkeep() runs between waits.
  index_nudge.wait_for([&] { return index_now(); },
                       std::min(options.index_delay, options.index_sync_interval));
}

void Store::Impl::wrote_records() {
  released.notify();
  if (index_backlog_large()) index_nudge.notify();
}

Status Store::Impl::index_upkeep(IndexUpkeep& u) {
  using Clock = std::chrono::steady_clock;
  if (u.dirty && Clock::now() - u.last_sync >= options.index_sync_interval) {
    if (Status s = index->sync(); !s) return s;
    head.mark_index_clean();
    u.dirty = false;
    u.last_sync = Clock::now();
  }
  if (head.durable_seq() != u.persisted_durable &&
      Clock::now() - u.last_persist >= options.index_sync_interval) {
    // The durable point recovery trusts after a power cut (head_file.h).
    u.persisted_durable = head.durable_seq();
    if (Status s = head.persist(); !s) return s;
    u.last_persist = Clock::now();
  }
  return Status::ok();
}

void Store::Impl::index_loop() {
  {
    // Batch work: woken by every write, it never preempts the thread it
    // lands beside (a tailer woken by the same write, say: its p99 was
    // 60-70 us with the index thread cutting in, 38-48 without; 2 vCPUs).
    // It keeps its fair share of the CPU.
    sched_param none{};
    (void)sched_setscheduler(0, SCHED_BATCH, &none);
  }
  IndexUpkeep upkeep;
  upkeep.last_sync = upkeep.last_persist = std::chrono::steady_clock::now();
  upkeep.persisted_durable = head.durable_seq();
  bool delayed = false;  // waited out the batching delay since the last idle sleep
  for (;;) {
    const bool pending = ring->upstream_end(1) != indexer->position();
    if (pending && !delayed && !index_now()) {
      // The first records after an idle spell: wait for more (index_delay).
      index_batching_wait();
      delayed = true;
      continue;
    }
    if (pending && !upkeep.dirty) {
      // Before the first unsynced commit: a reboot from here on means the
      // index may have lost commits the WAL kept (head_file.h).
      if (Status s = head.mark_index_dirty(boot_id); !s) {
        set_failure(s);
        break;
      }
      upkeep.dirty = true;
    }
    const bool worked = pending && indexer->step();
    if (!indexer->status().is_ok()) {
      set_failure(indexer->status());
      break;
    }
    if (worked) {
      head.set_indexed_seq(indexer->indexed_seq());
      head.notify();
      space.notify();
    }
    if (Status s = index_upkeep(upkeep); !s) {
      set_failure(s);
      break;
    }
    if (worked) {
      // Records keep coming: index them after the delay too, in one batch.
      if (!index_now()) index_batching_wait();
      delayed = true;
      continue;
    }
    if (journal->done() && ring->upstream_end(1) == indexer->position()) break;
    delayed = false;
    released.wait_for(
        [&] { return ring->upstream_end(1) != indexer->position() || journal->done(); },
        std::chrono::milliseconds(100));
  }
}

}  // namespace reel
