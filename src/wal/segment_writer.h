// SegmentWriter appends batches of complete frames to the active segment.
//
// Watermarks, as the store uses them:
//   appended - handed to append_batch(); the call returns once the kernel has
//              taken every byte (page cache): the frames are *written* and
//              visible to readers, and survive a crash of this process;
//   durable  - covered by a sync() issued after those writes completed: they
//              survive power loss.
// One call at a time (the store's journal lock serialises its callers),
// except run_sync(), below.
//
// After any failed write or sync the writer is failed for good and returns
// that first error from every call (reliability.md rule 7: never retry and
// then acknowledge; the kernel may have dropped the dirty pages).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>

#include "reel/status.h"
#include "wal/io_env.h"
#include "wal/segment_file.h"
#include "wal/zeroer.h"

namespace reel::wal {

class SegmentWriter {
 public:
  // `env` is borrowed and must outlive the writer.
  SegmentWriter(IoEnv* env, std::string wal_dir, uint64_t store_id, uint64_t capacity_bytes)
      : env_(env), wal_dir_(std::move(wal_dir)), store_id_(store_id), capacity_(capacity_bytes) {}
  ~SegmentWriter();
  SegmentWriter(const SegmentWriter&) = delete;
  SegmentWriter& operator=(const SegmentWriter&) = delete;

  // Creates, preallocates and makes durable a new segment whose first frame
  // will carry `first_seq`. The previous segment must have been sealed. A full
  // disk or a process out of file descriptors fails here with kNoSpace and
  // holds no record; it does not fail the writer, so a later call (for the
  // same seq) may succeed once space returns. Once the file is renamed into
  // place, readers may have seen it: a later call only retries the
  // directory's sync, on that same file.
  Status start_segment(uint64_t first_seq, uint32_t segment_no);

  // Keep up to `window` bytes past the end of each segment written with
  // zeros (wal/zeroer.h): one chunk when a segment is created, then a chunk
  // at a time on zero_ahead(). 0 (the default): never.
  // Takes effect from the next segment started or resumed.
  void set_zero_ahead(uint64_t window) { zero_window_ = window; }

  // Continues the existing segment `header` at `end_offset` (after recovery).
  // The next sync() covers what is already there.
  Status resume_segment(const SegmentHeader& header, uint64_t end_offset);

  // Appends `frames` (whole frames, borrowed for the duration of the call) at
  // the end of the active segment. They must fit: see remaining_bytes().
  Status append_batch(std::span<const uint8_t> frames);
  // Whether append_batch() of `bytes` would now wait for a zeroing chunk in
  // flight (wal/zeroer.h: only the thread that started it completes it).
  bool append_would_wait(uint64_t bytes);

  // Starts writeback (sync_file_range) of the pages that appends completed
  // since the last call, so that a later sync() waits for the last pages
  // only (batches of 1,000 x 100 B, A/B of one build: 1.64-2.1 -> 2.24-2.56
  // M records/s). Not part of append_batch(): it can take tens of
  // microseconds, and the caller publishes the written watermark first (a
  // tailer woken after it waited that long, one 188-byte record in 21).
  // A failure fails the writer, as a failed write does.
  Status start_writeback();

  // fdatasync of the active segment: everything appended so far is durable.
  // Waits for a run_sync() in progress.
  Status sync();

  // A sync in three calls, so that the caller's lock is free while the disk
  // works (the store's journal thread: producers write meanwhile):
  //   SyncTicket t = writer.begin_sync();  // under the lock: covers what is appended now
  //   writer.run_sync(t);                  // without it: fdatasync
  //   Status s = writer.end_sync(t);       // under it again: its outcome
  // From begin_sync() to the end of run_sync() the ticket holds the writer's
  // sync mutex: sync() and seal() (so the descriptor's closing) wait for it,
  // and then find synced what it covered. A failed run_sync fails sync()
  // and append_batch() at once, and the writer for good at end_sync().
  struct SyncTicket {
    std::unique_lock<std::mutex> hold;
    int fd = -1;  // -1: nothing to sync
    std::string path;
    uint64_t end = 0;  // what it covers: the active segment up to here
    Status status;
  };
  SyncTicket begin_sync();
  void run_sync(SyncTicket& ticket);
  Status end_sync(SyncTicket& ticket);

  // Starts zeroing the next chunk ahead, if zeroing is on and the window is
  // not full (wal/zeroer.h). Never waits for the disk. Call it when nothing
  // is waiting to be written (the store's journal thread, idle): a chunk in
  // flight holds the disk for about a millisecond, and a write that reaches
  // it waits for it.
  void zero_ahead() {
    if (zeroer_ && fd_ >= 0) zeroer_->start_ahead(end_offset_);
  }

  // sync() and close the active segment, before starting the next one.
  Status seal();

  bool has_segment() const { return fd_ >= 0; }
  uint64_t remaining_bytes() const { return capacity_ - end_offset_; }
  uint64_t end_offset() const { return end_offset_; }
  uint32_t segment_no() const { return header_.segment_no; }
  uint64_t first_seq() const { return header_.first_seq; }
  const std::string& path() const { return path_; }
  uint64_t capacity_bytes() const { return capacity_; }
  const Status& failure() const { return failure_; }
  // Counts every fdatasync of a segment's data in *counter (borrowed; it
  // must outlive the writer). Set before the first write.
  void count_syncs_in(std::atomic<uint64_t>* counter) { sync_counter_ = counter; }
  // The active segment's Zeroer, or null (zeroing off or not possible).
  const Zeroer* zeroer() const { return zeroer_.get(); }

 private:
  Status fail(Status s);
  // Makes the new segment's directory entry durable and makes it the
  // active segment; kNoSpace leaves it named but not active (named_).
  Status sync_name_and_activate(const SegmentHeader& header, const std::string& path, int fd);
  uint64_t tail_pad(uint64_t end) const;  // zeros after `end`, to its page's end
  void open_zeroer(const std::string& path, bool first_window);

  IoEnv* env_;
  std::string wal_dir_;
  uint64_t store_id_;
  uint64_t capacity_;
  SegmentHeader header_;
  std::string path_;
  int fd_ = -1;
  uint64_t end_offset_ = 0;
  uint64_t writeback_from_ = 0;  // page-aligned: pages before it went to start_writeback
  // A sync covered the active segment up to here. Written under sync_mu_
  // (by run_sync without the caller's lock) or while no ticket is held.
  uint64_t synced_end_ = 0;
  // Held by a SyncTicket from begin_sync() to the end of run_sync(); taken by
  // sync() (under the caller's lock: order caller's lock -> sync_mu_), so a
  // segment is never sealed, nor another started, while a ticket syncs it.
  std::mutex sync_mu_;
  Status sync_failure_;  // guarded by sync_mu_: a failed run_sync
  // Set with sync_failure_ (which is then never written again): appends
  // stop at once, not at end_sync().
  std::atomic<bool> sync_failed_{false};
  Status failure_;
  uint64_t zero_window_ = 0;
  std::unique_ptr<Zeroer> zeroer_;
  std::atomic<uint64_t>* sync_counter_ = nullptr;
  void counted_sync() {
    if (sync_counter_ != nullptr) sync_counter_->fetch_add(1, std::memory_order_relaxed);
  }
  // A segment renamed into place (readers may have seen it) whose directory
  // sync failed for want of room (descriptors): start_segment() of the same
  // seq tries that sync again instead of building another file.
  struct Named {
    int fd = -1;
    SegmentHeader header;
    std::string path;
  } named_;
};

}  // namespace reel::wal
