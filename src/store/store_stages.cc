// The writer's two stage threads, journal and index (started by
// start_pipeline, store_open.cc), and the health they report to producers
// and waiters.
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

// After every journal step (under journal_mu): a full disk (`stall_now` not ok) stalls
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
      space.notify();  // head.notify() follows in journal_loop; a leader falls back to wait()
    }
  } else if (stall_now.is_ok() && health.try_recover()) {
    spdlog::info("{}: space returned; writing again", paths.root);
    head.notify();
  }
}

// An explicit sync (wait for kDurable) is due once what it covers is
// written, or once nothing more is waiting to be written.
bool Store::Impl::sync_asked_locked() {
  const uint64_t want = sync_request.load(std::memory_order_acquire);
  return want > journaller->durable_seq() &&
         (journaller->written_seq() >= want || !journaller->has_work());
}

Store::Impl::JournalStep Store::Impl::journal_step_locked(bool defer_sync) {
  JournalStep r;
  retry_now.store(false);
  r.worked = journaller->step(!defer_sync, /*writeback=*/false);
  if (!defer_sync && !journaller->failed() && sync_asked_locked()) {
    (void)journaller->sync_now();  // a failure reaches on_failure()
  }
  r.failed = journaller->failed();
  r.stall = journaller->stall();
  if (!r.failed) {
    track_stall(r.stall);
    journal_steps.fetch_add(1, std::memory_order_release);
  }
  return r;
}

bool Store::Impl::lead_sync(uint64_t seq) {
  if (!journal_mu.try_lock()) {
    // The journal thread is in a step (it may keep the lock through a burst
    // of ingest): it syncs for us at the end of that step; we take over if
    // we get the lock first.
    store::atomic_max(sync_request, seq);
    journal_mu.lock();
  }
  RelockableLock lock(journal_mu, std::adopt_lock);
  // Once the journal thread has decided to stop (close()), the stage is close()'s.
  if (stop_journal.load() || journal_done.load()) return false;
  bool worked = false;
  bool stalled = false;
  while (!journaller->failed() && journaller->durable_seq() < seq &&
         journaller->written_seq() < seq) {
    const JournalStep r = journal_step_locked();
    worked |= r.worked;
    stalled = !r.stall.is_ok();
    if (!r.worked || stalled) break;  // a record before seq is not yet published
  }
  if (!journaller->failed() && !stalled && journaller->written_seq() >= seq) {
    (void)journaller->sync_now();  // a failure reaches on_failure()
  }
  lock.unlock();
  if (worked) wrote_records();
  // The journal thread may have looked while we held the lock and gone back
  // to sleep (its predicate does not wait for the lock): wake it if anything
  // is claimed beyond what is written, or a sync is asked for. Atomics only.
  if (ring->next_position() != ring->consumer_position(0) ||
      sync_request.load(std::memory_order_acquire) > head.durable_seq()) {
    published.notify();
  }
  return head.durable_seq() >= seq;
}

bool Store::Impl::sync_journal(bool wrote, bool force) {
  auto pending = journaller->begin_sync(force || sync_asked_locked());
  if (!pending) return false;
  journal_syncing.store(true);
  pipeline::Journaller* unlocked = unlocked_journaller();
  // Let go of the caller's lock and take it back below (REQUIRES: held on
  // entry and return). Nothing between throws but a bad_alloc, which ends
  // the journal thread, and with it the process, anyway.
  journal_mu.unlock();
  if (wrote) wrote_records();  // the index thread works beside the sync
  unlocked->run_sync(*pending);
  journal_syncing.store(false);
  journal_mu.lock();
  journaller->end_sync(*pending);  // a failure reaches on_failure()
  return true;
}

