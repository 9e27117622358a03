#include "reel/replayer.h"

#include <sys/prctl.h>
#include <time.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <queue>
#include <random>

#include "reel/reader.h"
#include "reel/subscriber.h"
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
  std::unique_ptr<Reader> reader;     // a local store, or
  std::string remote;                 // HOST:PORT of a reel serve --replay endpoint
  std::unique_ptr<Subscriber> first;  // remote: the connection open() made, for loop 1
  // Remote: copies of the records handed to the sink since its last good
  // flush (its views point here); kept past an error, while the sink lives.
  std::vector<std::unique_ptr<std::byte[]>> held;
  std::vector<std::string> streams;  // the ones replayed
  std::map<uint32_t, std::string> names;
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> sent{0};
  ReplayStats stats;

  Result<std::vector<Lane>> open_lanes();
  Result<std::unique_ptr<Subscriber>> subscribe();
  bool empty_range() const;
  void count(const RecordView& r) {  // one more record sent
    ++stats.records;
    stats.bytes += r.payload().size();
    sent.store(stats.records, std::memory_order_relaxed);
  }
  // One pass over the range. Its first record is due at `anchor` (waited
  // for, flat out too), or, when 0, as soon as the source is open: the
  // time opening it takes must not make the first record alone late.
  Status one_loop(ReplaySink* sink, uint64_t anchor, LateSamples* late);
  Status one_remote_loop(ReplaySink* sink, uint64_t anchor, LateSamples* late);
};

namespace {

// Hands records to a sink when they are due (or flat out): paced records
// leave at once when on time, and in batches while the replay runs behind.
class Dispatch {
 public:
  Dispatch(const ReplayOptions& o, const std::atomic<bool>& stop, ReplaySink* sink,
           LateSamples* late, uint64_t anchor)
      : o_(o),
        stop_(stop),
        sink_(sink),
        late_(late),
        pacer_(o.speed, o.max_gap_ns, anchor, o.spin_ns) {}

  // Waits until `r` is due and hands it over; *stopped when stop() came
  // meanwhile (then `r` was not sent).
  Status send(const RecordView& r, bool* stopped) {
    uint64_t due = 0;
    if (!o_.max) {
      due = pacer_.due(r.ts_ns());
      if (pacer_.must_wait(due)) {
        if (Status s = flush(); !s) return s;
        if (!pacer_.wait_until(due, stop_)) {
          *stopped = true;
          return Status::ok();
        }
      }
    }
    if (Status s = sink_->send(r, due); !s) return s;
    ++held_;
    if (!o_.max) {
      unsent_.push_back(due);
      // On time: out now. Behind: batch until caught up (or 64 held).
      if (replay::late_ns(due) < kBehindNs || unsent_.size() >= kMaxUnsent) return flush();
    }
    return Status::ok();
  }
  Status flush() {
    Status s = sink_->flush();
    for (uint64_t due : unsent_) late_->add(replay::late_ns(due));
    unsent_.clear();
    held_ = 0;
    return s;
  }
  // Records handed over since the last flush.
  size_t held() const { return held_; }

 private:
  const ReplayOptions& o_;
  const std::atomic<bool>& stop_;
  ReplaySink* sink_;
  LateSamples* late_;
  replay::Pacer pacer_;
  std::vector<uint64_t> unsent_;
  size_t held_ = 0;
};

}  // namespace

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
  if (!remote.empty()) return one_remote_loop(sink, anchor, late);
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
  Dispatch out(options, stop, sink, late, anchor);
  while (!heads.empty() && !stop.load(std::memory_order_relaxed)) {
    const size_t i = heads.top();
    heads.pop();
    const RecordView& r = (*lanes)[i].head;
    bool stopped = false;
    if (Status s = out.send(r, &stopped); !s) return s;
    if (stopped) break;
    count(r);
    // The sink copied the view (three pointers into the mapping, which lives
    // with the reader); the lane moves on to its next record.
    if (Status s = advance(i); !s) return s;
  }
  return out.flush();
}

bool Replayer::Impl::empty_range() const {
  return options.to_seq < std::max<uint64_t>(options.from_seq, 1) ||
         options.to_ts_ns < options.from_ts_ns;
}

