// JournalStage: the writer's journal stage and its one owner. It holds the
// journal lock, the SegmentWriter and the Journaller that lock serialises,
// the requests other threads make of the stage (a sync up to a seq, a retry
// after a full disk), and the journal thread.
//
// Three entry points write to the WAL, each under the journal lock:
//   run()            the journal thread: writes what producers publish,
//                    syncs by the policy and when asked, zeroes ahead, and
//                    sleeps when there is nothing to do;
//   published()      a producer, after it published a record: writes it
//                    itself when the journal thread sleeps and nothing was
//                    written for a while (StoreOptions::write_when_idle),
//                    else wakes the journal thread;
//   lead_sync(seq)   a waiter for kDurable: writes and syncs up to seq on its
//                    own thread instead of waiting for two thread hops.
// Everything else only asks: request_sync(), retry_now(), stop().
//
// The journal thread's fdatasync runs with the lock free (a SyncTicket:
// producers and leaders write meanwhile); that one call goes through
// unlocked_journaller(). Lock annotations are checked by clang
// (-Wthread-safety).
//
// Lifetime: built by the store's open after recovery, started once, stopped
// once by close(), which then finishes the WAL through finish().
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "pipeline/frame_ring.h"
#include "pipeline/journaller.h"
#include "reel/options.h"
#include "ring/wait_strategy.h"
#include "store/head_file.h"
#include "store/stage_health.h"
#include "store/store_internal.h"
#include "util/mutex.h"
#include "wal/io_env.h"
#include "wal/segment_writer.h"

namespace reel::store {

// What the journal stage needs of the store around it. Called from the
// journal thread and from producers and leaders, never under the journal
// lock unless said.
class JournalHost : public pipeline::JournalListener {
 public:
  // Records were written: the index stage may index them.
  virtual void wrote_records() = 0;
  // After every step, under the journal lock: a full disk (`stall_now` not
  // ok) stalls a healthy store; an ok step recovers a stalled one.
  virtual void track_stall(const Status& stall_now) = 0;
  // The journal thread has ended (done() is true): whoever waits for it
  // looks again.
  virtual void journal_ended() = 0;
};

class JournalStage {
 public:
  // Everything borrowed must outlive the stage. `writer` is positioned at
  // `start` (journaller.h).
  struct Parts {
    const StoreOptions* options = nullptr;
    TestSeams seams;
    std::string root;  // the store's directory, for messages
    pipeline::FrameRing* ring = nullptr;
    wal::IoEnv* env = nullptr;
    HeadFile* head = nullptr;
    StageHealth* health = nullptr;
    JournalHost* host = nullptr;
    ring::WaitMode wait_mode = ring::WaitMode::kBlock;  // how the journal thread waits
  };
  JournalStage(const Parts& parts, std::unique_ptr<wal::SegmentWriter> writer,
               const pipeline::Journaller::Options& journal_options, uint64_t start);
  ~JournalStage();  // stop() and join() if the thread still runs
  JournalStage(const JournalStage&) = delete;
  JournalStage& operator=(const JournalStage&) = delete;

  // Starts the journal thread (once).
  void start();

  // --- The entry points ---
  // A producer published the record at ring position `position`: when the
  // journal thread sleeps, or syncs with nothing but this record waiting
  // (while it syncs under sustained appends it writes them, in one batch,
  // after: producers writing then cost 1-producer streaming under kAlways a
  // third of its rate, measured), this thread may write (write_if_idle). If
  // it does not, it wakes the journal thread (notify() looks for a sleeper
  // again, after the journal lock this thread may have held is free). The
  // journal's cursor is read only while it syncs: under sustained appends
  // that line moves with every write. Inline: every append passes here.
  void published(uint64_t position) EXCLUDES(mu_) {
    if ((wake_.has_sleeper() ||
         (syncing_.load(std::memory_order_relaxed) && ring_->consumer_position(0) == position)) &&
        !write_if_idle()) {
      wake_.notify();
    }
  }
  // wait(seq, kDurable) with no timeout on a healthy store: true once seq is
  // durable; false when it could not lead (closing, failed, stalled, a
  // record before seq not yet published): then it waits like anyone.
  bool lead_sync(uint64_t seq) EXCLUDES(mu_);

  // --- Requests (atomics and a wake-up; never block) ---
  // An fdatasync up to `seq`, whatever the sync policy.
  void request_sync(uint64_t seq);
  // A stalled stage retries its segment creation now.
  void retry_now();
  // Journal steps finished so far (either thread): two more after a
  // retry_now() mean the retry was made.
  uint64_t steps() const { return steps_.load(std::memory_order_acquire); }
  // The journal thread has ended (after stop(), or a failure).
  bool done() const { return done_.load(); }
  // fdatasyncs of the WAL's data so far (either thread).
  uint64_t wal_syncs() const { return wal_syncs_.load(std::memory_order_relaxed); }

