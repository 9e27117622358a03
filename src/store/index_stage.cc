#include "store/index_stage.h"

#include <pthread.h>
#include <sched.h>

#include <algorithm>

#include "ring/sequence.h"

namespace reel::store {

IndexStage::IndexStage(const Parts& parts, const pipeline::RingIndexer::Options& indexer_options,
                       uint64_t start)
    : options_(*parts.options),
      boot_id_(parts.boot_id),
      ring_(parts.ring),
      index_(parts.index),
      head_(parts.head),
      health_(parts.health),
      host_(parts.host),
      indexer_(std::make_unique<pipeline::RingIndexer>(ring_, index_, indexer_options, start)),
      released_(parts.wait_mode, ring::Sleepers::kOneSleeper) {}

IndexStage::~IndexStage() {
  join();
}

void IndexStage::start() {
  thread_ = std::thread([this] {
    ::pthread_setname_np(::pthread_self(), "reel-index");
    run();
  });
}

void IndexStage::join() {
  if (thread_.joinable()) thread_.join();
}

void IndexStage::wrote_records() {
  released_.notify();
  if (backlog_large()) nudge_.notify();
}

void IndexStage::request(uint64_t seq) {
  ring::raise_to(request_, seq);
  nudge_.notify();
}

void IndexStage::nudge() {
  released_.notify();
  nudge_.notify();
}

bool IndexStage::index_now() {
  return options_.index_delay.count() <= 0 || backlog_large() ||
         request_.load(std::memory_order_acquire) > indexer_->indexed_seq() || host_->closing() ||
         host_->journal_done() || health_->state() != StageHealth::kHealthy;
}

void IndexStage::batching_wait() {
  // Never longer than index_sync_interval: upkeep() runs between waits.
  nudge_.wait_for([&] { return index_now(); },
                  std::min(options_.index_delay, options_.index_sync_interval));
}

Status IndexStage::upkeep(Upkeep& u) {
  using Clock = std::chrono::steady_clock;
  if (u.dirty && Clock::now() - u.last_sync >= options_.index_sync_interval) {
    if (Status s = index_->sync(); !s) return s;
    head_->mark_index_clean();
    u.dirty = false;
    u.last_sync = Clock::now();
  }
  if (head_->durable_seq() != u.persisted_durable &&
      Clock::now() - u.last_persist >= options_.index_sync_interval) {
    // The durable point recovery trusts after a power cut (head_file.h).
    u.persisted_durable = head_->durable_seq();
    if (Status s = head_->persist(); !s) return s;
    u.last_persist = Clock::now();
  }
  return Status::ok();
}

void IndexStage::run() {
  {
    // Batch work: woken by every write, it never preempts the thread it
    // lands beside (a tailer woken by the same write, say: its p99 was
    // 60-70 us with the index thread cutting in, 38-48 without; 2 vCPUs).
    // It keeps its fair share of the CPU.
    sched_param none{};
    (void)sched_setscheduler(0, SCHED_BATCH, &none);
  }
  Upkeep u;
  u.last_sync = u.last_persist = std::chrono::steady_clock::now();
  u.persisted_durable = head_->durable_seq();
  bool delayed = false;  // waited out the batching delay since the last idle sleep
  while (step(u, &delayed)) {
  }
}

bool IndexStage::step(Upkeep& u, bool* delayed) {
  const bool pending = ring_->upstream_end(1) != indexer_->position();
  if (pending && !*delayed && !index_now()) {
    // The first records after an idle spell: wait for more (index_delay).
    batching_wait();
    *delayed = true;
    return true;
  }
  if (pending && !u.dirty) {
    // Before the first unsynced commit: a reboot from here on means the
    // index may have lost commits the WAL kept (head_file.h).
    if (Status s = head_->mark_index_dirty(boot_id_); !s) {
      host_->set_failure(s);
      return false;
    }
    u.dirty = true;
  }
  const bool worked = pending && indexer_->step();
  if (!indexer_->status().is_ok()) {
    host_->set_failure(indexer_->status());
    return false;
  }
  if (worked) {
    head_->set_indexed_seq(indexer_->indexed_seq());
    head_->notify();
    host_->space_freed();
  }
  if (Status s = upkeep(u); !s) {
    host_->set_failure(s);
    return false;
  }
  if (worked) {
    // Records keep coming: index them after the delay too, in one batch.
    if (!index_now()) batching_wait();
    *delayed = true;
    return true;
  }
  if (host_->journal_done() && ring_->upstream_end(1) == indexer_->position()) return false;
  *delayed = false;
  released_.wait_for(
      [&] { return ring_->upstream_end(1) != indexer_->position() || host_->journal_done(); },
      std::chrono::milliseconds(100));
  return true;
}

}  // namespace reel::store
