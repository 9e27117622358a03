#include "store/recovery.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <vector>

#include <spdlog/spdlog.h>

#include "index/index_feeder.h"
#include "store/segment_cursor.h"
#include "store/segment_set.h"
#include "wal/segment_scanner.h"

namespace reel::store {
namespace {

constexpr size_t kIndexBatchRecords = 65536;

// Signals that the index, not the WAL, is wrong: rebuild it and scan again.
struct ScanOutcome {
  Status status;
  bool index_mismatch = false;
};

// One past the last non-zero byte of bytes[from, to), or `from` if there is none.
uint64_t last_nonzero_end(std::span<const uint8_t> bytes, uint64_t from, uint64_t to) {
  to = std::min<uint64_t>(to, bytes.size());
  uint64_t word;
  while (to >= from + 8 && (std::memcpy(&word, bytes.data() + to - 8, 8), word == 0)) to -= 8;
  while (to > from && bytes[to - 1] == 0) --to;
  return std::max(to, from);
}

// Removes a last segment whose header never reached the disk. Reads the
// header region only, never the (preallocated, possibly 1 GiB) rest.
Status drop_torn_creation(SegmentSet* segs, wal::IoEnv* env, const StorePaths& paths) {
  if (segs->size() == 0) return Status::ok();
  const size_t last = segs->size() - 1;
  auto mapped = segs->map(last);
  if (mapped) return Status::ok();
  // Could not map or decode: if the header region is all zeros (or the file
  // is shorter than a header), the crash came while creating it.
  if (!segs->header_incomplete(last)) return mapped.status();
  spdlog::warn("recovery: {}: removing a segment whose creation was cut short (no header)",
               segs->name(last));
  Status s = env->remove(segs->path(last));
  if (s) s = env->fsync_dir(paths.wal);
  if (s) s = segs->refresh();
  return s;
}

// Removes segments whose creation did not finish (still under their
// temporary name): they never held a record.
Status remove_unfinished_creations(wal::IoEnv* env, const StorePaths& paths) {
  std::error_code ec;
  bool removed = false;
  for (const auto& entry : std::filesystem::directory_iterator(paths.wal, ec)) {
    const std::string name = entry.path().filename().string();
    const std::string suffix = std::string(".seg") + wal::kSegmentTempSuffix;
    if (name.size() <= suffix.size() || !name.ends_with(suffix)) continue;
    spdlog::warn("recovery: wal/{}: removing a segment whose creation did not finish", name);
    if (Status s = env->remove(entry.path().string()); !s) return s;
    removed = true;
  }
  if (ec) return Status::from_errno(paths.wal + ": cannot list", ec.value());
  return removed ? env->fsync_dir(paths.wal) : Status::ok();
}

Status zero_torn_tail(wal::IoEnv* env, const MappedSegment& seg, uint64_t from, uint64_t to) {
  auto fd = env->open_for_write(seg.path);
  if (!fd) return fd.status();
  const uint64_t file_end = seg.bytes.size();
  to = std::min(to, file_end);
  std::vector<uint8_t> zeros(std::min<uint64_t>(to > from ? to - from : 0, 1 << 20), 0);
  Status s;
  for (uint64_t off = from; s && off < to; off += zeros.size()) {
    const uint64_t n = std::min<uint64_t>(zeros.size(), to - off);
    s = wal::write_all(env, *fd, {zeros.data(), n}, off, seg.name);
  }
  if (s) s = env->preallocate(*fd, seg.header.capacity_bytes, seg.name);
  if (s) s = env->datasync(*fd, seg.name);
  env->close(*fd);
  return s;
}

class WalScan {
 public:
  WalScan(SegmentSet* segs, wal::IoEnv* env, index::Index* index, uint64_t store_id,
          const RecoveryOptions& options)
      : options_(options), segs_(segs), env_(env), index_(index), store_id_(store_id) {}

  ScanOutcome run(uint64_t indexed_seq, RecoveryResult* result);