void Store::Impl::journal_loop() {
  uint64_t start = 0;
  {
    MutexLock guard(journal_mu);
    start = journaller->position();
  }
  bool registered = false;
  bool tick = false;  // woken by the interval's deadline: sync what is unsynced
  for (;;) {
    RelockableLock lock(journal_mu);
    JournalStep r = journal_step_locked(/*defer_sync=*/true);
    if (!r.failed && !sync_journal(r.worked, tick) && r.worked) {
      journaller->start_writeback();  // no sync follows: the disk starts on these pages now
    }
    r.failed = journaller->failed();
    if (!registered && journaller->position() - start >= ring->capacity()) {
      // A full lap written: this is sustained ingest, worth pinning the ring
      // as an io_uring fixed buffer (pinning 64 MiB costs ~100 ms, too much
      // for a store opened to append a few records).
      registered = true;
      if (Status s = env->register_buffer({ring->memory(), ring->capacity()}); !s) {
        spdlog::debug("{}: ring not registered with io_uring ({}); plain writes", paths.root,
                      s.to_string());
      }
    }
    // Read under the lock: a leader that takes it after this step sees
    // stop_journal too, and steps no more (lead_sync).
    const bool stopping = stop_journal.load();
    const bool drained = journaller->position() == ring->next_position();
    const bool unsynced = journaller->durable_seq() < journaller->written_seq();
    const auto due_in = journaller->until_sync_due();
    lock.unlock();
    if (r.worked) {
      last_write_ns.store(std::chrono::steady_clock::now().time_since_epoch().count(),
                          std::memory_order_relaxed);
      wrote_records();
    }
    if (r.failed) break;
    if (!r.stall.is_ok()) head.notify();  // waiters watch the stall
    if (r.worked && r.stall.is_ok()) continue;
    // Drained (every claim published and written), or the disk is full:
    // close() reports what is left in the ring.
    if (stopping && (!r.stall.is_ok() || drained)) break;
    if (drained && r.stall.is_ok()) {
      if (journal_mu.try_lock()) {
        MutexLock guard(journal_mu, std::adopt_lock);
        journaller->zero_ahead();
      }
    }
    // Sleep until something is published or a sync is asked for; wake for
    // the interval sync, and every 10 ms while the disk is full, to retry.
    auto timeout = seams.journal_idle_wakeup;
    if (!r.stall.is_ok()) timeout = std::chrono::milliseconds(10);
    // Under kInterval: when what is unsynced falls due; with nothing
    // unsynced, an interval from now when producers may write while it
    // sleeps (write_when_idle: their writes do not wake it). Woken by that
    // deadline, it syncs what is unsynced whatever a leader's sync meanwhile
    // did to the policy's clock: nothing waits more than an interval.
    bool deadline_syncs = false;
    if (options.sync.mode == SyncPolicy::Mode::kInterval && (unsynced || options.write_when_idle)) {
      const auto left = unsynced ? due_in : options.sync.interval;
      if (left <= timeout) {
        timeout = left;
        deadline_syncs = true;
      }
    }
    // The journaller's state is read under the lock, but never waited for:
    // a leader may hold it through an fdatasync, and looks for what is left
    // once it lets go (lead_sync). (A failed try_lock orders nothing in the
    // C++ model; glibc's does not fail spuriously, and the leader's check
    // after its unlock begins with a full barrier, a CAS on the claim cursor.)
    // Ready only for work a step can do: records to write while no segment
    // creation is stalled, or a sync a written record is waiting for; a
    // requested seq not yet published wakes us when its producer publishes.
    const bool woken = published.wait_for(
        [&] {
          if (stop_journal.load() || retry_now.load() || sync_check.exchange(false)) return true;
          if (!journal_mu.try_lock()) return false;
          MutexLock guard(journal_mu, std::adopt_lock);
          if (journaller->stall().is_ok() && journaller->has_work()) return true;
          return sync_request.load(std::memory_order_acquire) > journaller->durable_seq() &&
                 journaller->written_seq() > journaller->durable_seq();
        },
        timeout);
    tick = deadline_syncs && !woken;
    if (tick && seams.journal_deadline_wakeups != nullptr) {
      seams.journal_deadline_wakeups->fetch_add(1, std::memory_order_relaxed);
    }
  }
  journal_done.store(true);
  released.notify();
  index_nudge.notify();
}

bool Store::Impl::index_now() {
  return options.index_delay.count() <= 0 || index_backlog_large() ||
         index_request.load(std::memory_order_acquire) > indexer->indexed_seq() || closing.load() ||
         journal_done.load() || health.state() != store::StageHealth::kHealthy;
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
    if (journal_done.load() && ring->upstream_end(1) == indexer->position()) break;
    delayed = false;
    released.wait_for(
        [&] { return ring->upstream_end(1) != indexer->position() || journal_done.load(); },
        std::chrono::milliseconds(100));
  }
}

}  // namespace reel
