#include "store/verify.h"

#include <unistd.h>

#include <map>

#include "index/index.h"
#include "index/time_index.h"
#include "reel/options.h"
#include "store/head_file.h"
#include "store/segment_cursor.h"
#include "store/segment_set.h"
#include "store/store_dir.h"
#include "wal/segment_scanner.h"

namespace reel::store {
namespace {

// How the time index must list a record (index/time_index.h).
enum class TimeEntry : uint8_t { kNone, kCheckpoint, kLate };

// What verify remembers of each record, to check the index against.
struct RecordFacts {
  uint32_t segment = 0;
  uint32_t stream = 0;
  uint64_t offset = 0;
  uint64_t ts_ns = 0;
  TimeEntry time = TimeEntry::kNone;
};

// The indexer's rule, replayed over the WAL in seq order.
class TimeRule {
 public:
  TimeEntry classify(uint32_t stream, uint64_t ts) {
    State& st = streams_[stream];
    TimeEntry e = TimeEntry::kNone;
    if (st.count == 0 || ts >= st.max_ts) {
      if (st.count >= st.next_checkpoint) {
        e = TimeEntry::kCheckpoint;
        st.next_checkpoint = st.count + index::kTimeCheckpointEvery;
      }
      st.max_ts = ts;
    } else {
      e = TimeEntry::kLate;
    }
    ++st.count;
    return e;
  }

 private:
  struct State {
    uint64_t count = 0, max_ts = 0, next_checkpoint = 0;
  };
  std::map<uint32_t, State> streams_;
};

class Verifier {
 public:
  Verifier(const std::string& dir, const std::function<void(uint64_t, uint64_t)>& progress)
      : paths_(dir), segs_(paths_.wal), progress_(progress) {}
  Result<VerifyReport> run();

 private:
  Status open_snapshot();
  Status scan_wal();
  void check_segment_header(size_t i, const MappedSegment& seg);
  Status check_index();
  Status check_positions();
  Status check_time(bool late);
  Status check_keys();
  Status check_streams();
  void fault(std::string line) { report_.faults.push_back(std::move(line)); }
  const RecordFacts* facts(uint64_t seq) const {
    if (seq < report_.first_seq || seq > report_.last_seq ||
        seq - report_.first_seq >= facts_.size()) {
      return nullptr;
    }
    const RecordFacts& f = facts_[seq - report_.first_seq];
    return f.offset == 0 ? nullptr : &f;
  }

