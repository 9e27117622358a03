// Store internals, shared by store.cc (append, publish, wait, close),
// store_stages.cc (the index thread, health) and store_open.cc (opening and
// wiring). The journal stage is journal_stage.h.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "index/index.h"
#include "pipeline/journaller.h"
#include "pipeline/ring_indexer.h"
#include "reel/store.h"
#include "ring/wait_strategy.h"
#include "store/head_file.h"
#include "store/journal_stage.h"
#include "store/recovery.h"
#include "store/stage_health.h"
#include "store/store_dir.h"
#include "store/store_internal.h"
#include "store/stream_registry.h"
#include "util/mutex.h"
#include "wal/frame.h"
#include "wal/io_env.h"
#include "wal/segment_writer.h"

namespace reel {
namespace store {

// CLOCK_REALTIME in ns: a record's default ts, and entropy for a new store id.
inline uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// Raises `a` to `v` if it is lower.
inline void atomic_max(std::atomic<uint64_t>& a, uint64_t v) {
  uint64_t cur = a.load(std::memory_order_relaxed);
  while (cur < v && !a.compare_exchange_weak(cur, v, std::memory_order_acq_rel)) {
  }
}

}  // namespace store

// Everything a writer owns, and the pipeline:
//
//   append() ──► FrameRing ──► journal thread ──► index thread
//   (any thread)               (Journaller:        (RingIndexer:
//                               WAL, fdatasync)     LMDB)
//
// Producers claim, build and publish frames in the ring; the journal thread
// writes them and syncs by the policy; the index thread indexes them and
// frees the ring space. Watermarks go to the head file, and every move wakes
// the head file's futex (waiters here and tailers in other processes).
//
// "Open" below means open_store_with_env() on one thread, before the stage
// threads start (start_pipeline) and before anyone else holds the Store.
struct REEL_INTERNAL Store::Impl final : store::JournalHost {
  // Set at open; read-only afterwards, from any thread.
  StoreOptions options;
  store::StorePaths paths;
  std::string boot_id;  // the index thread passes it to mark_index_dirty()
  uint64_t store_id = 0;
  uint32_t base_segment_no = 0;  // producers number frames from it

  store::TestSeams seams;  // set at open; read-only afterwards

  // Taken at open; close() releases it last, after everything else is done.
  store::WriterLock lock;
  // Written at open, by the stages and by close(). Its watermarks and epoch
  // are atomics in the mapping: read and waited on from any thread.
  store::HeadFile head;
  // Set before open; recovery uses it, then the journal stage (its
  // SegmentWriter, the ring's registration), the index and the head file.
  std::unique_ptr<wal::IoEnv> env;
  // Used at open (recovery, load_streams), then by the index thread (through
  // the RingIndexer, and its syncs); close() syncs it after the join.
  std::unique_ptr<index::Index> index;

  // The pipeline, built at open. The ring is lock-free: producers claim and
  // publish, the journaller and indexer consume (pipeline/frame_ring.h).
  std::unique_ptr<pipeline::FrameRing> ring;
  // The journal stage: its lock, the SegmentWriter and Journaller, the
  // requests made of it and its thread (journal_stage.h). Built at open.
  std::unique_ptr<store::JournalStage> journal;
  // The index thread's; the journal thread calls note_segment() (locked inside).
  std::unique_ptr<pipeline::RingIndexer> indexer;
  ring::Waiter released;  // only the index thread sleeps here; the journal thread wakes it
  ring::Waiter space;     // producers wait for ring space; the index thread wakes them
  // Only the index thread sleeps here, through its batching delay
  // (StoreOptions::index_delay); whatever must not wait for that delay
  // wakes it (index_now()).
  ring::Waiter index_nudge;
  std::thread index_thread;  // started at open; joined by close()

  // Flags and requests between threads (atomics; no lock).
  std::atomic<bool> closing{false};        // close() sets; producers refuse new records
  std::atomic<uint64_t> index_request{0};  // wait(kIndexed) asks for the index up to here now

  // Health: moved by the stages (stage_health.h), read by producers and
  // waiters. Each Status is stored under status_mu before the move that
  // publishes it.
  store::StageHealth health;
  mutable Mutex status_mu;
  Status failure GUARDED_BY(status_mu);  // the first error only
  Status stall GUARDED_BY(status_mu);    // the journal thread's, before try_stall()
  bool failure_reported GUARDED_BY(status_mu) = false;

  store::StreamRegistry streams;  // producers; locks inside (stream_registry.h)

  Mutex close_mu;
  bool closed GUARDED_BY(close_mu) = false;

  Impl(const std::string& dir, const StoreOptions& o);

  // Opening and wiring (store_open.cc).
  Status open_locked();
  Status load_streams();
  Status start_pipeline(const store::RecoveryResult& recovered);

  // Producers, waiters and close (store.cc).
  Result<uint64_t> append(std::string_view stream, std::string_view payload,
                          const AppendOptions& ao);
  Result<uint64_t> publish(wal::RecordFields& fields, bool fail_if_full);
  // Store::request(): posts a sync or index request and wakes the stage
  // that serves it; never blocks.
  Status request(uint64_t seq, Level level);
  Status wait(uint64_t seq, Level level, std::chrono::nanoseconds timeout);
  Status not_appended(uint64_t seq) const;
  uint64_t level_seq(Level level) const;
  bool retried_since_stall(uint64_t seq, Level level);
  Status close() EXCLUDES(close_mu);

  // The index stage and the stages' health (store_stages.cc).
  // Bytes written and not yet indexed (a snapshot) are a sixteenth of the
  // ring or more: enough to index now.
  bool index_backlog_large() const {
    return ring->upstream_end(1) - ring->consumer_position(1) >= ring->capacity() / 16;
  }
  // Whether the index thread indexes its backlog now, rather than after its
  // batching delay: no delay is set, a wait(kIndexed) waits, the store
  // closes or has stopped, or the backlog is a sixteenth of the ring or more.
  bool index_now();
  // After records were written (by any thread): wakes the index thread if
  // it sleeps idle, or, through its batching delay, once index_now() holds
  // for the backlog.
  void wrote_records() override;
  void journal_ended() override {
    released.notify();
    index_nudge.notify();
  }
  // The index thread's batching delay, cut short by index_now().
  void index_batching_wait();
  // The index thread's periodic duties: LMDB synced and the head file's
  // durable point persisted, each every index_sync_interval.
  struct IndexUpkeep {
    bool dirty = false;  // LMDB commits not yet synced (head file marked so)
    std::chrono::steady_clock::time_point last_sync, last_persist;
    uint64_t persisted_durable = 0;
  };
  Status index_upkeep(IndexUpkeep& upkeep);
  void index_loop();
  void track_stall(const Status& stall_now) override EXCLUDES(status_mu);
  void set_failure(const Status& s) EXCLUDES(status_mu);
  Status failure_status() EXCLUDES(status_mu);
  Status stall_status() const EXCLUDES(status_mu);

  // JournalListener (the journal stage, under its lock).
  // Each watermark move wakes waiters and tailers at once (before any sync
  // that follows the write in the same step).
  void on_written(uint64_t seq) override {
    head.set_written_seq(seq);
    head.notify();
  }
  void on_durable(uint64_t seq) override {
    head.set_durable_seq(seq);
    head.notify();
  }
  void on_segment(uint64_t segment_index, uint64_t first_seq) override {
    indexer->note_segment(segment_index, first_seq);
  }
  void on_failure(const Status& s) override { set_failure(s); }
};

}  // namespace reel