  // --- Closing ---
  // Asks the journal thread to write everything claimed and stop; join()
  // waits for it. A leader that took the lock before stop() may still hold
  // it after join(), and steps no more once it sees the stop.
  void stop();
  void join();
  // After stop(): the last seq written; syncs (`sync`) and seals the
  // active segment. `so_far` is the close's status: nothing is synced or
  // sealed after an error.
  uint64_t written_seq() EXCLUDES(mu_);
  Status finish(Status so_far, bool sync) EXCLUDES(mu_);
  // Closes the segment files (after finish(); before the ring's memory goes).
  void release_writer() EXCLUDES(mu_);

 private:
  struct Step {
    bool worked = false;  // wrote something
    bool failed = false;  // the journaller stopped (on_failure was called)
    Status stall;         // kNoSpace while a segment cannot be created
  };
  // What one loop of the journal thread saw, read under the lock.
  struct Seen {
    bool stopping = false, drained = false, unsynced = false;
    std::chrono::nanoseconds due_in{};
  };

  // A producer's own write of what is published, if the store is healthy
  // and idle and the lock free. False: nothing written, the caller wakes
  // the journal thread.
  bool write_if_idle() EXCLUDES(mu_);
  // One journaller step, then the sync a waiter asked for once what it
  // covers is written (`defer_sync`: no sync; the caller syncs with the
  // lock free, sync_unlocked). Starts no writeback.
  Step step_locked(bool defer_sync = false) REQUIRES(mu_);
  // A wait(kDurable)'s sync is due (sync_request_).
  bool sync_asked_locked() REQUIRES(mu_);
  // The journal thread's sync (the policy's, or the one asked for), with the
  // lock let go while the disk works and held again on return; true if it
  // synced. `wrote`: the step before it wrote. `force`: sync whatever is
  // unsynced, due or not (the interval tick).
  bool sync_unlocked(bool wrote, bool force) REQUIRES(mu_);
  // The journal thread's loop, and its two halves.
  void run() EXCLUDES(mu_);
  Step step_and_sync(bool tick, uint64_t start, bool* registered, Seen* seen) EXCLUDES(mu_);
  // Sleeps until there is work; true when woken by the interval's deadline
  // (a tick: sync whatever is unsynced).
  bool sleep(const Step& r, const Seen& seen) EXCLUDES(mu_);
  // The journaller, for the one call made without the lock: run_sync() of a
  // SyncTicket begun under it (safe beside the writes made meanwhile).
  pipeline::Journaller* unlocked_journaller() NO_THREAD_SAFETY_ANALYSIS {
    return journaller_.get();
  }

  const StoreOptions& options_;
  const TestSeams seams_;
  const std::string root_;
  pipeline::FrameRing* const ring_;
  wal::IoEnv* const env_;
  HeadFile* const head_;
  StageHealth* const health_;
  JournalHost* const host_;

  // Serialises the journal stage. The journal thread holds it for each step;
  // a producer waiting for kDurable takes it to write and sync its own
  // records instead of waiting for the journal thread to wake and then be
  // woken in turn (leader sync: two thread hops fewer per synced append, as
  // LevelDB's and RocksDB's writers write their own WAL). Never held while
  // sleeping on a Waiter or on the head file.
  Mutex mu_;
  std::unique_ptr<wal::SegmentWriter> writer_ PT_GUARDED_BY(mu_);
  std::unique_ptr<pipeline::Journaller> journaller_ PT_GUARDED_BY(mu_);

  // Only the journal thread sleeps here; producers and requests wake it.
  ring::Waiter wake_;
  std::thread thread_;
  std::atomic<bool> stop_{false};          // stop() sets; the thread drains, stops
  std::atomic<bool> done_{false};          // the thread sets as it ends
  std::atomic<uint64_t> sync_request_{0};  // an fdatasync is asked for up to here
  std::atomic<bool> retry_{false};         // a waiter asks a stalled journaller to retry now
  std::atomic<uint64_t> steps_{0};         // journal steps finished (either thread)
  std::atomic<uint64_t> wal_syncs_{0};     // counted by the SegmentWriter
  // steady_clock ns of the last write by the journal thread or a producer;
  // relaxed, a heuristic.
  std::atomic<int64_t> last_write_ns_{0};
  // A producer wrote while the journal thread slept under kAlways: the sync
  // is the journal thread's to make now.
  std::atomic<bool> sync_check_{false};
  // The journal thread is in an fdatasync without the lock (sync_unlocked):
  // producers may write meanwhile, as when it sleeps.
  std::atomic<bool> syncing_{false};
};

}  // namespace reel::store