  StorePaths paths_;
  SegmentSet segs_;
  std::function<void(uint64_t, uint64_t)> progress_;
  std::unique_ptr<index::Index> index_;
  std::unique_ptr<index::Snapshot> snap_;  // one read transaction for every index check
  TimeRule time_rule_;
  HeadFile head_;
  uint64_t store_id_ = 0;
  int64_t prev_segment_no_ = -1;
  std::vector<RecordFacts> facts_;  // by seq - first_seq
  // Seqs lost to WAL faults: [first, last]. Index entries for them are not
  // reported again (the WAL fault already names them).
  std::vector<std::pair<uint64_t, uint64_t>> damaged_;
  bool damaged(uint64_t seq) const {
    for (const auto& [lo, hi] : damaged_) {
      if (seq >= lo && seq <= hi) return true;
    }
    return false;
  }
  std::string index_error_;
  VerifyReport report_;
};

void Verifier::check_segment_header(size_t i, const MappedSegment& seg) {
  if (i == 0 || store_id_ == 0) store_id_ = seg.header.store_id;
  if (seg.header.store_id != store_id_) fault(seg.name + ": belongs to another store");
  if (prev_segment_no_ >= 0 && seg.header.segment_no != prev_segment_no_ + 1) {
    fault(seg.name + ": segment number " + std::to_string(seg.header.segment_no) +
          " does not follow " + std::to_string(prev_segment_no_));
  }
  prev_segment_no_ = seg.header.segment_no;
}

// Reads the WAL through one SegmentCursor, judged against the writer as the
// head file tells it: on a live store the scan ends at the live end, and
// bytes being written there are never reported.
Status Verifier::scan_wal() {
  using Step = SegmentCursor::Step;
  Status s = segs_.refresh();
  if (!s || segs_.size() == 0) return s;
  uint64_t total = 0;
  for (size_t i = 0; i < segs_.size(); ++i) {
    if (auto m = segs_.map(i)) total += (*m)->bytes.size();
  }
  SegmentCursor cursor(
      &segs_,
      [this] {
        const uint64_t generation = head_.generation();
        return WriterState{head_.writer_may_be_live(), head_.written_seq(), generation};
      },
      SegmentCursor::Depth::kAudit);
  cursor.seek(0, wal::kSegmentHeaderBytes, segs_.first_seq(0));
  report_.first_seq = segs_.first_seq(0);
  size_t checked_segment = SIZE_MAX;
  uint64_t pending_damage = 0, done = 0;
  wal::DecodedFrame frame;
  for (;;) {
    const Step step = cursor.next(&frame);
    if (cursor.mapped() != nullptr && cursor.segment() != checked_segment) {
      if (checked_segment != SIZE_MAX) done += segs_.map(checked_segment).value()->bytes.size();
      checked_segment = cursor.segment();
      check_segment_header(checked_segment, *cursor.mapped());
    }
    if (step == Step::kFrame) {
      if (pending_damage != 0 && frame.seq > pending_damage) {
        damaged_.emplace_back(pending_damage, frame.seq - 1);
      }
      pending_damage = 0;
      const uint64_t index = frame.seq - report_.first_seq;
      if (facts_.size() <= index) facts_.resize(index + 1);
      facts_[index] = {static_cast<uint32_t>(cursor.segment()), frame.record->stream(),
                       cursor.frame_offset(), frame.record->ts_ns(),
                       time_rule_.classify(frame.record->stream(), frame.record->ts_ns())};
      ++report_.records;
      report_.last_seq = frame.seq;
      if ((report_.records & 0xffff) == 0 && progress_) {
        progress_(done + cursor.frame_offset(), total);
      }
      continue;
    }
    if (step == Step::kCorruption) {
      fault(cursor.fault().message());
      if (pending_damage == 0) pending_damage = cursor.fault().expected_seq;
      continue;  // resumes at the next valid frame, or ends
    }
    if (step == Step::kTornTail) {
      fault(cursor.fault().message() +
            "; nothing valid follows: a torn tail, which the next writer open cuts");
    } else if (step == Step::kError) {
      fault(cursor.status().message());
      if (cursor.segment() + 1 < segs_.size()) {
        const size_t next = cursor.segment() + 1;
        cursor.seek(next, wal::kSegmentHeaderBytes, segs_.first_seq(next));
        continue;
      }
    }
    break;
  }
  report_.segments = segs_.size();
  if (progress_) progress_(total, total);
  return Status::ok();
}

Status Verifier::check_positions() {
  return snap_->for_each_position([&](const index::SeqPosition& pos) {
    ++report_.index_entries_checked;
    const RecordFacts* f = facts(pos.seq);
    if (damaged(pos.seq)) return true;
    if (f == nullptr || segs_.first_seq(f->segment) != pos.segment_first_seq ||
        f->offset != pos.offset) {
      fault("index: position of seq " + std::to_string(pos.seq) + " (" +
            wal::segment_file_name(pos.segment_first_seq) + " offset " +
            std::to_string(pos.offset) + ") does not match the WAL");
    }
    return report_.faults.size() < 1000;
  });
}

// Every checkpoint (late = false) or late entry names a record the rule
// puts there, and every such record up to indexed_seq has its entry.
Status Verifier::check_time(bool late) {
  const TimeEntry kind = late ? TimeEntry::kLate : TimeEntry::kCheckpoint;
  const char* what = late ? "late time entry" : "time checkpoint";
  uint64_t entries = 0;
  Status s = snap_->for_each_time(late, [&](uint32_t stream, uint64_t ts, uint64_t seq) {
    ++report_.index_entries_checked;
    ++entries;
    const RecordFacts* f = facts(seq);
    // After lost records the rule's counts differ from the indexer's: the
    // WAL fault already says what is wrong there.
    if (!damaged_.empty() && seq >= damaged_.front().first) return true;
    if (f == nullptr || f->stream != stream || f->ts_ns != ts || f->time != kind) {
      fault("index: " + std::string(what) + " (stream " + std::to_string(stream) + ", ts " +
            std::to_string(ts) + ") -> seq " + std::to_string(seq) + " does not match the WAL");
    }
    return report_.faults.size() < 1000;
  });
  if (!s) return s;
  uint64_t expected = 0;
  const uint64_t last = std::min(report_.indexed_seq, report_.last_seq);
  for (uint64_t seq = report_.first_seq; seq != 0 && seq <= last; ++seq) {
    const RecordFacts* f = facts(seq);
    expected += f != nullptr && f->time == kind;
  }
  if (entries != expected && damaged_.empty()) {
    fault("index: " + std::to_string(entries) + " " + what + "s where the WAL's first " +
          std::to_string(last) + " records call for " + std::to_string(expected));
  }
  return Status::ok();
}

Status Verifier::check_keys() {
  return snap_->for_each_key([&](uint32_t stream, std::string_view key, uint64_t seq) {
    ++report_.index_entries_checked;
    const RecordFacts* f = facts(seq);
    if (damaged(seq)) return true;
    bool ok = f != nullptr && f->stream == stream;
    if (ok) {
      auto mapped = segs_.map(f->segment);
      wal::DecodedFrame frame;
      ok = mapped &&
           wal::decode_frame((*mapped)->bytes.subspan(f->offset), (*mapped)->header.segment_no,
                             &frame) == wal::FrameStatus::kOk &&
           frame.record->key() != nullptr &&
           std::string_view(reinterpret_cast<const char*>(frame.record->key()->data()),
                            frame.record->key()->size()) == key;
    }
    if (!ok) fault("index: key entry -> seq " + std::to_string(seq) + " does not match the WAL");
    return report_.faults.size() < 1000;
  });
}

Status Verifier::check_streams() {
  std::vector<StreamInfo> streams;
  Status s = snap_->streams(&streams);
  if (!s) return s;
  std::map<uint32_t, uint64_t> counts;
  const uint64_t last = std::min(report_.indexed_seq, report_.last_seq);
  for (uint64_t seq = report_.first_seq; seq != 0 && seq <= last; ++seq) {
    if (const RecordFacts* f = facts(seq)) ++counts[f->stream];
  }
  for (const auto& info : streams) {
    if (damaged_.empty() && counts[info.id] != info.count) {
      fault("index: stream '" + info.name + "' counts " + std::to_string(info.count) +
            " records but the WAL holds " + std::to_string(counts[info.id]));
    }
  }
  return Status::ok();
}

// The index snapshot is taken before the WAL is read: everything it holds
// was written before, so the scan finds it (a live writer only adds).
Status Verifier::open_snapshot() {
  auto idx = index::Index::open(paths_.index, true, StoreOptions().index_map_bytes);
  if (!idx) {
    index_error_ = idx.status().message();
    return Status::ok();
  }
  index_ = std::move(*idx);
  auto snap = index_->snapshot();
  if (!snap) return snap.status();
  snap_ = std::move(*snap);
  auto indexed = snap_->indexed_seq();
  if (!indexed) return indexed.status();
  report_.indexed_seq = *indexed;
  report_.index_present = true;
  return Status::ok();
}

Status Verifier::check_index() {
  if (!snap_) {
    if (report_.records > 0) fault("index: cannot be opened: " + index_error_);
    return Status::ok();
  }
  const uint64_t indexed = report_.indexed_seq;
  if (indexed > report_.last_seq) {
    fault("index: indexed_seq " + std::to_string(indexed) + " is beyond the last record (seq " +
          std::to_string(report_.last_seq) + ") of the WAL");
  } else if (indexed < report_.last_seq) {
    report_.notes.push_back("records " + std::to_string(indexed + 1) + ".." +
                            std::to_string(report_.last_seq) +
                            (report_.writer_live ? " were not indexed yet when the check began"
                                                 : " are not indexed yet (the next writer open "
                                                   "adds them)"));
  }
  Status s = check_positions();
  if (s) s = check_time(false);
  if (s) s = check_time(true);
  if (s) s = check_keys();
  if (s) s = check_streams();
  return s;
}

Result<VerifyReport> Verifier::run() {
  if (::access(paths_.wal.c_str(), F_OK) != 0) {
    return Status::not_found(paths_.root + ": no reel store here");
  }
  if (Status hs = head_.open_for_read(paths_.head); !hs && hs.code() != Code::kNotFound) {
    return hs;
  }
  report_.writer_live = head_.writer_may_be_live();
  Status s = open_snapshot();
  if (s) s = scan_wal();
  if (s) s = check_index();
  if (!s) return s;
  return report_;
}

}  // namespace

Result<VerifyReport> verify_store(const std::string& dir,
                                  const std::function<void(uint64_t, uint64_t)>& progress) {
  return Verifier(dir, progress).run();
}

}  // namespace reel::store
