// Store internals, shared by store.cc (append, publish, wait, close),
// store_stages.cc (the journal and index threads, health) and store_open.cc
// (opening and wiring).
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
struct REEL_INTERNAL Store::Impl final : pipeline::JournalListener {
  // Set at open; read-only afterwards, from any thread.
  StoreOptions options;
  store::StorePaths paths;
  std::string boot_id;  // the index thread passes it to mark_index_dirty()
  uint64_t store_id = 0;
  uint32_t base_segment_no = 0;  // producers number frames from it

  store::TestSeams seams;  // set at open; read-only afterwards

  // Serialises the journal stage. The journal thread holds it for each step;
  // a producer waiting for kDurable takes it to write and sync its own
  // records instead of waiting for the journal thread to wake and then be
  // woken in turn (leader sync: two thread hops fewer per synced append, as
  // LevelDB's and RocksDB's writers write their own WAL). Never held while
  // sleeping on a Waiter or on the head file. Open takes it too, so that
  // every use of `writer` and `journaller` is under it (checked by clang's
  // -Wthread-safety), bar the journal thread's unlocked fdatasync
  // (sync_journal, through unlocked_journaller()).
  Mutex journal_mu;

  // Taken at open; close() releases it last, after everything else is done.
  store::WriterLock lock;
  // Written at open, by the stages and by close(). Its watermarks and epoch
  // are atomics in the mapping: read and waited on from any thread.
  store::HeadFile head;
  // Set before open; recovery uses it, then the SegmentWriter under
  // journal_mu (the journal thread, which also registers the ring with it,
  // or a leader).
  std::unique_ptr<wal::IoEnv> env;
  // Used at open (recovery, load_streams), then by the index thread (through
  // the RingIndexer, and its syncs); close() syncs it after the join.
  std::unique_ptr<index::Index> index;
  // Used through the Journaller under journal_mu (the journal thread or a
  // leader); close() seals it after the join.
  std::unique_ptr<wal::SegmentWriter> writer PT_GUARDED_BY(journal_mu);

  // The pipeline, built at open. The ring is lock-free: producers claim and
  // publish, the journaller and indexer consume (pipeline/frame_ring.h).
  std::unique_ptr<pipeline::FrameRing> ring;
  // Used under journal_mu only (with `writer` and `env`): by the journal
  // thread, by a waiter that leads its own sync (lead_sync), and by close()
  // after the join.
  std::unique_ptr<pipeline::Journaller> journaller PT_GUARDED_BY(journal_mu);
  // The index thread's; the journal thread calls note_segment() (locked inside).
  std::unique_ptr<pipeline::RingIndexer> indexer;
  ring::Waiter published;  // only the journal thread sleeps here; producers wake it
  ring::Waiter released;   // only the index thread sleeps here; the journal thread wakes it
  ring::Waiter space;      // producers wait for ring space; the index thread wakes them
  // Only the index thread sleeps here, through its batching delay
  // (StoreOptions::index_delay); whatever must not wait for that delay
  // wakes it (index_now()).
  ring::Waiter index_nudge;
  std::thread journal_thread, index_thread;  // started at open; joined by close()

  // Flags and requests between threads (atomics; no lock).
  std::atomic<bool> closing{false};        // close() sets; producers refuse new records
  std::atomic<bool> stop_journal{false};   // close() sets; the journal thread drains, stops
  std::atomic<bool> journal_done{false};   // the journal thread sets as it ends
  std::atomic<uint64_t> sync_request{0};   // wait(kDurable) asks for an fdatasync up to here
  std::atomic<uint64_t> index_request{0};  // wait(kIndexed) asks for the index up to here now
  std::atomic<bool> retry_now{false};      // a waiter asks a stalled journaller to retry now
  std::atomic<uint64_t> journal_steps{0};  // journal steps finished (either thread)
  // steady_clock ns of the last write by the journal thread or a producer
  // (write_while_journal_sleeps); relaxed, a heuristic.
  std::atomic<int64_t> last_write_ns{0};
  // A producer wrote while the journal thread slept under kAlways: the
  // sync is the journal thread's to make now.
  std::atomic<bool> sync_check{false};
  // The journal thread is in an fdatasync without journal_mu (sync_journal):
  // producers may write meanwhile, as when it sleeps.
  std::atomic<bool> journal_syncing{false};

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
  Status start_pipeline(const store::RecoveryResult& recovered) EXCLUDES(journal_mu);

  // Producers, waiters and close (store.cc).
  Result<uint64_t> append(std::string_view stream, std::string_view payload,
                          const AppendOptions& ao);
  Result<uint64_t> publish(wal::RecordFields& fields, bool fail_if_full);
  // After a publish that found the journal thread asleep (or syncing, with
  // this record first in line): writes what is
  // published (Journaller::write_published) on this thread if the store is
  // healthy, idle (StoreOptions::write_when_idle) and the journal lock free.
  // False: nothing written, the caller wakes the journal thread.
  bool write_while_journal_sleeps() EXCLUDES(journal_mu);
  // Store::request(): posts sync_request / index_request and wakes the
  // stage that serves it; never blocks.
  Status request(uint64_t seq, Level level);
  Status wait(uint64_t seq, Level level, std::chrono::nanoseconds timeout);
  Status not_appended(uint64_t seq) const;
  uint64_t level_seq(Level level) const;
  bool retried_since_stall(uint64_t seq, Level level);
  Status close() EXCLUDES(journal_mu, close_mu);

  // The stages and their health (store_stages.cc).
  struct JournalStep {
    bool worked = false;  // wrote something
    bool failed = false;  // the journaller stopped (on_failure was called)
    Status stall;         // kNoSpace while a segment cannot be created
  };
  // One journaller step, then the sync a waiter asked for (sync_request) once
  // what it covers is written (`defer_sync`: no sync; the caller syncs with
  // journal_mu free, sync_journal). Starts no writeback: a sync follows,
  // or the journal thread starts it once it knows none does. Caller holds
  // journal_mu.
  JournalStep journal_step_locked(bool defer_sync = false) REQUIRES(journal_mu);
  // A wait(kDurable)'s sync is due (sync_request). Caller holds journal_mu.
  bool sync_asked_locked() REQUIRES(journal_mu);
  // The journal thread's sync (the policy's, or the one asked for), with
  // journal_mu let go while the disk works and held again on return; true
  // if it synced. `wrote`: the step before it wrote (the index thread is
  // woken first). `force`: sync whatever is unsynced, due or not (the
  // interval tick).
  bool sync_journal(bool wrote, bool force) REQUIRES(journal_mu);
  // The journaller, for the one call made without journal_mu: run_sync()
  // of a SyncTicket begun under it (SegmentWriter::SyncTicket: safe beside
  // the writes that producers and leaders make meanwhile).
  pipeline::Journaller* unlocked_journaller() NO_THREAD_SAFETY_ANALYSIS { return journaller.get(); }
  // wait(seq, kDurable) on a healthy store: writes what is published up to
  // `seq` and syncs it on the calling thread. True once seq is durable;
  // false when it could not lead (closing, failed, stalled, a record before
  // `seq` not yet published).
  bool lead_sync(uint64_t seq) EXCLUDES(journal_mu);
  void journal_loop() EXCLUDES(journal_mu);
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
  void wrote_records();
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
  void track_stall(const Status& stall_now) EXCLUDES(status_mu);
  void set_failure(const Status& s) EXCLUDES(status_mu);
  Status failure_status() EXCLUDES(status_mu);
  Status stall_status() const EXCLUDES(status_mu);

  // JournalListener (journal thread).
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
