#include "reel/replayer.h"

#include <sys/prctl.h>
#include <time.h>

#include <algorithm>
#include <queue>
#include <random>

#include "reel/reader.h"
#include "replay/pacer.h"

namespace reel {
namespace {

// One stream's records in (ts, seq) order, with the head not yet sent.
struct Lane {
  Cursor cursor;
  RecordView head;
};

struct HeadOrder {
  const std::vector<Lane>* lanes;
  bool operator()(size_t a, size_t b) const {  // true: a after b
    const RecordView& x = (*lanes)[a].head;
    const RecordView& y = (*lanes)[b].head;
    return x.ts_ns() != y.ts_ns() ? x.ts_ns() > y.ts_ns() : x.seq() > y.seq();
  }
};

// Lateness samples: every one up to kKeep, then a uniform reservoir.
class LateSamples {
 public:
  void add(uint64_t ns) {
    ++seen_;
    max_ = std::max(max_, ns);
    last_ = ns;
    if (v_.size() < kKeep) {
      v_.push_back(ns);
    } else if (const uint64_t k = rng_() % seen_; k < kKeep) {
      v_[k] = ns;
    }
  }
  void fill(ReplayStats* s) {
    if (v_.empty()) return;
    std::sort(v_.begin(), v_.end());
    s->late_p50_ns = v_[v_.size() / 2];
    s->late_p99_ns = v_[std::min(v_.size() - 1, v_.size() * 99 / 100)];
    s->late_max_ns = max_;
    s->last_late_ns = last_;
  }

 private:
  static constexpr size_t kKeep = 1'000'000;
  std::vector<uint64_t> v_;
  uint64_t seen_ = 0, max_ = 0, last_ = 0;
  std::mt19937_64 rng_{7};
};

}  // namespace

// Paced records a sink may hold before the replayer asks it to flush, and
// how late a record must be for the replayer to batch it with the next.
constexpr size_t kMaxUnsent = 64;
constexpr uint64_t kBehindNs = 20'000;

struct Replayer::Impl {
  ReplayOptions options;
  std::unique_ptr<Reader> reader;
  std::vector<std::string> streams;  // the ones replayed
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> sent{0};
  ReplayStats stats;

