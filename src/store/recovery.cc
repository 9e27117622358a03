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

bool all_zero(std::span<const uint8_t> bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](uint8_t b) { return b == 0; });
}

// Removes a last segment whose header never reached the disk.
Status drop_torn_creation(SegmentSet* segs, wal::IoEnv* env, const StorePaths& paths) {
  if (segs->size() == 0) return Status::ok();
  const size_t last = segs->size() - 1;
  auto mapped = segs->map(last);
  if (mapped) return Status::ok();
  // Could not map or decode: if the header region is all zeros (or the file
  // is shorter than a header), the crash came while creating it.
  auto bytes = read_file(segs->path(last));
  if (!bytes) return bytes.status();
  const size_t head = std::min(bytes->size(), wal::kSegmentHeaderBytes);
  if (!all_zero({reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size()}) &&
      !(bytes->size() < wal::kSegmentHeaderBytes &&
        all_zero({reinterpret_cast<const uint8_t*>(bytes->data()), head}))) {
    return mapped.status();
  }
  spdlog::warn("recovery: {}: removing a segment whose creation was cut short (no header)",
               segs->name(last));
  if (::unlink(segs->path(last).c_str()) != 0) {
    return Status::from_errno(segs->name(last) + ": unlink", errno);
  }
  Status s = env->fsync_dir(paths.wal);
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
          bool clean_shutdown, const std::function<void(uint64_t)>& progress)
      : progress_(progress),
        segs_(segs),
        env_(env),
        index_(index),
        store_id_(store_id),
        clean_shutdown_(clean_shutdown) {}

  ScanOutcome run(uint64_t indexed_seq, RecoveryResult* result);

 private:
  Status flush_batch() {
    if (batch_.empty()) return Status::ok();
    Status s = index_->apply(batch_);
    indexed_total_ += batch_.size();
    batch_.clear();
    if (progress_) progress_(indexed_total_);
    return s;
  }
  Status enter_segment(const MappedSegment& seg);
  Status add_frame(const SegmentCursor& cursor, const wal::DecodedFrame& frame,
                   RecoveryResult* result);
  ScanOutcome finish_at_end(SegmentCursor::Step step, const SegmentCursor& cursor,
                            RecoveryResult* result);

  const std::function<void(uint64_t)>& progress_;  // borrowed for the scan
  uint64_t indexed_total_ = 0;
  SegmentSet* segs_;
  wal::IoEnv* env_;
  index::Index* index_;
  uint64_t store_id_;
  bool clean_shutdown_;
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

// The walk ended at `step` in the cursor's segment: cut a torn tail, make
// sure the last segment is wholly preallocated, and note where writing goes on.
ScanOutcome WalScan::finish_at_end(SegmentCursor::Step step, const SegmentCursor& cursor,
                                   RecoveryResult* result) {
  const MappedSegment& seg = *cursor.mapped();
  if (step == SegmentCursor::Step::kTornTail) {
    const uint64_t cut = cursor.torn_end() - cursor.offset();
    spdlog::warn(
        "recovery: {}: cutting torn tail of {} bytes at offset {} ({}); last whole "
        "record is seq {}",
        seg.name, cut, cursor.offset(), cursor.fault().what, cursor.expected_seq() - 1);
    Status s = zero_torn_tail(env_, seg, cursor.offset(), cursor.torn_end());
    if (!s) return {s};
    result->torn_bytes_cut += cut;
  } else if (seg.bytes.size() < seg.header.capacity_bytes) {
    auto fd = env_->open_for_write(seg.path);
    if (!fd) return {fd.status()};
    Status s = env_->preallocate(*fd, seg.header.capacity_bytes, seg.name);
    env_->close(*fd);
    if (!s) return {s};
  }
  result->active = seg.header;
  result->active_end_offset = cursor.offset();
  result->next_segment_no = seg.header.segment_no + 1;
  if (result->last_seq < seg.header.first_seq) result->last_frame_offset = 0;
  return {flush_batch()};
}

ScanOutcome WalScan::run(uint64_t indexed_seq, RecoveryResult* result) {
  using Step = SegmentCursor::Step;
  indexed_seq_ = indexed_seq;
  if (segs_->size() == 0) return {Status::ok(), indexed_seq > 0};
  // Rule 8: after a clean shutdown the zeros after the last frame need no
  // search; a bad frame is still classified by searching past it.
  SegmentCursor cursor(
      segs_, nullptr, clean_shutdown_ ? SegmentCursor::Depth::kRead : SegmentCursor::Depth::kAudit);
  cursor.seek(0, wal::kSegmentHeaderBytes, segs_->first_seq(0));
  bool from_index = false;
  if (indexed_seq > 0) {
    auto pos = index_->floor_position(indexed_seq);
    if (!pos) return {pos.status()};
    if (!pos->has_value()) return {Status::ok(), true};
    auto seg = segs_->find((*pos)->segment_first_seq);
    if (!seg || segs_->first_seq(*seg) != (*pos)->segment_first_seq) return {Status::ok(), true};
    cursor.seek(*seg, (*pos)->offset, (*pos)->seq);
    from_index = true;
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
    if (step == Step::kCorruption) {
      return {Status::corruption(cursor.fault().message() +
                                 "; valid data follows, so this is not a torn tail"
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
                               uint64_t* store_id, RecoveryMode mode, bool force_rebuild,
                               bool clean_shutdown, const std::function<void(uint64_t)>& progress) {
  (void)mode;  // kTruncateTornTail is the only mode so far
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
  if (*format != 0 && *format != index::kIndexFormat && !force_rebuild) {
    spdlog::warn("recovery: {}: index format {} is not {}; rebuilding the index", paths.root,
                 *format, index::kIndexFormat);
    force_rebuild = true;
  }
  if (force_rebuild || (*index_store != 0 && *index_store != *store_id)) {
    if (!force_rebuild) spdlog::warn("recovery: index belongs to another store; rebuilding it");
    s = index->clear();
    if (!s) return s;
  }
  if (*index_store != *store_id || force_rebuild) {
    s = index->set_store_id(*store_id);
    if (!s) return s;
  }
  auto indexed = index->indexed_seq();
  if (!indexed) return indexed.status();

  RecoveryResult result;
  result.index_rebuilt = force_rebuild;
  ScanOutcome out =
      WalScan(&segs, env, index, *store_id, clean_shutdown, progress).run(*indexed, &result);
  if (out.status && out.index_mismatch) {
    spdlog::warn("recovery: index (indexed_seq {}) disagrees with the WAL; rebuilding it",
                 *indexed);
    s = index->clear();
    if (s) s = index->set_store_id(*store_id);
    if (!s) return s;
    result = RecoveryResult();
    result.index_rebuilt = true;
    out = WalScan(&segs, env, index, *store_id, clean_shutdown, progress).run(0, &result);
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
