#include "store/journal_stage.h"

#include <pthread.h>

#include <spdlog/spdlog.h>

#include "ring/sequence.h"

namespace reel::store {
namespace {

int64_t steady_now_ns() {
  return std::chrono::steady_clock::now().time_since_epoch().count();
}

}  // namespace

JournalStage::JournalStage(const Parts& parts, std::unique_ptr<wal::SegmentWriter> writer,
                           const pipeline::Journaller::Options& journal_options, uint64_t start)
    : options_(*parts.options),
      seams_(parts.seams),
      root_(parts.root),
      ring_(parts.ring),
      env_(parts.env),
      head_(parts.head),
      health_(parts.health),
      host_(parts.host),
      writer_(std::move(writer)),
      wake_(parts.wait_mode, ring::Sleepers::kOneSleeper) {
  writer_->count_syncs_in(&wal_syncs_);
  journaller_ =
      std::make_unique<pipeline::Journaller>(ring_, writer_.get(), host_, journal_options, start);
}

JournalStage::~JournalStage() {
  if (thread_.joinable()) {
    stop();
    join();
  }
}

void JournalStage::start() {
  thread_ = std::thread([this] {
    ::pthread_setname_np(::pthread_self(), "reel-journal");
    run();
  });
}

bool JournalStage::write_if_idle() {
  // Sustained appends keep the journal thread busy and the producers free:
  // only a record after a quiet spell is written here.
  constexpr int64_t kQuietNs = 50'000;
  if (!options_.write_when_idle) return false;
  const int64_t now = steady_now_ns();
  if (now - last_write_ns_.load(std::memory_order_relaxed) < kQuietNs) return false;
  if (!mu_.try_lock()) return false;
  {
    MutexLock guard(mu_, std::adopt_lock);
    // As in lead_sync: after stop() the stage is close()'s.
    if (stop_.load() || health_->state() != StageHealth::kHealthy) return false;
    if (!journaller_->write_published()) return false;  // a segment starts: the journal thread's
    last_write_ns_.store(now, std::memory_order_relaxed);
  }
  host_->wrote_records();
  // The journal thread syncs now under kAlways (under kInterval it wakes
  // every interval: a wake-up here would land beside this record's readers,
  // once per interval); and it takes a sync a waiter asked for, and
  // anything claimed meanwhile that it may have looked for while we held
  // the lock (as in lead_sync).
  const bool sync_now = options_.sync.mode == SyncPolicy::Mode::kAlways;
  if (sync_now) sync_check_.store(true);
  if (sync_now || ring_->next_position() != ring_->consumer_position(0) ||
      sync_request_.load(std::memory_order_acquire) > head_->durable_seq()) {
    wake_.notify();
  }
  return true;
}

bool JournalStage::lead_sync(uint64_t seq) {
  if (!mu_.try_lock()) {
    // The journal thread is in a step (it may keep the lock through a burst
    // of ingest): it syncs for us at the end of that step; we take over if
    // we get the lock first.
    ring::raise_to(sync_request_, seq);
    mu_.lock();
  }
  RelockableLock lock(mu_, std::adopt_lock);
  // Once the journal thread has decided to stop (close()), the stage is close()'s.
  if (stop_.load() || done_.load()) return false;
  bool worked = false;
  bool stalled = false;
  while (!journaller_->failed() && journaller_->durable_seq() < seq &&
         journaller_->written_seq() < seq) {
    const Step r = step_locked();
    worked |= r.worked;
    stalled = !r.stall.is_ok();
    if (!r.worked || stalled) break;  // a record before seq is not yet published
  }
  if (!journaller_->failed() && !stalled && journaller_->written_seq() >= seq) {
    (void)journaller_->sync_now();  // a failure reaches on_failure()
  }
  lock.unlock();
  if (worked) host_->wrote_records();
  // The journal thread may have looked while we held the lock and gone back
  // to sleep (its predicate does not wait for the lock): wake it if anything
  // is claimed beyond what is written, or a sync is asked for. Atomics only.
  if (ring_->next_position() != ring_->consumer_position(0) ||
      sync_request_.load(std::memory_order_acquire) > head_->durable_seq()) {
    wake_.notify();
  }
  return head_->durable_seq() >= seq;
}

void JournalStage::request_sync(uint64_t seq) {
  ring::raise_to(sync_request_, seq);
  wake_.notify();
}

void JournalStage::retry_now() {
  retry_.store(true);
  wake_.notify();
}

// An explicit sync (wait for kDurable) is due once what it covers is
// written, or once nothing more is waiting to be written.
bool JournalStage::sync_asked_locked() {
  const uint64_t want = sync_request_.load(std::memory_order_acquire);
  return want > journaller_->durable_seq() &&
         (journaller_->written_seq() >= want || !journaller_->has_work());
}

JournalStage::Step JournalStage::step_locked(bool defer_sync) {
  Step r;
  retry_.store(false);
  r.worked = journaller_->step(!defer_sync, /*writeback=*/false);
  if (!defer_sync && !journaller_->failed() && sync_asked_locked()) {
    (void)journaller_->sync_now();  // a failure reaches on_failure()
  }
  r.failed = journaller_->failed();
  r.stall = journaller_->stall();
  if (!r.failed) {
    host_->track_stall(r.stall);
    steps_.fetch_add(1, std::memory_order_release);
  }
  return r;
}

bool JournalStage::sync_unlocked(bool wrote, bool force) {
  auto pending = journaller_->begin_sync(force || sync_asked_locked());
  if (!pending) return false;
  syncing_.store(true);
  pipeline::Journaller* unlocked = unlocked_journaller();
  // Let go of the caller's lock and take it back below (REQUIRES: held on
  // entry and return). Nothing between throws but a bad_alloc, which ends
  // the journal thread, and with it the process, anyway.
  mu_.unlock();
  if (wrote) host_->wrote_records();  // the index thread works beside the sync
  unlocked->run_sync(*pending);
  syncing_.store(false);
  mu_.lock();
  journaller_->end_sync(*pending);  // a failure reaches on_failure()
  return true;
}

void JournalStage::run() {
  uint64_t start = 0;
  {
    MutexLock guard(mu_);
    start = journaller_->position();
  }
  bool registered = false;
  bool tick = false;  // woken by the interval's deadline: sync what is unsynced
  for (;;) {
    Seen seen;
    const Step r = step_and_sync(tick, start, &registered, &seen);
    if (r.worked) {
      last_write_ns_.store(steady_now_ns(), std::memory_order_relaxed);
      host_->wrote_records();
    }
    if (r.failed) break;
    if (!r.stall.is_ok()) head_->notify();  // waiters watch the stall
    if (r.worked && r.stall.is_ok()) continue;
    // Drained (every claim published and written), or the disk is full:
    // close() reports what is left in the ring.
    if (seen.stopping && (!r.stall.is_ok() || seen.drained)) break;
    if (seen.drained && r.stall.is_ok() && mu_.try_lock()) {
      MutexLock guard(mu_, std::adopt_lock);
      journaller_->zero_ahead();
    }
    tick = sleep(r, seen);
  }
  done_.store(true);
  host_->journal_ended();
}

JournalStage::Step JournalStage::step_and_sync(bool tick, uint64_t start, bool* registered,
                                               Seen* seen) {
  MutexLock lock(mu_);
  Step r = step_locked(/*defer_sync=*/true);
  if (!r.failed && !sync_unlocked(r.worked, tick) && r.worked) {
    journaller_->start_writeback();  // no sync follows: the disk starts on these pages now
  }
  r.failed = journaller_->failed();
  if (!*registered && journaller_->position() - start >= ring_->capacity()) {
    // A full lap written: this is sustained ingest, worth pinning the ring
    // as an io_uring fixed buffer (pinning 64 MiB costs ~100 ms, too much
    // for a store opened to append a few records).
    *registered = true;
    if (Status s = env_->register_buffer({ring_->memory(), ring_->capacity()}); !s) {
      spdlog::debug("{}: ring not registered with io_uring ({}); plain writes", root_,
                    s.to_string());
    }
  }
  // Read under the lock: a leader that takes it after this step sees
  // stop_ too, and steps no more (lead_sync).
  seen->stopping = stop_.load();
  seen->drained = journaller_->position() == ring_->next_position();
  seen->unsynced = journaller_->durable_seq() < journaller_->written_seq();
  seen->due_in = journaller_->until_sync_due();
  return r;
}

bool JournalStage::sleep(const Step& r, const Seen& seen) {
  // Sleep until something is published or a sync is asked for; wake for
  // the interval sync, and every 10 ms while the disk is full, to retry.
  auto timeout = seams_.journal_idle_wakeup;
  if (!r.stall.is_ok()) timeout = std::chrono::milliseconds(10);
  // Under kInterval: when what is unsynced falls due; with nothing
  // unsynced, an interval from now when producers may write while it
  // sleeps (write_when_idle: their writes do not wake it). Woken by that
  // deadline, it syncs what is unsynced whatever a leader's sync meanwhile
  // did to the policy's clock: nothing waits more than an interval.
  bool deadline_syncs = false;
  if (options_.sync.mode == SyncPolicy::Mode::kInterval &&
      (seen.unsynced || options_.write_when_idle)) {
    const auto left = seen.unsynced ? seen.due_in : options_.sync.interval;
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
  const bool woken = wake_.wait_for(
      [&] {
        if (stop_.load() || retry_.load() || sync_check_.exchange(false)) return true;
        if (!mu_.try_lock()) return false;
        MutexLock guard(mu_, std::adopt_lock);
        if (journaller_->stall().is_ok() && journaller_->has_work()) return true;
        return sync_request_.load(std::memory_order_acquire) > journaller_->durable_seq() &&
               journaller_->written_seq() > journaller_->durable_seq();
      },
      timeout);
  const bool tick = deadline_syncs && !woken;
  if (tick && seams_.journal_deadline_wakeups != nullptr) {
    seams_.journal_deadline_wakeups->fetch_add(1, std::memory_order_relaxed);
  }
  return tick;
}

void JournalStage::stop() {
  stop_.store(true);
  wake_.notify();
}

void JournalStage::join() {
  if (thread_.joinable()) thread_.join();
}

uint64_t JournalStage::written_seq() {
  MutexLock guard(mu_);
  return journaller_->written_seq();
}

Status JournalStage::finish(Status so_far, bool sync) {
  MutexLock guard(mu_);
  if (so_far && sync) so_far = journaller_->sync_now();
  if (so_far && writer_->has_segment()) so_far = writer_->seal();
  return so_far;
}

void JournalStage::release_writer() {
  MutexLock guard(mu_);
  writer_.reset();
}

}  // namespace reel::store
