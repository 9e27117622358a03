#include "store/verify.h"

#include <unistd.h>

#include <map>

#include "index/index.h"
#include "reel/options.h"
#include "store/segment_set.h"
#include "store/store_dir.h"
#include "wal/segment_scanner.h"

namespace reel::store {
namespace {

// What verify remembers of each record, to check the index against.
struct RecordFacts {
  uint32_t segment = 0;
  uint32_t stream = 0;
  uint64_t offset = 0;
  uint64_t ts_ns = 0;
};

class Verifier {
 public:
  Verifier(const std::string& dir, const std::function<void(uint64_t, uint64_t)>& progress)
      : paths_(dir), segs_(paths_.wal), progress_(progress) {}
  Result<VerifyReport> run();

 private:
  Status scan_wal();
  Status check_index();
  Status check_positions();
  Status check_time_and_keys();
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
  VerifyReport report_;
};

Status Verifier::scan_wal() {
  Status s = segs_.refresh();
  if (!s) return s;
  report_.segments = segs_.size();
  uint64_t total = 0, done = 0;
  for (size_t i = 0; i < segs_.size(); ++i) {
    auto m = segs_.map(i);
    if (m) total += (*m)->bytes.size();
  }
  uint64_t expected = 0;
  uint64_t store_id = 0;
  int64_t prev_segment_no = -1;
  for (size_t i = 0; i < segs_.size(); ++i) {
    auto mapped = segs_.map(i);
    if (!mapped) {
      fault(mapped.status().message());
      continue;
    }
    const MappedSegment& seg = **mapped;
    if (i == 0) {
      store_id = seg.header.store_id;
      report_.first_seq = seg.header.first_seq;
    }
    if (seg.header.store_id != store_id) fault(seg.name + ": belongs to another store");
    if (prev_segment_no >= 0 && seg.header.segment_no != prev_segment_no + 1) {
      fault(seg.name + ": segment number " + std::to_string(seg.header.segment_no) +
            " does not follow " + std::to_string(prev_segment_no));
    }
    prev_segment_no = seg.header.segment_no;
    if (expected != 0 && seg.header.first_seq != expected) {
      fault(seg.name + ": starts at seq " + std::to_string(seg.header.first_seq) + " but seq " +
            std::to_string(expected) + " was expected");
    }
    expected = seg.header.first_seq;
    wal::SegmentScanner scanner(seg.bytes, seg.header, seg.name, wal::kSegmentHeaderBytes, expected,
                                wal::ScanMode::kFull);
    wal::DecodedFrame frame;
    uint64_t pending_damage = 0;
    for (;;) {
      auto step = scanner.next(&frame);
      const uint64_t offset = scanner.frame_offset();
      if (step == wal::SegmentScanner::Step::kFrame) {
        if (pending_damage != 0) {
          if (frame.seq > pending_damage) damaged_.emplace_back(pending_damage, frame.seq - 1);
          pending_damage = 0;
        }
        const uint64_t index = frame.seq - report_.first_seq;
        if (facts_.size() <= index) facts_.resize(index + 1);
        facts_[index] = {static_cast<uint32_t>(i), frame.record->stream(), offset,
                         frame.record->ts_ns()};
        ++report_.records;
        report_.last_seq = frame.seq;
        if ((report_.records & 0xffff) == 0 && progress_) progress_(done + offset, total);
        continue;
      }
      if (step == wal::SegmentScanner::Step::kEnd) break;
      if (step == wal::SegmentScanner::Step::kCorruption) {
        fault(scanner.fault().message());
        pending_damage = scanner.fault().expected_seq;
        continue;  // resumes at the next valid frame
      }
      fault(scanner.fault().message() +
            "; nothing valid follows: a torn tail, which the next writer open cuts");
      break;
    }
    expected = scanner.expected_seq();
    done += seg.bytes.size();
  }
  if (progress_) progress_(total, total);
  return Status::ok();
}

Status Verifier::check_positions() {
  return index_->for_each_position([&](const index::SeqPosition& pos) {
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

Status Verifier::check_time_and_keys() {
  uint64_t time_entries = 0;
  Status s = index_->for_each_time([&](uint32_t stream, uint64_t ts, uint64_t seq) {
    ++report_.index_entries_checked;
    ++time_entries;
    const RecordFacts* f = facts(seq);
    if (damaged(seq)) return true;
    if (f == nullptr || f->stream != stream || f->ts_ns != ts) {
      fault("index: time entry (stream " + std::to_string(stream) + ", ts " + std::to_string(ts) +
            ") -> seq " + std::to_string(seq) + " does not match the WAL");
    }
    return report_.faults.size() < 1000;
  });
  if (!s) return s;
  const uint64_t indexed_records =
      report_.indexed_seq >= report_.first_seq && report_.first_seq != 0
          ? std::min(report_.indexed_seq, report_.last_seq) - report_.first_seq + 1
          : 0;
  if (time_entries != indexed_records && damaged_.empty()) {
    fault("index: " + std::to_string(time_entries) + " time entries for " +
          std::to_string(indexed_records) + " indexed records");
  }
  return index_->for_each_key([&](uint32_t stream, std::string_view key, uint64_t seq) {
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
  Status s = index_->streams(&streams);
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

Status Verifier::check_index() {
  auto idx = index::Index::open(paths_.index, true, StoreOptions().index_map_bytes);
  if (!idx) {
    if (report_.records > 0) fault("index: cannot be opened: " + idx.status().message());
    return Status::ok();
  }
  index_ = std::move(*idx);
  report_.index_present = true;
  auto indexed = index_->indexed_seq();
  if (!indexed) return indexed.status();
  report_.indexed_seq = *indexed;
  if (*indexed > report_.last_seq) {
    fault("index: indexed_seq " + std::to_string(*indexed) + " is beyond the last record (seq " +
          std::to_string(report_.last_seq) + ") of the WAL");
  } else if (*indexed < report_.last_seq) {
    fault("index: records " + std::to_string(*indexed + 1) + ".." +
          std::to_string(report_.last_seq) +
          " are not indexed yet (the next writer open adds "
          "them)");
  }
  Status s = check_positions();
  if (s) s = check_time_and_keys();
  if (s) s = check_streams();
  return s;
}

Result<VerifyReport> Verifier::run() {
  if (::access(paths_.wal.c_str(), F_OK) != 0) {
    return Status::not_found(paths_.root + ": no reel store here");
  }
  Status s = scan_wal();
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
