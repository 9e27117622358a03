#include "reel/tailer.h"

#include <algorithm>
#include <thread>

#include "store/reader_impl.h"
#include "wal/frame_format.h"

namespace reel {

struct REEL_INTERNAL Tailer::Impl {
  explicit Impl(std::unique_ptr<Reader> owned)
      : reader(std::move(owned)), r(reader->impl_.get()), cursor(r->make_cursor()) {}

  std::unique_ptr<Reader> reader;
  Reader::Impl* r;
  Options options;
  uint64_t next_seq = 1;
  std::optional<uint32_t> stream_id;
  Status status;
  // Where reading continues. Unset until the first read locates next_seq.
  store::SegmentCursor cursor;
  bool positioned = false;

  uint64_t watermark() const {
    switch (options.follow) {
      case Level::kWritten:
        return r->head.written_seq();
      case Level::kIndexed:
        return r->head.indexed_seq();
      case Level::kDurable:
        break;
    }
    return r->head.durable_seq();
  }
  bool fail(Status s) {
    status = std::move(s);
    return false;
  }
  bool wanted(const wal::DecodedFrame& f);
  bool advance(RecordView* out, uint64_t limit);
};

bool Tailer::Impl::wanted(const wal::DecodedFrame& f) {
  if (options.stream.empty()) return true;
  if (!stream_id) {
    // The stream did not exist at open: its first record declares it.
    const auto* name = f.record->stream_name();
    if (name == nullptr || name->string_view() != options.stream) return false;
    stream_id = f.record->stream();
  }
  return f.record->stream() == *stream_id;
}

// Delivers the next wanted record with seq <= limit, if there is one.
bool Tailer::Impl::advance(RecordView* out, uint64_t limit) {
  using Step = store::SegmentCursor::Step;
  while (next_seq <= limit) {
    if (!positioned) {
      auto pos = r->locate(next_seq);
      if (!pos) return fail(pos.status());
      if (!pos->has_value()) return false;  // no segment yet
      cursor.seek((*pos)->segment, (*pos)->offset, (*pos)->seq);
      positioned = true;
    }
    wal::DecodedFrame frame;
    const Step step = cursor.next(&frame);
    if (step == Step::kFrame) {
      if (frame.seq > limit) {
        // Past the followed watermark: read it again once that moves.
        cursor.seek(cursor.segment(), cursor.frame_offset(), frame.seq);
        return false;
      }
      if (frame.seq < next_seq) continue;
      next_seq = frame.seq + 1;
      if (!wanted(frame)) continue;
      *out = RecordView(frame.data, frame.frame_bytes, frame.record);
      return true;
    }
    if (step == Step::kCorruption) return fail(Status::corruption(cursor.fault().message()));
    if (step == Step::kError) return fail(cursor.status());
    return false;  // the live end, or the end of an unclean log
  }
  return false;
}

Tailer::Tailer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tailer::~Tailer() = default;

Result<std::unique_ptr<Tailer>> Tailer::open(const std::string& dir, const Options& options) {
  auto reader = Reader::open(dir, options.reader);
  if (!reader) return reader.status();
  auto impl = std::make_unique<Impl>(std::move(*reader));
  impl->options = options;
  if (!options.stream.empty()) {
    auto id = impl->reader->stream_id(options.stream);
    if (!id) return id.status();
    impl->stream_id = *id;
  }
  if (options.from_end) {
    impl->next_seq = impl->watermark() + 1;
  } else if (options.from_seq != 0) {
    impl->next_seq = options.from_seq;
  } else if (options.from_ts_ns != 0) {
    // The first record at or after the time, in each stream's time order;
    // the earliest seq among them. Nothing that late yet: the live end.
    auto streams = impl->reader->streams();
    if (!streams) return streams.status();
    uint64_t start = impl->watermark();
    std::vector<std::string> names;
    for (const auto& info : *streams) {
      start = std::max(start, info.last_seq);
      if (options.stream.empty() || info.name == options.stream) names.push_back(info.name);
    }
    ++start;
    for (const auto& name : names) {
      Cursor cursor = impl->reader->by_time(name, options.from_ts_ns, UINT64_MAX);
      RecordView v;
      if (cursor.next(&v)) start = std::min(start, v.seq());
      if (!cursor.status()) return cursor.status();
    }
    impl->next_seq = start;
  }
  return std::unique_ptr<Tailer>(new Tailer(std::move(impl)));
}

bool Tailer::next(RecordView* out, std::chrono::nanoseconds timeout) {
  Impl& d = *impl_;
  if (!d.status.is_ok()) return false;
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    d.r->attach();
    // Epoch first: a watermark move after this read changes it, so the
    // sleep below cannot miss the wake-up.
    const uint32_t epoch = d.r->head.epoch();
    if (d.advance(out, d.watermark())) return true;
    if (!d.status.is_ok()) return false;
    auto left = std::chrono::nanoseconds(std::chrono::milliseconds(100));
    if (timeout.count() >= 0) {
      const auto spent = std::chrono::steady_clock::now() - start;
      if (spent >= timeout) return false;
      left = std::min<std::chrono::nanoseconds>(left, timeout - spent);
    }
    if (d.r->head.is_open()) {
      d.r->head.wait_for_change(epoch, left);
    } else {
      std::this_thread::sleep_for(
          std::min<std::chrono::nanoseconds>(left, std::chrono::milliseconds(10)));
    }
  }
}

const Status& Tailer::status() const {
  return impl_->status;
}

uint64_t Tailer::next_seq() const {
  return impl_->next_seq;
}

uint64_t Tailer::watermark() const {
  return impl_->watermark();
}

}  // namespace reel
