#include <algorithm>
#include <map>
#include <variant>

#include <spdlog/spdlog.h>

#include "reel/options.h"
#include "store/reader_impl.h"

namespace reel {

// ---------------------------------------------------------------------------
// Reader::Impl

uint64_t Reader::Impl::indexed_seq() const {
  if (!index) return 0;
  auto seq = index->indexed_seq();
  return seq ? *seq : 0;
}

Result<std::optional<Reader::Impl::Position>> Reader::Impl::locate(uint64_t seq) {
  // The directory is listed again only when it looks stale: no segments yet,
  // or the index knows a segment this listing lacks. Scans that run off the
  // last known segment list it again themselves.
  if (segs.size() == 0) {
    Status s = segs.refresh();
    if (!s) return s;
    if (segs.size() == 0) return std::optional<Position>();
  }
  std::optional<index::SeqPosition> floor;
  if (index) {
    auto found = index->floor_position(seq);
    if (found) floor = *found;
    if (floor && floor->segment_first_seq > segs.first_seq(segs.size() - 1)) {
      Status s = segs.refresh();
      if (!s) return s;
    }
  }
  auto seg = segs.find(seq);
  if (!seg) seg = 0;  // before the first record: start at the beginning
  Position pos{*seg, wal::kSegmentHeaderBytes, segs.first_seq(*seg)};
  if (floor && floor->segment_first_seq == pos.seq) {
    pos.offset = floor->offset;
    pos.seq = floor->seq;
  }
  return std::optional<Position>(pos);
}

Status Reader::Impl::scan(uint64_t from, uint64_t to,
                          const std::function<bool(const RecordView&)>& fn) {
  SeqScan scan(this, from, to);
  RecordView view;
  while (scan.next(&view)) {
    if (!fn(view)) break;
  }
  return scan.status();
}

Result<std::vector<StreamInfo>> Reader::Impl::streams() {
  std::vector<StreamInfo> out;
  if (index) {
    Status s = index->streams(&out);
    if (!s) return s;
  }
  // Records beyond the index (a writer between batches, or no index at all).
  std::map<uint32_t, StreamInfo> by_id;
  for (auto& info : out) by_id[info.id] = std::move(info);
  Status s = scan(indexed_seq() + 1, UINT64_MAX, [&](const RecordView& v) {
    StreamInfo& info = by_id[v.stream()];
    info.id = v.stream();
    if (const auto* name = v.record()->stream_name(); name != nullptr && name->size() > 0) {
      info.name = name->str();
    }
    if (info.count == 0) {
      info.first_seq = v.seq();
      info.first_ts_ns = info.last_ts_ns = v.ts_ns();
    }
    ++info.count;
    info.last_seq = v.seq();
    info.first_ts_ns = std::min(info.first_ts_ns, v.ts_ns());
    info.last_ts_ns = std::max(info.last_ts_ns, v.ts_ns());
    return true;
  });
  if (!s) return s;
  out.clear();
  for (auto& [id, info] : by_id) {
    if (info.name.empty()) info.name = "stream-" + std::to_string(id);
    out.push_back(std::move(info));
  }
  return out;
}

Result<uint64_t> Reader::Impl::segment_end_offset(size_t i) {
  auto mapped = segs.map(i);
  if (!mapped) return mapped.status();
  uint64_t start_seq = segs.first_seq(i);
  if (i + 1 < segs.size() && segs.first_seq(i + 1) > start_seq) {
    start_seq = segs.first_seq(i + 1) - 1;  // the last record of segment i
  } else if (head.is_open() && head.written_seq() > start_seq) {
    start_seq = head.written_seq();
  }
  uint64_t offset = wal::kSegmentHeaderBytes, expected = segs.first_seq(i);
  if (index) {
    auto floor = index->floor_position(start_seq);
    if (floor && floor->has_value() && (*floor)->segment_first_seq == segs.first_seq(i)) {
      offset = (*floor)->offset;
      expected = (*floor)->seq;
    }
  }
  wal::SegmentScanner scanner((*mapped)->bytes, (*mapped)->header, (*mapped)->name, offset,
                              expected, wal::ScanMode::kFast);
  wal::DecodedFrame frame;
  while (scanner.next(&frame) == wal::SegmentScanner::Step::kFrame) {
  }
  return scanner.offset();
}

// ---------------------------------------------------------------------------
// SeqScan

bool SeqScan::open_segment(size_t i, uint64_t offset, uint64_t expected_seq) {
  auto mapped = r_->segs.map(i);
  if (!mapped) return fail(mapped.status());
  segment_ = i;
  segment_first_seq_ = (*mapped)->header.first_seq;
  scanner_ =
      std::make_unique<wal::SegmentScanner>((*mapped)->bytes, (*mapped)->header, (*mapped)->name,
                                            offset, expected_seq, wal::ScanMode::kFast);
  return true;
}

bool SeqScan::skip_damage() {
  // Re-scan from the bad frame in a mode that classifies it; if valid frames
  // follow, the scanner resumes at the first of them.
  auto mapped = r_->segs.map(segment_);
  if (!mapped) return false;
  const auto& fault = scanner_->fault();
  auto classifier = std::make_unique<wal::SegmentScanner>(
      (*mapped)->bytes, (*mapped)->header, (*mapped)->name, fault.offset, fault.expected_seq,
      wal::ScanMode::kClassifyFaults);
  wal::DecodedFrame frame;
  if (classifier->next(&frame) != wal::SegmentScanner::Step::kCorruption) return false;
  scanner_ = std::move(classifier);
  return true;
}

bool SeqScan::start() {
  started_ = true;
  auto pos = r_->locate(from_);
  if (!pos) return fail(pos.status());
  if (!pos->has_value()) {
    done_ = true;
    return false;
  }
  return open_segment((*pos)->segment, (*pos)->offset, (*pos)->seq);
}

bool SeqScan::next(RecordView* out) {
  if (done_) return false;
  if (!started_ && !start()) return false;
  wal::DecodedFrame frame;
  for (;;) {
    auto step = scanner_->next(&frame);
    if (step == wal::SegmentScanner::Step::kFrame) {
      if (frame.seq < from_) continue;
      if (frame.seq > to_) {
        done_ = true;
        return false;
      }
      *out = RecordView(frame.data, frame.frame_bytes, frame.record);
      return true;
    }
    if (step == wal::SegmentScanner::Step::kEnd) {
      const uint64_t expected = scanner_->expected_seq();
      if (segment_ + 1 >= r_->segs.size()) {
        Status s = r_->segs.refresh();
        if (!s) return fail(s);
      }
      if (segment_ + 1 >= r_->segs.size() || expected > to_) {
        done_ = true;
        return false;
      }
      if (r_->segs.first_seq(segment_ + 1) != expected) {
        return fail(Status::corruption(r_->segs.name(segment_ + 1) + ": starts at seq " +
                                       std::to_string(r_->segs.first_seq(segment_ + 1)) +
                                       " but seq " + std::to_string(expected) + " was expected"));
      }
      if (!open_segment(segment_ + 1, wal::kSegmentHeaderBytes, expected)) return false;
      continue;
    }
    // A frame that does not check out. Corruption if the writer says that
    // seq was written or a later segment exists; otherwise the live end of
    // the log (a frame being written right now).
    const auto& fault = scanner_->fault();
    const bool written = r_->head.is_open() && fault.expected_seq <= r_->head.written_seq();
    if (!written && segment_ + 1 >= r_->segs.size() &&
        step != wal::SegmentScanner::Step::kCorruption) {
      done_ = true;
      return false;
    }
    if (fault.expected_seq < from_ && step != wal::SegmentScanner::Step::kCorruption &&
        skip_damage()) {
      continue;  // damage before the range asked for: step over it
    }
    return fail(Status::corruption(fault.message()));
  }
}

// ---------------------------------------------------------------------------
// Cursor

struct Cursor::Impl {
  // Either a sequential scan or a list of seqs resolved one by one.
  std::unique_ptr<SeqScan> scan;
  Reader::Impl* reader = nullptr;
  std::vector<uint64_t> seqs;
  size_t next_index = 0;
  std::unique_ptr<SeqScan> forward;  // reused while the seqs keep increasing
  uint64_t forward_seq = 0;
  Status status;
};

Cursor::Cursor() = default;
Cursor::~Cursor() = default;
Cursor::Cursor(Cursor&&) noexcept = default;
Cursor& Cursor::operator=(Cursor&&) noexcept = default;
Cursor::Cursor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

bool Cursor::next(RecordView* out) {
  if (!impl_ || !impl_->status.is_ok()) return false;
  if (impl_->scan) {
    if (impl_->scan->next(out)) return true;
    impl_->status = impl_->scan->status();
    return false;
  }
  while (impl_->next_index < impl_->seqs.size()) {
    const uint64_t seq = impl_->seqs[impl_->next_index++];
    // Seqs close after the previous one are reached by scanning forward;
    // anything else gets a fresh lookup.
    if (!impl_->forward || seq <= impl_->forward_seq || seq - impl_->forward_seq > 64) {
      impl_->forward = std::make_unique<SeqScan>(impl_->reader, seq, UINT64_MAX);
    }
    impl_->forward->advance_to(seq);
    if (impl_->forward->next(out) && out->seq() == seq) {
      impl_->forward_seq = seq;
      return true;
    }
    if (!impl_->forward->status().is_ok()) {
      impl_->status = impl_->forward->status();
      return false;
    }
    // Listed by the index but not in the WAL: an index ahead of an
    // unrecovered WAL. Skip it; `reel verify` reports the disagreement.
    impl_->forward.reset();
  }
  return false;
}

const Status& Cursor::status() const {
  static const Status kOk;
  return impl_ ? impl_->status : kOk;
}

// ---------------------------------------------------------------------------
// Reader

Reader::Reader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Reader::~Reader() = default;

Result<std::unique_ptr<Reader>> Reader::open(const std::string& dir) {
  auto impl = std::make_unique<Impl>(dir);
  Status s = impl->segs.refresh();
  if (!s) {
    return s.code() == Code::kNotFound ? Status::not_found(dir + ": no reel store here") : s;
  }
  if (Status hs = impl->head.open_for_read(impl->paths.head); !hs) {
    spdlog::debug("{}: no head file ({}); reading without watermarks", dir, hs.to_string());
  }
  auto idx = index::Index::open(impl->paths.index, true, StoreOptions().index_map_bytes);
  if (idx) {
    impl->index = std::move(*idx);
  } else {
    spdlog::debug("{}: no usable index ({}); queries scan the WAL", dir, idx.status().to_string());
  }
  return std::unique_ptr<Reader>(new Reader(std::move(impl)));
}

Result<RecordView> Reader::get(uint64_t seq) {
  SeqScan scan(impl_.get(), seq, seq);
  RecordView view;
  if (scan.next(&view)) return view;
  if (!scan.status().is_ok()) return scan.status();
  return Status::not_found(impl_->paths.root + ": no record with seq " + std::to_string(seq));
}

Cursor Reader::range(uint64_t from, uint64_t to) {
  auto impl = std::make_unique<Cursor::Impl>();
  impl->scan = std::make_unique<SeqScan>(impl_.get(), std::max<uint64_t>(from, 1), to);
  return Cursor(std::move(impl));
}

Result<std::optional<uint32_t>> Reader::stream_id(std::string_view name) {
  auto all = impl_->streams();
  if (!all) return all.status();
  for (const auto& info : *all) {
    if (info.name == name) return std::optional<uint32_t>(info.id);
  }
  return std::optional<uint32_t>();
}

// A list cursor over records of `stream` chosen by `from_index` (index
// lookups) and `matches` (the unindexed tail). Seqs end up sorted by
// `order`: (ts, seq) pairs, or seq alone when ts is not collected.
Cursor Reader::list_cursor(
    std::string_view stream,
    const std::function<Status(uint32_t, std::vector<std::pair<uint64_t, uint64_t>>*)>& from_index,
    const std::function<bool(const RecordView&)>& matches, bool order_by_time) {
  auto impl = std::make_unique<Cursor::Impl>();
  impl->reader = impl_.get();
  auto id = stream_id(stream);
  if (!id || !id->has_value()) {
    if (!id) impl->status = id.status();
    return Cursor(std::move(impl));
  }
  std::vector<std::pair<uint64_t, uint64_t>> hits;  // (ts or 0, seq)
  if (impl_->index) impl->status = from_index(**id, &hits);
  if (impl->status) {
    impl->status = impl_->scan(impl_->indexed_seq() + 1, UINT64_MAX, [&](const RecordView& v) {
      if (v.stream() == **id && matches(v))
        hits.emplace_back(order_by_time ? v.ts_ns() : 0, v.seq());
      return true;
    });
  }
  std::sort(hits.begin(), hits.end());
  for (const auto& hit : hits) impl->seqs.push_back(hit.second);
  return Cursor(std::move(impl));
}

Cursor Reader::by_time(std::string_view stream, uint64_t t0_ns, uint64_t t1_ns) {
  return list_cursor(
      stream,
      [&](uint32_t id, std::vector<std::pair<uint64_t, uint64_t>>* hits) {
        return impl_->index->seqs_by_time(id, t0_ns, t1_ns, hits);
      },
      [&](const RecordView& v) { return v.ts_ns() >= t0_ns && v.ts_ns() <= t1_ns; }, true);
}

Cursor Reader::by_key(std::string_view stream, std::string_view key) {
  return list_cursor(
      stream,
      [&](uint32_t id, std::vector<std::pair<uint64_t, uint64_t>>* hits) {
        std::vector<uint64_t> seqs;
        Status s = impl_->index->seqs_by_key(id, key, &seqs);
        for (uint64_t seq : seqs) hits->emplace_back(0, seq);
        return s;
      },
      [&](const RecordView& v) { return v.key() == key; }, false);
}

Result<std::vector<StreamInfo>> Reader::streams() {
  return impl_->streams();
}

Watermarks Reader::watermarks() const {
  return impl_->head.watermarks();
}

Result<StoreStats> Reader::stats() {
  StoreStats st;
  Status s = impl_->segs.refresh();
  if (!s) return s;
  st.watermarks = impl_->head.watermarks();
  st.store_id = impl_->head.store_id();
  st.segment_count = impl_->segs.size();
  for (size_t i = 0; i < impl_->segs.size(); ++i) {
    auto mapped = impl_->segs.map(i);
    if (!mapped) return mapped.status();
    st.wal_file_bytes += (*mapped)->bytes.size();
    if (st.store_id == 0) st.store_id = (*mapped)->header.store_id;
    auto end = impl_->segment_end_offset(i);
    if (!end) return end.status();
    st.wal_bytes += *end - wal::kSegmentHeaderBytes;
  }
  auto streams = impl_->streams();
  if (!streams) return streams.status();
  for (const auto& info : *streams) {
    if (info.count == 0) continue;
    st.record_count += info.count;
    if (st.first_seq == 0 || info.first_seq < st.first_seq) st.first_seq = info.first_seq;
    st.last_seq = std::max(st.last_seq, info.last_seq);
    if (st.first_ts_ns == 0 || info.first_ts_ns < st.first_ts_ns) st.first_ts_ns = info.first_ts_ns;
    st.last_ts_ns = std::max(st.last_ts_ns, info.last_ts_ns);
  }
  return st;
}

}  // namespace reel
