// reel::Store: the writer. One per store directory at a time (STORE/LOCK).
//
// Thread safety: append(), wait(), flush(), sync(), watermarks(),
// ring_fill() and last_seq() may be called from any number of threads at
// once. close() may
// be called from any thread; appends racing with it may fail (kFailed). The
// Store must outlive every call into it.
#pragma once

#include "reel/export.h"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "reel/options.h"
#include "reel/status.h"
#include "reel/types.h"

namespace reel {

class REEL_EXPORT Store {
 public:
  // Opens the store in `dir` for writing, creating it if allowed. Takes the
  // writer lock (another writer, in this process or another, gets kBusy), then
  // recovers: cuts a torn tail, brings the index up to date with the WAL, and
  // logs what it did. Never refuses because of a torn tail.
  static Result<std::unique_ptr<Store>> open(const std::string& dir,
                                             const StoreOptions& options = {});
  ~Store();  // close(); errors are logged
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Appends one record to `stream` (created on first use) and returns its
  // seq as soon as the record is in the ring: *appended*. The journaller
  // then writes it (*written*: visible to readers, safe from a process
  // crash), the indexer indexes it, and it becomes *durable* as the sync
  // policy says; wait() blocks until a level is reached. Thread-safe; seqs
  // are dense and totally ordered, and one thread's records keep that
  // thread's order.
  //
  // What it costs the caller: claiming ring space is lock-free (one
  // compare-and-swap). Three things are not: a thread's first record to a
  // stream takes the stream registry's mutex (later ones use a per-thread
  // cache); a full ring blocks until the index thread frees space (or
  // returns kBusy, see AppendOptions); and after a quiet spell (no write for
  // 50 us, StoreOptions::write_when_idle) the append writes the record to
  // the WAL itself, under the journal lock if it is free (try_lock, never
  // waited for), so that readers see it one thread hop sooner. Fails with
  // kNoSpace when the disk is full and the ring is too, and with kFailed
  // after a write error.
  Result<uint64_t> append(std::string_view stream, std::string_view payload,
                          const AppendOptions& options = {});

  // Blocks until record `seq` has reached `level` (kOk), the store fails
  // (its error, then kFailed), the disk is full when a segment must be
  // created (kNoSpace, temporary: the records stay in the ring and are
  // written when space returns), or `timeout` passes (kBusy; negative: no
  // limit). A full disk or index map met by the index, or a failed write or
  // sync, stops the store for good (kFailed, saying what a reopen needs);
  // everything written is in the WAL and a reopen indexes it. Waiting for
  // kDurable asks for an fdatasync now, whatever the sync policy.
  Status wait(uint64_t seq, Level level,
              std::chrono::nanoseconds timeout = std::chrono::nanoseconds(-1));

  // Asks for record `seq` to reach `level` soon and returns at once: kDurable
  // asks the journal thread for an fdatasync now (whatever the sync policy),
  // kIndexed asks the index thread to index now (not after its batching
  // delay), kWritten asks nothing. For a poll loop that owes acknowledgements
  // and must not block; watermarks() or wait() then tell when it happened.
  // kInvalidArgument for a seq not yet appended.
  Status request(uint64_t seq, Level level);

  // Waits until every record appended before the call is written and
  // indexed, and with SyncPolicy kAlways durable too.
  Status flush();
  // flush(), and every record appended before the call is durable.
  Status sync();
  // Writes and indexes everything appended, syncs unless the policy is
  // kNone, syncs the index, marks a clean shutdown and releases STORE/LOCK
  // (another writer may open the store as soon as close() returns, while
  // this object still exists). Further calls fail. Idempotent. Appends
  // racing with close() may fail.
  Status close();

  Watermarks watermarks() const;
  RingFill ring_fill() const;
  // fdatasyncs of the WAL's data since open (group commit: one covers every
  // record written before it). Any thread.
  uint64_t wal_syncs() const;
  uint64_t last_seq() const;  // last seq handed out by append()
  const std::string& dir() const;

  struct Impl;
  explicit Store(std::unique_ptr<Impl> impl);  // internal: use open()

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace reel
