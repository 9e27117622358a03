// IndexStage: the writer's index stage and its one owner: the RingIndexer
// (the ring's second consumer, which indexes written frames into LMDB and
// frees their ring space), the requests made of it, the two Waiters the
// index thread sleeps on, and the index thread.
//
// The index thread batches a sparse feed: once records are written it waits
// up to StoreOptions::index_delay for more before indexing them in one
// transaction. Whatever must not wait for that delay cuts it short
// (index_now()): a request() (wait(kIndexed), a full ring), the store
// closing or failing, the journal thread's end, a backlog of a sixteenth of
// the ring. Readers read past the index from the WAL, so the delay hides
// nothing written.
//
// Every LMDB commit and sync goes through the writer's I/O seam (the Index
// was opened with it). The index thread is SCHED_BATCH: woken by the same
// write as a tailer, it must not preempt it.
//
// Lifetime: built by the store's open after recovery, started once, joined
// by close() after the journal stage stopped.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "index/index.h"
#include "pipeline/frame_ring.h"
#include "pipeline/ring_indexer.h"
#include "reel/options.h"
#include "ring/wait_strategy.h"
#include "store/head_file.h"
#include "store/stage_health.h"

namespace reel::store {

// What the index stage needs of the store around it.
class IndexHost {
 public:
  virtual ~IndexHost() = default;
  // The stage stopped for good on `s` (LMDB, the head file's msync).
  virtual void set_failure(const Status& s) = 0;
  // Ring space was freed: producers waiting for it look again.
  virtual void space_freed() = 0;
  // The journal thread has ended: nothing more will be written.
  virtual bool journal_done() const = 0;
  // close() has begun.
  virtual bool closing() const = 0;
};

class IndexStage {
 public:
  // Everything borrowed must outlive the stage.
  struct Parts {
    const StoreOptions* options = nullptr;
    std::string boot_id;  // marked in the head file before the first unsynced commit
    pipeline::FrameRing* ring = nullptr;
    index::Index* index = nullptr;
    HeadFile* head = nullptr;
    StageHealth* health = nullptr;
    IndexHost* host = nullptr;
    ring::WaitMode wait_mode = ring::WaitMode::kBlock;
  };
  IndexStage(const Parts& parts, const pipeline::RingIndexer::Options& indexer_options,
             uint64_t start);
  ~IndexStage();  // joins the thread if it runs (the journal must have ended)
  IndexStage(const IndexStage&) = delete;
  IndexStage& operator=(const IndexStage&) = delete;

  // Before start(): the indexer resumes inside the active segment.
  pipeline::RingIndexer& indexer() { return *indexer_; }
  void start();

  // Any thread, after records were written: wakes the index thread if it
  // sleeps idle, or, through its batching delay, once index_now() holds for
  // the backlog.
  void wrote_records();
  // Any thread: index up to `seq` now, not after the batching delay.
  void request(uint64_t seq);
  // Any thread: look again (the store closes or failed, the journal ended).
  void nudge();
  // The journal thread created a segment (locked inside the indexer).
  void note_segment(uint64_t segment_index, uint64_t first_seq) {
    indexer_->note_segment(segment_index, first_seq);
  }
  // Waits for the index thread to end (it ends once the journal has ended
  // and everything written is indexed, or on a failure).
  void join();

 private:
  // LMDB synced and the head file's durable point persisted, each every
  // index_sync_interval.
  struct Upkeep {
    bool dirty = false;  // LMDB commits not yet synced (head file marked so)
    std::chrono::steady_clock::time_point last_sync, last_persist;
    uint64_t persisted_durable = 0;
  };
  // Bytes written and not yet indexed (a snapshot) are a sixteenth of the
  // ring or more: enough to index now.
  bool backlog_large() const {
    return ring_->upstream_end(1) - ring_->consumer_position(1) >= ring_->capacity() / 16;
  }
  // Whether the backlog is indexed now rather than after the batching delay.
  bool index_now();
  // The batching delay, cut short by index_now().
  void batching_wait();
  Status upkeep(Upkeep& u);
  // One round of the loop: false when the thread ends.
  bool step(Upkeep& u, bool* delayed);
  void run();

  const StoreOptions& options_;
  const std::string boot_id_;
  pipeline::FrameRing* const ring_;
  index::Index* const index_;
  HeadFile* const head_;
  StageHealth* const health_;
  IndexHost* const host_;
  std::unique_ptr<pipeline::RingIndexer> indexer_;  // the index thread's
  ring::Waiter released_;  // only the index thread sleeps here; writers wake it
  ring::Waiter nudge_;     // only the index thread sleeps here, through its delay (always blocks)
  std::atomic<uint64_t> request_{0};  // index up to here now
  std::thread thread_;
};

}  // namespace reel::store