 private:
  Status flush_batch() {
    if (batch_.empty()) return Status::ok();
    Status s = index_->apply(batch_);
    indexed_total_ += batch_.size();
    batch_.clear();
    if (options_.progress) options_.progress(indexed_total_);
    return s;
  }
  Status enter_segment(const MappedSegment& seg);
  Status add_frame(const SegmentCursor& cursor, const wal::DecodedFrame& frame,
                   RecoveryResult* result);
  ScanOutcome finish_at_end(SegmentCursor::Step step, const SegmentCursor& cursor,
                            RecoveryResult* result);
  Status cut_tail(const SegmentCursor& cursor, uint64_t end, RecoveryResult* result);
  bool never_durable(const SegmentCursor& cursor) const;
  ScanOutcome seek_start(SegmentCursor* cursor, uint64_t indexed_seq, bool* from_index);

  const RecoveryOptions& options_;  // borrowed for the scan
  uint64_t indexed_total_ = 0;
  SegmentSet* segs_;
  wal::IoEnv* env_;
  index::Index* index_;
  uint64_t store_id_;
  uint64_t durable_ = 0;  // every seq <= this was durable before the crash
  uint64_t indexed_seq_ = 0;
  index::IndexBatch batch_;
  index::IndexFeeder feeder_;
};

Status WalScan::enter_segment(const MappedSegment& seg) {
  if (seg.header.store_id != store_id_) {
    return Status::corruption(seg.name + ": belongs to another store (store id " +
                              std::to_string(seg.header.store_id) + ")");
  }
  return Status::ok();
}

Status WalScan::add_frame(const SegmentCursor& cursor, const wal::DecodedFrame& frame,
                          RecoveryResult* result) {
  const uint64_t first_seq = cursor.mapped()->header.first_seq;
  if (frame.seq > indexed_seq_) {
    feeder_.add(*frame.record, first_seq, cursor.frame_offset(), &batch_);
    ++result->frames_indexed;
    if (batch_.size() >= kIndexBatchRecords) {
      Status s = flush_batch();
      if (!s) return s;
    }
  } else {
    feeder_.resume_after(first_seq, cursor.frame_offset());
  }
  result->last_seq = frame.seq;
  result->last_frame_offset = cursor.frame_offset();
  return Status::ok();
}

// Whether the bad bytes the cursor stopped at lie past the durable point, in
// the last segment: writes that were never synced, which a power cut may
// have lost, torn, reordered or garbled. Valid frames after them were never
// acknowledged as durable either.
bool WalScan::never_durable(const SegmentCursor& cursor) const {
  return cursor.at_last_segment() && cursor.expected_seq() > durable_;
}

// Cuts the log at the cursor's stop: zeroes [offset, end) (stray frames past
// the damage included, so they can never pass for a continuation) unless
// RecoveryMode forbids cutting.
Status WalScan::cut_tail(const SegmentCursor& cursor, uint64_t end, RecoveryResult* result) {
  const MappedSegment& seg = *cursor.mapped();
  const uint64_t cut = end - cursor.offset();
  const std::string what = seg.name + ": " + std::to_string(cut) + " bytes at offset " +
                           std::to_string(cursor.offset()) + " (" + cursor.fault().what +
                           "), from seq " + std::to_string(cursor.expected_seq());
  if (options_.mode == RecoveryMode::kNeverCut) {
    return Status::corruption(what + " would be cut (durable point seq " +
                              std::to_string(durable_) + "); RecoveryMode::kNeverCut");
  }
  if (never_durable(cursor)) {
    spdlog::warn(
        "recovery: cutting {}: never acknowledged as durable (durable point seq {}); last whole "
        "record is seq {}",
        what, durable_, cursor.expected_seq() - 1);
  } else {
    // A damaged end of the log below the durable point: a sync had made
    // these bytes durable and the file system or disk lost them. Nothing
    // can bring them back; the store goes on from the last whole record and
    // says loudly what was lost.
    spdlog::error(
        "recovery: cutting {}: seqs {}..{} were acknowledged durable but their bytes are damaged "
        "(the file system or disk lost synced writes); last whole record is seq {}",
        what, cursor.expected_seq(), durable_, cursor.expected_seq() - 1);
    result->durable_seqs_lost = durable_ - cursor.expected_seq() + 1;
  }
  result->torn_bytes_cut += cut;
  result->cut_from_seq = cursor.expected_seq();
  return zero_torn_tail(env_, seg, cursor.offset(), end);
}

// The walk ended at `step` in the cursor's segment: cut a torn tail, make
// the last segment wholly preallocated and durable (what an earlier process
// wrote may still be only in the page cache), and note where writing goes on.
ScanOutcome WalScan::finish_at_end(SegmentCursor::Step step, const SegmentCursor& cursor,
                                   RecoveryResult* result) {
  const MappedSegment& seg = *cursor.mapped();
  if (step == SegmentCursor::Step::kTornTail || step == SegmentCursor::Step::kCorruption) {
    // Everything non-zero from the stop to the end of the written data goes
    // (a torn frame's first bytes included, even at the segment's very end).
    const uint64_t end =
        std::max(cursor.torn_end(),
                 last_nonzero_end(seg.bytes, cursor.offset(), segs_->data_end(cursor.segment())));
    if (Status s = cut_tail(cursor, end, result); !s) return {s};
  } else {
    auto fd = env_->open_for_write(seg.path);
    if (!fd) return {fd.status()};
    Status s = env_->preallocate(*fd, seg.header.capacity_bytes, seg.name);
    if (s) s = env_->datasync(*fd, seg.name);
    env_->close(*fd);
    if (!s) return {s};
  }
  result->active = seg.header;
  result->active_end_offset = cursor.offset();
  result->next_segment_no = seg.header.segment_no + 1;
  if (result->last_seq < seg.header.first_seq) result->last_frame_offset = 0;
  return {flush_batch()};
}

// Positions the cursor where the scan starts: at the index's last position
// at or before min(indexed_seq, durable point), since everything past the
// durable point must be read again (a power cut may have damaged it even
// where the index covers it), else at the first segment.
ScanOutcome WalScan::seek_start(SegmentCursor* cursor, uint64_t indexed_seq, bool* from_index) {
  cursor->seek(0, wal::kSegmentHeaderBytes, segs_->first_seq(0));
  *from_index = false;
  const uint64_t trusted = std::min(indexed_seq, durable_);
  if (trusted == 0) return {Status::ok()};
  auto pos = index_->floor_position(trusted);
  if (!pos) return {pos.status()};
  if (!pos->has_value()) return {Status::ok(), true};
  auto seg = segs_->find((*pos)->segment_first_seq);
  if (!seg || segs_->first_seq(*seg) != (*pos)->segment_first_seq) return {Status::ok(), true};
  cursor->seek(*seg, (*pos)->offset, (*pos)->seq);
  *from_index = true;
  return {Status::ok()};
}

ScanOutcome WalScan::run(uint64_t indexed_seq, RecoveryResult* result) {
  using Step = SegmentCursor::Step;
  indexed_seq_ = indexed_seq;
  if (segs_->size() == 0) return {Status::ok(), indexed_seq > 0};
  // Every segment before the last was synced whole before the next was made.
  durable_ = std::max(options_.durable_seq, segs_->first_seq(segs_->size() - 1) - 1);
  // Rule 8: after a clean shutdown the zeros after the last frame need no
  // search; a bad frame is still classified by searching past it.
  SegmentCursor cursor(
      segs_, nullptr,
      options_.clean_shutdown ? SegmentCursor::Depth::kRead : SegmentCursor::Depth::kAudit);
  bool from_index = false;
  if (ScanOutcome out = seek_start(&cursor, indexed_seq, &from_index);
      !out.status || out.index_mismatch) {
    return out;
  }
  size_t entered = SIZE_MAX;
  bool first = true;
  wal::DecodedFrame frame;
  Step step;
  for (;;) {
    step = cursor.next(&frame);
    if (cursor.mapped() != nullptr && cursor.segment() != entered) {
      entered = cursor.segment();
      if (Status s = enter_segment(*cursor.mapped()); !s) return {s};
    }
    if (step == Step::kFrame) {
      if (Status s = add_frame(cursor, frame, result); !s) return {s};
      first = false;
      continue;
    }
    if (first && from_index && step != Step::kEnd) {
      return {Status::ok(), true};  // the index points at something that is not a frame
    }
    if (step == Step::kError) return {cursor.status()};
    if (step == Step::kCorruption && !never_durable(cursor)) {
      return {Status::corruption(cursor.fault().message() + " (durable point seq " +
                                 std::to_string(durable_) +
                                 "); valid data follows, so this is not a torn tail"
                                 "; nothing was cut (see `reel verify`)")};
    }
    break;
  }
  if (cursor.mapped() == nullptr || !cursor.at_last_segment()) {
    return {Status::corruption(segs_->name(cursor.segment()) + ": cannot be read")};
  }
  ScanOutcome out = finish_at_end(step, cursor, result);
  if (!out.status) return out;
  if (result->last_seq < indexed_seq) return {Status::ok(), true};  // index ahead of WAL
  return out;
}

}  // namespace

Result<RecoveryResult> recover(const StorePaths& paths, wal::IoEnv* env, index::Index* index,
                               uint64_t* store_id, RecoveryOptions options) {
  SegmentSet segs(paths.wal);
  Status s = remove_unfinished_creations(env, paths);
  if (s) s = segs.refresh();
  if (s) s = drop_torn_creation(&segs, env, paths);
  if (!s) return s;
  if (*store_id == 0 && segs.size() > 0) {
    auto first = segs.map(0);
    if (!first) return first.status();
    *store_id = (*first)->header.store_id;
  }
  auto index_store = index->store_id();
  if (!index_store) return index_store.status();
  auto format = index->format();
  if (!format) return format.status();
  if (*format != 0 && *format != index::kIndexFormat && !options.force_rebuild) {
    spdlog::warn("recovery: {}: index format {} is not {}; rebuilding the index", paths.root,
                 *format, index::kIndexFormat);
    options.force_rebuild = true;
  }
  if (options.force_rebuild || (*index_store != 0 && *index_store != *store_id)) {
    if (!options.force_rebuild)
      spdlog::warn("recovery: index belongs to another store; rebuilding it");
    s = index->clear();
    if (!s) return s;
  }
  if (*index_store != *store_id || options.force_rebuild) {
    s = index->set_store_id(*store_id);
    if (!s) return s;
  }
  auto indexed = index->indexed_seq();
  if (!indexed) return indexed.status();

  RecoveryResult result;
  result.index_rebuilt = options.force_rebuild;
  ScanOutcome out = WalScan(&segs, env, index, *store_id, options).run(*indexed, &result);
  if (out.status && out.index_mismatch) {
    spdlog::warn("recovery: index (indexed_seq {}) disagrees with the WAL; rebuilding it",
                 *indexed);
    s = index->clear();
    if (s) s = index->set_store_id(*store_id);
    if (!s) return s;
    result = RecoveryResult();
    result.index_rebuilt = true;
    out = WalScan(&segs, env, index, *store_id, options).run(0, &result);
    if (out.status && out.index_mismatch) {
      return Status::corruption(paths.root + ": the WAL could not be scanned from its start");
    }
  }
  if (!out.status) return out.status;
  if (result.frames_indexed > 0) {
    spdlog::info("recovery: {}: indexed {} records the index lacked; last seq {}", paths.root,
                 result.frames_indexed, result.last_seq);
  }
  return result;
}

}  // namespace reel::store
