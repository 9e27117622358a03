// Journaller: the first consumer of the frame ring. It writes published
// frames to the WAL straight from ring memory and makes them durable by the
// sync policy (group commit: one fdatasync covers everything written before
// it), then releases the ring space to the next consumer.
//
// Ring positions are WAL positions (ring/byte_ring.h, "Segments"): the frame
// at position p lives in segment base_segment_no + p / S at offset p % S. A
// segment-start gap in the ring makes the journaller seal the current segment
// and create the next one (whose header takes the gap's place); wrap padding
// is written as it is: it is the WAL's padding region (wal/frame_format.h).
//
// Watermarks go to a Listener: on_written(seq) after the write completed in
// full, on_durable(seq) after an fdatasync issued after those writes. After a
// failed write or sync the journaller stops (rule 7) and reports on_failure().
// A full disk when creating a segment is not a failure: see stall().
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

#include "pipeline/frame_ring.h"
#include "reel/options.h"
#include "wal/segment_writer.h"

namespace reel::pipeline {

class JournalListener {
 public:
  virtual ~JournalListener() = default;
  virtual void on_written(uint64_t seq) = 0;
  virtual void on_durable(uint64_t seq) = 0;
  // A new segment starting with `first_seq` was created at segment index `index`.
  virtual void on_segment(uint64_t index, uint64_t first_seq) = 0;
  virtual void on_failure(const Status& status) = 0;
};

class Journaller {
 public:
  struct Options {
    SyncPolicy sync;
    uint64_t segment_bytes = 0;    // S; the ring's segment size
    uint32_t base_segment_no = 0;  // segment_no of segment index 0
    size_t max_batch_bytes = 1 << 20;
    uint64_t last_seq = 0;  // the last record before start_position (written and durable)
  };

  // `ring`, `writer` and `listener` are borrowed. `writer` is positioned at
  // `start_position` (its end offset equals start_position % S), or has no
  // segment when start_position % S == 0.
  Journaller(FrameRing* ring, wal::SegmentWriter* writer, JournalListener* listener,
             const Options& options, uint64_t start_position);

  // Writes one run of published frames if there is one, syncing as the
  // policy says. Returns true when it did any work. One thread at a time
  // calls this and every other method (the store holds its journal lock).
  // `sync` false: never syncs (the caller does, with begin_sync()).
  // `writeback` false: starts no writeback of the pages it wrote (the
  // caller syncs next, or calls start_writeback() once it knows it will
  // not); a sync that follows step() itself never needs one. Writeback
  // right before an fdatasync only costs the thread a sync_file_range
  // (20-30 us here, a virtio kick) that the fdatasync would do anyway.
  bool step(bool sync = true, bool writeback = true);
  // Starts writeback of every page written and not yet handed to it
  // (SegmentWriter::start_writeback). A failure stops the journaller.
  void start_writeback();
  // Writes the published frames at position() up to the next segment start;
  // never syncs, never starts a segment or writeback (those are step()'s;
  // a sync covers the pages anyway). For a producer that writes while the
  // journal thread sleeps (JournalStage::write_if_idle, store/journal_stage.cc). True when it wrote
  // anything.
  bool write_published();
  // A sync with the caller's lock free while the disk works (the store's
  // journal thread: producers and leaders write meanwhile; see
  // SegmentWriter::SyncTicket). begin_sync() under the lock returns one if
  // anything written is not durable and `asked` or the policy's sync is due;
  // run_sync() without the lock; end_sync() under it again moves the durable
  // watermark to what was written at begin_sync(), or fails the journaller.
  struct PendingSync {
    wal::SegmentWriter::SyncTicket ticket;
    uint64_t seq = 0;
  };
  std::optional<PendingSync> begin_sync(bool asked);
  // kInterval: how long until the policy's sync is due (0: due now);
  // otherwise a day.
  std::chrono::nanoseconds until_sync_due() const;
  void run_sync(PendingSync& pending) { writer_->run_sync(pending.ticket); }
  void end_sync(PendingSync& pending);
  // Syncs now if anything written is not durable yet. A failed sync stops
  // the journaller, as a failed write does; a stopped one refuses.
  Status sync_now();
  // Starts zeroing the segment ahead of the writer (wal/zeroer.h) if no
  // published record waits to be written. Call it from the journal thread
  // only: the chunk's completion is delivered to the thread that started
  // it, and another thread writing into it waits for that delivery.
  void zero_ahead();
  bool failed() const { return failed_; }
  // kNoSpace while the next segment cannot be created (the disk is full);
  // step() retries the creation each time it is called. kOk otherwise.
  const Status& stall() const { return stall_; }
  uint64_t position() const { return position_; }
  // Published records wait at position() (what step() would write next).
  bool has_work() { return ring_->published_end(position_, 8) != position_; }
  uint64_t written_seq() const { return written_seq_; }
  uint64_t durable_seq() const { return durable_seq_; }

 private:
  Status write_run(uint64_t from, uint64_t to);
  // After a write (`last_frame`: the last frame written, or UINT64_MAX):
  // the written watermark, then, if `writeback`, the pages' writeback.
  Status finish_write(uint64_t last_frame, bool writeback);
  Status start_segment(uint64_t gap_position);
  void fail(const Status& status);
  bool sync_due() const;
  uint64_t seq_at(uint64_t position);  // of the frame at this ring position

  FrameRing* ring_;
  wal::SegmentWriter* writer_;
  JournalListener* listener_;
  Options options_;
  uint64_t position_;
  uint64_t written_seq_ = 0;
  uint64_t durable_seq_ = 0;
  bool failed_ = false;
  Status stall_;
  std::chrono::steady_clock::time_point last_sync_ = std::chrono::steady_clock::now();
};

}  // namespace reel::pipeline