  Result<std::vector<Lane>> open_lanes();
  // One pass over the range. Its first record is due at `anchor` (waited
  // for, flat out too), or, when 0, as soon as the cursors are open: the
  // time opening them takes must not make the first record alone late.
  Status one_loop(ReplaySink* sink, uint64_t anchor, LateSamples* late);
};

Result<std::vector<Lane>> Replayer::Impl::open_lanes() {
  std::vector<Lane> lanes;
  for (const auto& name : streams) {
    Lane lane;
    lane.cursor = reader->by_time(name, options.from_ts_ns, options.to_ts_ns);
    lanes.push_back(std::move(lane));
  }
  return lanes;
}

Status Replayer::Impl::one_loop(ReplaySink* sink, uint64_t anchor, LateSamples* late) {
  auto lanes = open_lanes();
  if (!lanes) return lanes.status();
  HeadOrder order{&*lanes};
  std::priority_queue<size_t, std::vector<size_t>, HeadOrder> heads(order);
  // The next record of lane i within the seq bounds, onto the heap.
  auto advance = [&](size_t i) -> Status {
    Lane& l = (*lanes)[i];
    while (l.cursor.next(&l.head)) {
      if (l.head.seq() < options.from_seq || l.head.seq() > options.to_seq) continue;
      heads.push(i);
      return Status::ok();
    }
    return l.cursor.status();
  };
  for (size_t i = 0; i < lanes->size(); ++i) {
    if (Status s = advance(i); !s) return s;
  }
  if (anchor == 0) {
    anchor = replay::mono_ns();
  } else if (!replay::Pacer(1, 0, anchor, options.spin_ns).wait_until(anchor, stop)) {
    return Status::ok();  // stopped while waiting for --start-at
  }
  replay::Pacer pacer(options.speed, options.max_gap_ns, anchor, options.spin_ns);
  // Paced records handed to the sink since its last flush: when the replay
  // runs behind, records leave in batches; each one's lateness is taken
  // when its batch has left.
  std::vector<uint64_t> unsent;
  auto flush = [&]() -> Status {
    Status s = sink->flush();
    for (uint64_t due : unsent) late->add(replay::late_ns(due));
    unsent.clear();
    return s;
  };
  while (!heads.empty() && !stop.load(std::memory_order_relaxed)) {
    const size_t i = heads.top();
    heads.pop();
    const RecordView& r = (*lanes)[i].head;
    uint64_t due = 0;
    if (!options.max) {
      due = pacer.due(r.ts_ns());
      if (pacer.must_wait(due)) {
        if (Status s = flush(); !s) return s;
        if (!pacer.wait_until(due, stop)) break;
      }
    }
    if (Status s = sink->send(r, due); !s) return s;
    if (!options.max) {
      unsent.push_back(due);
      // On time: out now. Behind: batch until caught up (or 64 held).
      if (replay::late_ns(due) < kBehindNs || unsent.size() >= kMaxUnsent) {
        if (Status s = flush(); !s) return s;
      }
    }
    ++stats.records;
    stats.bytes += r.payload().size();
    sent.store(stats.records, std::memory_order_relaxed);
    // The sink copied the view (three pointers into the mapping, which lives
    // with the reader); the lane moves on to its next record.
    if (Status s = advance(i); !s) return s;
  }
  return flush();
}

Replayer::Replayer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Replayer::~Replayer() = default;

Result<std::unique_ptr<Replayer>> Replayer::open(const std::string& dir,
                                                 const ReplayOptions& options) {
  if (!options.max && !(options.speed > 0)) {
    return Status::invalid_argument("speed must be more than 0");
  }
  auto reader = Reader::open(dir, options.reader);
  if (!reader) return reader.status();
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->reader = std::move(*reader);
  if (options.streams.empty()) {
    auto all = impl->reader->streams();
    if (!all) return all.status();
    for (const auto& s : *all) impl->streams.push_back(s.name);
  } else {
    for (const auto& name : options.streams) {
      if (std::find(impl->streams.begin(), impl->streams.end(), name) != impl->streams.end()) {
        continue;  // named twice: replayed once
      }
      auto id = impl->reader->stream_id(name);
      if (!id) return id.status();
      if (!*id) return Status::not_found(dir + ": no stream '" + name + "'");
      impl->streams.push_back(name);
    }
  }
  return std::unique_ptr<Replayer>(new Replayer(std::move(impl)));
}

Status Replayer::run(ReplaySink* sink) {
  ::prctl(PR_SET_TIMERSLACK, 1);  // sleeps end when asked, not 50 us later
  impl_->stats = {};
  impl_->sent.store(0);
  LateSamples late;
  const uint64_t t0 = replay::mono_ns();
  // --start-at holds the first loop (flat out too: machines start together).
  uint64_t anchor =
      impl_->options.start_at_ns == 0
          ? 0
          : std::max<uint64_t>(1, replay::mono_from_realtime(impl_->options.start_at_ns));
  Status s;
  for (uint64_t loop = 0; s && loop < impl_->options.loops && !impl_->stop.load(); ++loop) {
    s = impl_->one_loop(sink, anchor, &late);
    anchor = 0;
  }
  impl_->stats.seconds = static_cast<double>(replay::mono_ns() - t0) / 1e9;
  late.fill(&impl_->stats);
  return s;
}

namespace {
class CallbackSink final : public ReplaySink {
 public:
  explicit CallbackSink(const std::function<Status(const RecordView&, uint64_t)>& fn) : fn_(fn) {}
  Status send(const RecordView& r, uint64_t due) override { return fn_(r, due); }

 private:
  const std::function<Status(const RecordView&, uint64_t)>& fn_;
};
}  // namespace

Status Replayer::run(const std::function<Status(const RecordView&, uint64_t due_ns)>& sink) {
  CallbackSink s(sink);
  return run(&s);
}

void Replayer::stop() {
  impl_->stop.store(true);
}

ReplayStats Replayer::stats() const {
  return impl_->stats;
}

uint64_t Replayer::progress() const {
  return impl_->sent.load(std::memory_order_relaxed);
}

}  // namespace reel
