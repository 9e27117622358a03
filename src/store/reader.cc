#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>

#include <spdlog/spdlog.h>

#include "reel/options.h"
#include "store/reader_impl.h"

namespace reel {

// ---------------------------------------------------------------------------
// Reader::Impl

store::WriterState Reader::Impl::writer_state() const {
  store::WriterState ws;
  ws.generation = head.generation();
  ws.written_seq = head.written_seq();
  ws.live = head.writer_may_be_live();
  return ws;
}

void Reader::Impl::attach() const {
  if (!head.is_open()) {
    if (Status s = head.open_for_read(paths.head); !s) {
      spdlog::debug("{}: no head file yet ({}); reading without watermarks", paths.root,
                    s.to_string());
    }
  }
  if (index || index_denied) return;
  auto idx = index::Index::open(paths.index, true, StoreOptions().index_map_bytes);
  if (idx) {
    index = std::move(*idx);
  } else if (::access((paths.index + "/lock.mdb").c_str(), W_OK) != 0 && errno == EACCES) {
    // LMDB readers register in lock.mdb; without that a writer may reuse the
    // pages they read (MDB_NOLOCK is unsafe beside a writer). Read the WAL.
    index_denied = true;
    spdlog::warn("{}; queries read the WAL instead (correct, slower)", idx.status().message());
  } else {
    spdlog::debug("{}: no usable index yet ({}); queries scan the WAL", paths.root,
                  idx.status().to_string());
  }
}

Result<std::unique_ptr<index::Snapshot>> Reader::Impl::snapshot() const {
  attach();
  if (!index) return std::unique_ptr<index::Snapshot>();
  auto snap = index->snapshot();
  if (!snap) return snap;
  // An index of another format (a writer is about to rebuild it) means
  // something else by its databases: read the WAL instead.
  auto format = (*snap)->format();
  if (!format) return format.status();
  if (*format != 0 && *format != index::kIndexFormat) return std::unique_ptr<index::Snapshot>();
  return snap;
}

Result<std::optional<Reader::Impl::Position>> Reader::Impl::locate(uint64_t seq) {
  attach();
  if (segs.size() == 0) {
    Status s = segs.refresh();
    if (!s) return s;
    if (segs.size() == 0) return std::optional<Position>();
  }
  for (int attempt = 0;; ++attempt) {
    auto seg = segs.find(seq);
    if (!seg) seg = 0;  // before the first record: start at the beginning
    Position pos{*seg, wal::kSegmentHeaderBytes, segs.first_seq(*seg)};
    if (!index) return std::optional<Position>(pos);
    const uint64_t end = *seg + 1 < segs.size() ? segs.first_seq(*seg + 1) : UINT64_MAX;
    auto floor = positions.floor(*index, pos.seq, end, seq);
    if (!floor) return floor.status();
    if (floor->later_segment && attempt == 0) {
      // The index knows segments this listing lacks: list them, ask again.
      if (Status s = segs.refresh(); !s) return s;
      continue;
    }
    if (floor->position) {
      pos.offset = floor->position->offset;
      pos.seq = floor->position->seq;
    }
    pos.bytes_per_record = floor->bytes_per_record;
    return std::optional<Position>(pos);
  }
}

void Reader::Impl::prefetch_likely(uint64_t seq) {
  auto seg = segs.find(seq);
  if (!seg) return;
  const uint64_t guess = positions.estimate(segs.first_seq(*seg), seq);
  if (guess == 0) return;
  auto mapped = segs.map(*seg);
  if (!mapped || guess + 256 > (*mapped)->bytes.size()) return;
  for (uint64_t at = guess > 256 ? guess - 256 : 0; at < guess + 256; at += 64) {
    __builtin_prefetch((*mapped)->bytes.data() + at);
  }
}

std::optional<RecordView> Reader::Impl::quick_get(uint64_t seq) {
  prefetch_likely(seq);  // overlaps the position search's own memory access
  auto pos = locate(seq);
  if (!pos || !pos->has_value() || (*pos)->seq > seq) return std::nullopt;
  auto mapped = segs.map((*pos)->segment);
  if (!mapped) return std::nullopt;
  wal::DecodedFrame frame;
  if (!wal::hop_to_frame((*mapped)->bytes, (*mapped)->header.segment_no, (*pos)->offset,
                         (*pos)->seq, seq, body_check(), &frame, (*pos)->bytes_per_record)) {
    return std::nullopt;
  }
  return RecordView(frame.data, frame.frame_bytes, frame.record);
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
  uint64_t indexed = 0;
  {
    auto snap = snapshot();
    if (!snap) return snap.status();
    if (*snap) {
      Status s = (*snap)->streams(&out);
      auto seq = (*snap)->indexed_seq();
      if (s && !seq) s = seq.status();
      if (!s) return s;
      indexed = *seq;
    }
  }
  // Records beyond the snapshot: a writer between batches, or no index.
  std::map<uint32_t, StreamInfo> by_id;
  for (auto& info : out) by_id[info.id] = std::move(info);
  Status s = scan(indexed + 1, UINT64_MAX, [&](const RecordView& v) {
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

Result<std::optional<uint32_t>> Reader::Impl::stream_id(std::string_view name) {
  uint64_t indexed = 0;
  {
    auto snap = snapshot();
    if (!snap) return snap.status();
    if (*snap) {
      auto id = (*snap)->stream_id(name);
      if (!id || id->has_value()) return id;
      auto seq = (*snap)->indexed_seq();
      if (!seq) return seq.status();
      indexed = *seq;
    }
  }
  // A stream the snapshot does not know yet is declared by its first record.
  std::optional<uint32_t> found;
  Status s = scan(indexed + 1, UINT64_MAX, [&](const RecordView& v) {
    const auto* declared = v.record()->stream_name();
    if (declared != nullptr && declared->string_view() == name) found = v.stream();
    return !found;
  });
  if (!s) return s;
  return found;
}

Result<uint64_t> Reader::Impl::segment_frame_bytes(size_t i) {
  // Start at the index's last position in this segment, then read to its end.
  uint64_t last_seq = UINT64_MAX;
  if (i + 1 < segs.size() && segs.first_seq(i + 1) > segs.first_seq(i)) {
    last_seq = segs.first_seq(i + 1) - 1;
  }
  auto pos = locate(std::max(segs.first_seq(i), std::min(last_seq, head.written_seq())));
  if (!pos) return pos.status();
  store::SegmentCursor cursor = make_cursor();
  if (pos->has_value() && (*pos)->segment == i) {
    cursor.seek(i, (*pos)->offset, (*pos)->seq);
  } else {
    cursor.seek(i, wal::kSegmentHeaderBytes, segs.first_seq(i));
  }
  uint64_t end = wal::kSegmentHeaderBytes;
  wal::DecodedFrame frame;
  while (cursor.next(&frame) == store::SegmentCursor::Step::kFrame && cursor.segment() == i) {
    end = cursor.offset();
  }
  return end - wal::kSegmentHeaderBytes;
}

// ---------------------------------------------------------------------------
// SeqScan

bool SeqScan::start() {
  started_ = true;
  auto pos = r_->locate(from_);
  if (!pos) return fail(pos.status());
  if (!pos->has_value()) {
    done_ = true;
    return false;
  }
  cursor_.seek((*pos)->segment, (*pos)->offset, (*pos)->seq);
  return true;
}

bool SeqScan::next(RecordView* out) {
  using Step = store::SegmentCursor::Step;
  if (done_) return false;
  if (!started_ && !start()) return false;
  wal::DecodedFrame frame;
  for (;;) {
    const Step step = cursor_.next(&frame);
    if (step == Step::kFrame) {
      if (frame.seq < from_) continue;
      if (skipped_ && frame.seq > from_) {
        // The damage stepped over held records of the range.
        return fail(Status::corruption(skipped_->message()));
      }
      skipped_.reset();
      if (frame.seq > to_) {
        done_ = true;
        return false;
      }
      *out = RecordView(frame.data, frame.frame_bytes, frame.record);
      return true;
    }
    if (step == Step::kCorruption && cursor_.fault().expected_seq < from_) {
      skipped_ = cursor_.fault();  // before the range: step over it, if it ends before
      continue;
    }
    if (step == Step::kCorruption) return fail(Status::corruption(cursor_.fault().message()));
    if (step == Step::kError) return fail(cursor_.status());
    if (skipped_) return fail(Status::corruption(skipped_->message()));
    done_ = true;  // kEnd, kTornTail: the end of the log
    return false;
  }
}

// ---------------------------------------------------------------------------
// Reader

Reader::Reader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Reader::~Reader() = default;

Result<std::unique_ptr<Reader>> Reader::open(const std::string& dir, const ReaderOptions& options) {
  auto impl = std::make_unique<Impl>(dir, options);
  Status s = impl->segs.refresh();
  if (!s) {
    return s.code() == Code::kNotFound ? Status::not_found(dir + ": no reel store here") : s;
  }
  impl->attach();
  return std::unique_ptr<Reader>(new Reader(std::move(impl)));
}

Result<RecordView> Reader::get(uint64_t seq) {
  if (auto quick = impl_->quick_get(seq)) return *quick;
  SeqScan scan(impl_.get(), seq, seq);
  RecordView view;
  if (scan.next(&view)) return view;
  if (!scan.status().is_ok()) return scan.status();
  return Status::not_found(impl_->paths.root + ": no record with seq " + std::to_string(seq));
}

Result<std::optional<uint32_t>> Reader::stream_id(std::string_view name) {
  return impl_->stream_id(name);
}

bool Reader::indexed() const {
  impl_->attach();
  return impl_->index != nullptr;
}

Result<std::vector<StreamInfo>> Reader::streams() {
  return impl_->streams();
}

Watermarks Reader::watermarks() const {
  impl_->attach();
  return impl_->head.watermarks();
}

Result<StoreStats> Reader::stats() {
  StoreStats st;
  impl_->attach();
  Status s = impl_->segs.refresh();
  if (!s) return s;
  st.watermarks = impl_->head.watermarks();
  st.store_id = impl_->head.store_id();
  st.writer_live = impl_->head.writer_may_be_live();
  st.clean_shutdown = impl_->head.clean_shutdown();
  st.segment_count = impl_->segs.size();
  for (size_t i = 0; i < impl_->segs.size(); ++i) {
    auto mapped = impl_->segs.map(i);
    if (!mapped && i + 1 == impl_->segs.size() && impl_->segs.header_incomplete(i)) {
      break;  // a segment whose creation never finished: nothing in it
    }
    if (!mapped) return mapped.status();
    st.wal_file_bytes += (*mapped)->bytes.size();
    if (st.store_id == 0) st.store_id = (*mapped)->header.store_id;
    auto bytes = impl_->segment_frame_bytes(i);
    if (!bytes) return bytes.status();
    st.wal_bytes += *bytes;
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
