// Store internals, shared by store.cc (append, publish, wait, close),
// store_health.cc (the stages' health) and store_open.cc (opening and
// wiring). The stages are journal_stage.h and index_stage.h.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <memory>
#include <string>
#include <string_view>

#include "index/index.h"
#include "pipeline/journaller.h"
#include "pipeline/ring_indexer.h"
#include "reel/store.h"
#include "ring/wait_strategy.h"
#include "store/head_file.h"
#include "store/index_stage.h"
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
struct REEL_INTERNAL Store::Impl final : store::JournalHost, store::IndexHost {
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
  ring::Waiter space;  // producers wait for ring space; the index thread wakes them
  // close() sets; producers refuse new records.
  std::atomic<bool> closing_{false};

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

  // The stages, declared last: destroyed first, while everything their
  // threads use still exists (close() has normally stopped them already).
  // The index stage: the RingIndexer, its requests and thread
  // (index_stage.h). Built at open; outlives the journal stage, which wakes
  // it.
  std::unique_ptr<store::IndexStage> index_stage;
  // The journal stage: its lock, the SegmentWriter and Journaller, the
  // requests made of it and its thread (journal_stage.h). Built at open.
  std::unique_ptr<store::JournalStage> journal;

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

  // The stages' health (store_health.cc) and what they ask of the store.
  void wrote_records() override { index_stage->wrote_records(); }
  void journal_ended() override { index_stage->nudge(); }
  void space_freed() override { space.notify(); }
  bool journal_done() const override { return journal->done(); }
  bool closing() const override { return closing_.load(); }
  void track_stall(const Status& stall_now) override EXCLUDES(status_mu);
  void set_failure(const Status& s) override EXCLUDES(status_mu);
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
    index_stage->note_segment(segment_index, first_seq);
  }
  void on_failure(const Status& s) override { set_failure(s); }
};

}  // namespace reel
