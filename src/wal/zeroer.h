// Zeroer: keeps the disk blocks just ahead of a segment's write offset
// written with zeros, in the background, so that fdatasync finds data to
// flush and no file-system metadata to commit.
//
// Why: a segment is preallocated with fallocate, which leaves its blocks
// "unwritten" (ext4, XFS). Writing into such a block converts it, and the
// next fdatasync must commit that conversion to the file system's journal:
// on this machine's ext4, a 188 KB write + fdatasync took 290 us p50 into
// fallocated space and 150 us into space written with zeros beforehand
// (docs/benchmarks.md, "Where the time goes"). PostgreSQL zero-fills its WAL segments
// for the same reason.
//
// How: O_DIRECT writes of zeros through a second descriptor and a private
// io_uring, with RWF_NOWAIT so that the kernel issues them from the caller
// and returns (no worker thread holding the inode lock through the I/O),
// one chunk in flight at most. The conversions they cause are committed by
// the writer's next fdatasync: once per chunk (1 MiB) instead of at nearly
// every sync.
//
// Safety: a chunk never covers a byte the writer may have written. It starts
// at or past the first page boundary after the writer's end (a margin past
// it when the writer has caught up with the zeroing), and the writer
// calls before_write() before every write, which waits for a chunk in
// flight that the write would reach. Zeros go only over blocks that read as
// zeros already (preallocated, never written), so a crash or power loss at
// any point leaves nothing a reader or recovery would see differently, and
// a failed zeroing write loses nothing: it switches zeroing off for the
// segment (the writer goes on as it would without a Zeroer).
//
// One caller at a time (the segment writer's, under the store's journal
// lock). A chunk's completion is delivered as task work to the thread that
// started it (io_uring without SQPOLL): a writer on another thread that
// must wait for the chunk waits until that thread next enters the kernel.
// The store starts chunks from its journal thread only, which either sleeps
// interruptibly (woken to run the work) or runs (kicked), so the delivery
// is prompt; the wait itself is the chunk's I/O, about a millisecond here.
//
// Where a file system refuses the chunks (RWF_NOWAIT, 16 in a row) zeroing
// stops for the segment; where it cannot do O_DIRECT at all (tmpfs) there
// is no Zeroer. On thin-provisioned storage zeroing allocates ahead of the
// data, so such a device runs out up to a window sooner.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "reel/status.h"
#include "wal/io_env.h"
#include "wal/uring.h"

namespace reel::wal {

class Zeroer {
 public:
  // Bytes per background write. Each chunk's conversions cost one journal
  // commit at the next fdatasync: larger chunks make that rarer, but hold
  // the disk longer. Batches of 1,000 x 100 B (reel_durable_bench, one run
  // each, measured while chunks still started after every sync, before they
  // moved to the idle journal thread): 256 KiB chunks 1.73 M records/s,
  // 1 MiB 1.88-2.02 M, 4 MiB 1.99 M; without zeroing 1.53-1.73 M.
  static constexpr uint64_t kChunkBytes = uint64_t{1} << 20;

  // Opens `path` a second time, O_DIRECT. [0, capacity) is preallocated;
  // zeroing keeps up to `window` bytes past the writer's end. Fails where
  // the file system has no O_DIRECT (tmpfs): the writer then does without.
  // Every write of zeros is announced to `env` first (IoEnv::before_zeroing),
  // which must outlive the Zeroer.
  static Result<std::unique_ptr<Zeroer>> open(const std::string& path, uint64_t capacity,
                                              uint64_t window, IoEnv* env);
  ~Zeroer();  // waits for a chunk in flight
  Zeroer(const Zeroer&) = delete;
  Zeroer& operator=(const Zeroer&) = delete;

  // Zeroes [from, to) (rounded inward to whole pages) and waits: a new
  // segment's first window, before anything else is written to it.
  Status zero_now(uint64_t from, uint64_t to);
  // Starts zeroing the next chunk past `end` (the writer's end offset) when
  // none is in flight and fewer than `window` bytes past `end` are zeroed.
  // Never waits for the disk.
  void start_ahead(uint64_t end);
  // The writer is about to write bytes below `to`: waits for a chunk in
  // flight that starts below it. An error (the chunk could not be waited
  // for, so it may still land) means the writer must not write.
  Status before_write(uint64_t to);
  // Whether before_write(to) would wait now (a chunk it reaches is still
  // under way): a writer on a thread that did not start the chunk can leave
  // the write to the one that did.
  bool would_wait(uint64_t to) { return in_flight_ && to > flight_from_ && !reap(false); }

  // Zeroed (or written by the writer) up to here; for tests.
  uint64_t zeroed_to() const { return zeroed_to_; }
  bool stopped() const { return stopped_; }
  // How many times before_write() found a chunk it had to wait for still
  // under way; for tests.
  uint64_t waits() const { return waits_; }
  // The chunk in flight, [*from, *to), if one is (it may have completed
  // without being reaped yet); for tests.
  bool in_flight(uint64_t* from, uint64_t* to) const {
    *from = flight_from_;
    *to = flight_to_;
    return in_flight_;
  }

 private:
  Zeroer(int fd, uint64_t capacity, uint64_t window);
  // Asks the env before zeroing [from, to); false stops zeroing.
  bool allowed(uint64_t from, uint64_t to);
  // Takes the chunk in flight's completion: false while it is still (or
  // may still be) under way.
  bool reap(bool wait);

  int fd_;
  std::string path_;
  IoEnv* env_ = nullptr;
  uint64_t limit_;  // the capacity, rounded down to a page
  uint64_t window_;
  Uring ring_;
  uint64_t zeroed_to_ = 0;
  uint64_t flight_from_ = 0, flight_to_ = 0;  // the chunk in flight, if any
  bool in_flight_ = false;
  bool stopped_ = false;  // a zeroing write failed: no more
  int refusals_ = 0;      // RWF_NOWAIT refusals in a row
  uint64_t waits_ = 0;
};

}  // namespace reel::wal
