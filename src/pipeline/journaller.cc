#include "pipeline/journaller.h"

#include <algorithm>

#include "wal/frame.h"

namespace reel::pipeline {

Journaller::Journaller(FrameRing* ring, wal::SegmentWriter* writer, JournalListener* listener,
                       const Options& options, uint64_t start_position)
    : ring_(ring),
      writer_(writer),
      listener_(listener),
      options_(options),
      position_(start_position),
      written_seq_(options.last_seq),
      durable_seq_(options.last_seq) {}

void Journaller::fail(const Status& status) {
  if (failed_) return;  // the listener hears the first failure only
  failed_ = true;
  listener_->on_failure(status);
}

Status Journaller::start_segment(uint64_t gap_position) {
  // The record right after the gap is the segment's first frame.
  const uint64_t frame_position =
      gap_position + FrameRingTraits::record_bytes(ring_->length_word(gap_position));
  const uint64_t first_seq = seq_at(frame_position);
  if (writer_->has_segment()) {
    Status s = writer_->seal();
    if (!s) return s;
    durable_seq_ = written_seq_;
    listener_->on_durable(durable_seq_);
  }
  const uint64_t index = gap_position / options_.segment_bytes;
  Status s =
      writer_->start_segment(first_seq, options_.base_segment_no + static_cast<uint32_t>(index));
  if (s) listener_->on_segment(index, first_seq);
  return s;
}

Status Journaller::write_run(uint64_t from, uint64_t to) {
  if (from == to) return Status::ok();
  if (writer_->end_offset() != from % options_.segment_bytes) {
    return Status::invalid_argument(writer_->path() + ": journal position " + std::to_string(from) +
                                    " does not match the segment's end offset " +
                                    std::to_string(writer_->end_offset()));
  }
  // A run may cross the ring's end (after wrap padding): write it in two.
  while (from < to) {
    const uint64_t index = from & (ring_->capacity() - 1);
    const uint64_t n = std::min<uint64_t>(to - from, ring_->capacity() - index);
    Status s = writer_->append_batch({ring_->at(from), static_cast<size_t>(n)});
    if (!s) return s;
    from += n;
  }
  return Status::ok();
}

bool Journaller::step(bool sync, bool writeback) {
  if (failed_) return false;
  const uint64_t end = ring_->published_end(position_, options_.max_batch_bytes);
  if (end == position_) {
    if (sync && sync_due()) {
      (void)sync_now();  // a failure stops the journaller (sync_now reports it)
    }
    return false;
  }
  uint64_t run_start = position_, last_frame = UINT64_MAX, done = end;
  Status s;
  for (uint64_t p = position_; p < end;) {
    const uint32_t w = ring_->length_word(p);
    const size_t bytes = FrameRingTraits::record_bytes(w);
    if (FrameRingTraits::is_padding(w) && p % options_.segment_bytes == 0) {
      // The segment-header gap: the header is written by start_segment at
      // offset 0 instead. Wrap padding elsewhere is written as it is.
      s = write_run(run_start, p);
      if (s) s = start_segment(p);
      if (!s) {
        done = p;
        break;
      }
      run_start = p + bytes;
    } else if (!FrameRingTraits::is_padding(w)) {
      last_frame = p;
    }
    p += bytes;
  }
  if (s) s = write_run(run_start, end);
  // A full disk at segment creation leaves the writer healthy: stop at the
  // gap, keep what follows in the ring, and try the creation again on the
  // next step (the records after the gap are appended, not yet written).
  const bool stalled = !s && s.code() == Code::kNoSpace && writer_->failure().is_ok();
  if (!s && !stalled) {
    fail(s);
    return true;
  }
  stall_ = stalled ? s : Status::ok();
  const bool sync_follows = sync && sync_due();
  if (Status w = finish_write(last_frame, writeback && !sync_follows); !w) {
    fail(w);
    return true;
  }
  if (sync_follows && !sync_now()) return true;
  ring_->release(0, done);
  position_ = done;
  return true;
}

Status Journaller::finish_write(uint64_t last_frame, bool writeback) {
  if (last_frame != UINT64_MAX) written_seq_ = seq_at(last_frame);
  listener_->on_written(written_seq_);
  // After the watermark: readers woken by it need not wait for this call.
  return writeback ? writer_->start_writeback() : Status::ok();
}

bool Journaller::write_published() {
  if (failed_ || !stall_.is_ok()) return false;
  const uint64_t end = ring_->published_end(position_, options_.max_batch_bytes);
  uint64_t p = position_, last_frame = UINT64_MAX;
  while (p < end) {
    const uint32_t w = ring_->length_word(p);
    if (FrameRingTraits::is_padding(w) && p % options_.segment_bytes == 0) break;
    if (!FrameRingTraits::is_padding(w)) last_frame = p;
    p += FrameRingTraits::record_bytes(w);
  }
  // A zeroing chunk in the way completes on the journal thread (which may
  // be in an fdatasync): the write is that thread's then.
  if (p == position_ || writer_->append_would_wait(p - position_)) return false;
  // No writeback: the next step() starts it (a sync covers the pages
  // anyway), and the producer goes back to its caller sooner.
  Status s = write_run(position_, p);
  if (s) s = finish_write(last_frame, /*writeback=*/false);
  if (!s) {
    fail(s);
    return true;
  }
  ring_->release(0, p);
  position_ = p;
  return true;
}

void Journaller::start_writeback() {
  if (failed_) return;
  if (Status s = writer_->start_writeback(); !s) fail(s);
}

void Journaller::zero_ahead() {
  if (!failed_ && !has_work()) writer_->zero_ahead();
}

bool Journaller::sync_due() const {
  return options_.sync.mode == SyncPolicy::Mode::kAlways ||
         (options_.sync.mode == SyncPolicy::Mode::kInterval &&
          std::chrono::steady_clock::now() - last_sync_ >= options_.sync.interval);
}

uint64_t Journaller::seq_at(uint64_t position) {
  return wal::peek_frame_seq({ring_->at(position), wal::kFrameHeaderBytes});
}

std::optional<Journaller::PendingSync> Journaller::begin_sync(bool asked) {
  if (failed_ || durable_seq_ >= written_seq_ || !(asked || sync_due())) return std::nullopt;
  PendingSync p;
  p.ticket = writer_->begin_sync();
  p.seq = written_seq_;
  return p;
}

std::chrono::nanoseconds Journaller::until_sync_due() const {
  if (options_.sync.mode != SyncPolicy::Mode::kInterval) return std::chrono::hours(24);
  const auto due = last_sync_ + options_.sync.interval;
  return std::max<std::chrono::nanoseconds>(std::chrono::nanoseconds(0),
                                            due - std::chrono::steady_clock::now());
}

void Journaller::end_sync(PendingSync& p) {
  if (Status s = writer_->end_sync(p.ticket); !s) {
    fail(s);
    return;
  }
  last_sync_ = std::chrono::steady_clock::now();
  if (p.seq > durable_seq_) {
    durable_seq_ = p.seq;
    listener_->on_durable(durable_seq_);
  }
}

Status Journaller::sync_now() {
  if (failed_) return Status::failed(writer_->path() + ": the journal stopped after an error");
  if (durable_seq_ >= written_seq_) return Status::ok();
  Status s = writer_->sync();
  if (!s) {
    fail(s);
    return s;
  }
  durable_seq_ = written_seq_;
  last_sync_ = std::chrono::steady_clock::now();
  listener_->on_durable(durable_seq_);
  return Status::ok();
}

}  // namespace reel::pipeline
