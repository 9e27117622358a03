// Reader::by_time over the sparse time index (index/time_index.h): one
// index snapshot gives the place to start, the late records and indexed_seq;
// the WAL gives the in-order records from there and everything after the
// snapshot.
#include <algorithm>

#include "store/reader_impl.h"

namespace reel {
namespace {

struct Hit {
  uint64_t ts;
  uint64_t seq;
  RecordView view;
  bool operator<(const Hit& o) const { return ts != o.ts ? ts < o.ts : seq < o.seq; }
};

// What one index snapshot says about a stream's time range.
struct TimePlan {
  std::optional<uint32_t> id;  // unknown: the stream is not indexed yet
  uint64_t indexed = 0;
  std::optional<index::Snapshot::TimeStart> start;
  uint64_t in_order_end = 0;  // the in-order part ends at this seq at the latest
  std::vector<std::pair<uint64_t, uint64_t>> late;  // (ts, seq)
};

Result<TimePlan> plan_from_index(Reader::Impl* r, std::string_view stream, uint64_t t0,
                                 uint64_t t1) {
  TimePlan plan;
  auto snap = r->snapshot();
  if (!snap) return snap.status();
  if (!*snap) return plan;
  auto id = (*snap)->stream_id(stream);
  auto indexed = (*snap)->indexed_seq();
  if (!id) return id.status();
  if (!indexed) return indexed.status();
  plan.id = *id;
  plan.indexed = *indexed;
  if (!plan.id) return plan;
  auto start = (*snap)->time_start(*plan.id, t0);
  if (!start) return start.status();
  plan.start = *start;
  auto end = (*snap)->time_end(*plan.id, t1);
  if (!end) return end.status();
  plan.in_order_end = std::min(plan.indexed, end->value_or(UINT64_MAX));
  Status s = (*snap)->late_by_time(*plan.id, t0, t1, &plan.late);
  if (!s) return s;
  return plan;
}

// The records of one time query, in (ts, seq) order: the in-order records
// of the plan's stream in [t0, t1], read from the WAL as they are asked for
// (from the plan's start up to the first in-order ts past t1, or to the end
// of what the snapshot indexed), merged with the late and unindexed records
// found up front.
class TimeMerge final : public CursorSource {
 public:
  TimeMerge(Reader::Impl* r, const TimePlan& plan, uint64_t t0, uint64_t t1,
            std::vector<Hit> others)
      : t0_(t0), t1_(t1), others_(std::move(others)) {
    std::sort(others_.begin(), others_.end());
    if (plan.start && plan.start->seq <= plan.indexed) {
      id_ = *plan.id;
      running_max_ = plan.start->running_max_ts;
      have_max_ = plan.start->has_running_max;
      scan_ = std::make_unique<SeqScan>(r, plan.start->seq, plan.in_order_end);
    }
  }

  bool next(RecordView* out, Status* status) override {
    if (!have_pending_ && scan_ && !advance(status)) return false;
    const bool other_first =
        next_other_ < others_.size() &&
        (!have_pending_ || others_[next_other_] < Hit{pending_.ts_ns(), pending_.seq(), {}});
    if (other_first) {
      *out = others_[next_other_++].view;
      return true;
    }
    if (!have_pending_) return false;
    *out = pending_;
    have_pending_ = false;
    return true;
  }

 private:
  // Reads the next in-order hit into pending_; false only on an error.
  bool advance(Status* status) {
    RecordView v;
    while (scan_->next(&v)) {
      if (v.stream() != id_) continue;
      const uint64_t ts = v.ts_ns();
      if (have_max_ && ts < running_max_) continue;  // late: in the late database
      running_max_ = ts;
      have_max_ = true;
      if (ts > t1_) break;  // every later in-order record is later still
      if (ts < t0_) continue;
      pending_ = v;
      have_pending_ = true;
      return true;
    }
    *status = scan_->status();
    scan_.reset();
    return status->is_ok();
  }

  uint64_t t0_, t1_;
  uint32_t id_ = 0;
  uint64_t running_max_ = 0;
  bool have_max_ = false;
  std::unique_ptr<SeqScan> scan_;  // null once the in-order part is done
  RecordView pending_;
  bool have_pending_ = false;
  std::vector<Hit> others_;  // late and unindexed records
  size_t next_other_ = 0;
};

// Records after the snapshot (not indexed yet), matched one by one.
Status unindexed_hits(Reader::Impl* r, TimePlan* plan, std::string_view stream, uint64_t t0,
                      uint64_t t1, std::vector<Hit>* out) {
  return r->scan(plan->indexed + 1, UINT64_MAX, [&](const RecordView& v) {
    if (!plan->id) {
      const auto* declared = v.record()->stream_name();
      if (declared != nullptr && declared->string_view() == stream) plan->id = v.stream();
    }
    if (plan->id && v.stream() == *plan->id && v.ts_ns() >= t0 && v.ts_ns() <= t1) {
      out->push_back({v.ts_ns(), v.seq(), v});
    }
    return true;
  });
}

}  // namespace

Cursor Reader::by_time(std::string_view stream, uint64_t t0_ns, uint64_t t1_ns) {
  auto impl = std::make_unique<Cursor::Impl>();
  impl->reader = impl_.get();
  if (t0_ns > t1_ns) return Cursor(std::move(impl));
  auto plan = plan_from_index(impl_.get(), stream, t0_ns, t1_ns);
  if (!plan) return Cursor::failed(std::move(impl), plan.status());
  std::vector<Hit> others;  // late and unindexed records, any order
  Status s;
  for (size_t i = 0; s && i < plan->late.size(); ++i) {
    auto v = get(plan->late[i].second);
    if (v) {
      others.push_back({plan->late[i].first, plan->late[i].second, *v});
    } else if (v.status().code() != Code::kNotFound) {
      s = v.status();  // kNotFound: an index ahead of an unrecovered WAL; verify says so
    }
  }
  if (s) s = unindexed_hits(impl_.get(), &*plan, stream, t0_ns, t1_ns, &others);
  if (!s) return Cursor::failed(std::move(impl), s);
  impl->source = std::make_unique<TimeMerge>(impl_.get(), *plan, t0_ns, t1_ns, std::move(others));
  return Cursor(std::move(impl));
}

}  // namespace reel