Result<std::unique_ptr<Subscriber>> Replayer::Impl::subscribe() {
  SubscribeOptions o;
  if (empty_range()) {
    // Only the header (the stream table): a range past any store's end.
    // to_seq 0 would mean "no end" on the wire.
    o.from_seq = UINT64_MAX - 1;
    o.reconnect = false;
    return Subscriber::connect(remote, o);
  }
  o.from_seq = options.from_seq > 1 ? options.from_seq : 0;
  o.to_seq = options.to_seq == UINT64_MAX ? 0 : options.to_seq;
  o.from_ts_ns = o.from_seq == 0 ? options.from_ts_ns : 0;
  o.to_ts_ns = options.to_ts_ns == UINT64_MAX ? 0 : options.to_ts_ns;
  o.streams = options.streams;
  o.reconnect = false;  // a range: a broken connection is an error
  return Subscriber::connect(remote, o);
}

// From a remote store the records come in seq order (the order they were
// stored), each paced by its ts_ns. Their bytes are copies (a Subscriber's
// views last only until its next read), kept until the sink has flushed
// them: every 64 records flat out.
Status Replayer::Impl::one_remote_loop(ReplaySink* sink, uint64_t anchor, LateSamples* late) {
  if (empty_range()) return Status::ok();
  std::unique_ptr<Subscriber> sub = std::move(first);
  if (!sub) {
    auto again = subscribe();
    if (!again) return again.status();
    sub = std::move(*again);
  }
  if (anchor == 0) {
    anchor = replay::mono_ns();
  } else if (!replay::Pacer(1, 0, anchor, options.spin_ns).wait_until(anchor, stop)) {
    return Status::ok();
  }
  Dispatch out(options, stop, sink, late, anchor);
  RecordView v;
  while (!stop.load(std::memory_order_relaxed)) {
    // A bounded wait, so stop() is seen while the server is quiet.
    if (!sub->next(&v, std::chrono::milliseconds(100))) {
      if (sub->done() || !sub->status()) break;
      continue;
    }
    if (v.ts_ns() < options.from_ts_ns || v.ts_ns() > options.to_ts_ns) continue;
    auto copy = std::make_unique<std::byte[]>(v.frame().size());
    std::memcpy(copy.get(), v.frame().data(), v.frame().size());
    const RecordView r = v.rebased(copy.get());
    held.push_back(std::move(copy));
    bool stopped = false;
    if (Status s = out.send(r, &stopped); !s) return s;
    if (stopped) break;
    count(r);
    if (out.held() == 0 || out.held() >= kMaxUnsent) {
      if (Status s = out.flush(); !s) return s;
      held.clear();
    }
  }
  Status flushed = out.flush();  // what arrived before an error still goes out
  if (flushed) held.clear();
  if (!sub->status()) return sub->status();
  return flushed;
}

Replayer::Replayer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Replayer::~Replayer() = default;

Result<std::unique_ptr<Replayer>> Replayer::open(const std::string& dir,
                                                 const ReplayOptions& options) {
  if (!options.max && !(options.speed > 0)) {
    return Status::invalid_argument("speed must be more than 0");
  }
  if (dir.rfind("tcp://", 0) == 0) {
    auto impl = std::make_unique<Impl>();
    impl->options = options;
    impl->remote = dir.substr(6);
    auto sub = impl->subscribe();  // the server judges the range and the streams
    if (!sub) return sub.status();
    impl->names = (*sub)->stream_names();
    impl->first = std::move(*sub);
    return std::unique_ptr<Replayer>(new Replayer(std::move(impl)));
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
    for (const auto& s : *all) impl->names[s.id] = s.name;
  } else {
    for (const auto& name : options.streams) {
      if (std::find(impl->streams.begin(), impl->streams.end(), name) != impl->streams.end()) {
        continue;  // named twice: replayed once
      }
      auto id = impl->reader->stream_id(name);
      if (!id) return id.status();
      if (!*id) return Status::not_found(dir + ": no stream '" + name + "'");
      impl->streams.push_back(name);
      impl->names[**id] = name;
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

const std::map<uint32_t, std::string>& Replayer::stream_names() const {
  return impl_->names;
}

ReplayStats Replayer::stats() const {
  return impl_->stats;
}

uint64_t Replayer::progress() const {
  return impl_->sent.load(std::memory_order_relaxed);
}

}  // namespace reel
