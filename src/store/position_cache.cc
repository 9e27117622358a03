#include "store/position_cache.h"

#include <algorithm>

namespace reel::store {

// Entries are spread about evenly over seqs (one per block of WAL), so a
// guess by interpolation lands on or next to the answer: one cache miss
// instead of a binary search's twenty. The walk from the guess is exact.
int64_t PositionCache::search(const std::vector<Entry>& entries, uint64_t seq) {
  if (entries.empty() || seq < entries.front().seq) return -1;
  const size_t n = entries.size();
  const uint64_t first = entries.front().seq, last = entries.back().seq;
  if (seq >= last) return static_cast<int64_t>(n - 1);
  size_t i = static_cast<size_t>(static_cast<double>(seq - first) /
                                 static_cast<double>(last - first) * static_cast<double>(n - 1));
  i = std::min(i, n - 1);
  // Gallop towards the answer, then finish with a binary search.
  size_t lo = i, hi = i, step = 1;
  if (entries[i].seq <= seq) {
    while (hi + step < n && entries[hi + step].seq <= seq) {
      hi += step;
      step *= 2;
    }
    lo = hi;
    hi = std::min(n, hi + step);
  } else {
    while (lo >= step && entries[lo - step].seq > seq) {
      lo -= step;
      step *= 2;
    }
    hi = lo;
    lo = lo >= step ? lo - step : 0;
  }
  auto it = std::upper_bound(entries.begin() + static_cast<int64_t>(lo),
                             entries.begin() + static_cast<int64_t>(hi), seq,
                             [](uint64_t s, const Entry& e) { return s < e.seq; });
  return static_cast<int64_t>(it - entries.begin()) - 1;
}

Status PositionCache::extend(const index::Index& index, uint64_t segment_first,
                             uint64_t segment_end, Segment* seg) {
  auto snap = index.snapshot();
  if (!snap) return snap.status();
  auto indexed = (*snap)->indexed_seq();
  if (!indexed) return indexed.status();
  const uint64_t last = std::min(*indexed, segment_end - 1);
  const uint64_t from = std::max(seg->loaded_through + 1, segment_first);
  if (last < from) return Status::ok();
  Status s = (*snap)->for_each_position_from(from, [&](const index::SeqPosition& pos) {
    if (pos.seq > last) return false;
    if (pos.segment_first_seq != segment_first) {
      seg->later_first = std::min(seg->later_first, pos.segment_first_seq);
      return false;  // the rest belongs to later segments
    }
    seg->entries.push_back({pos.seq, pos.offset});
    return true;
  });
  if (s) seg->loaded_through = last;
  return s;
}

uint64_t PositionCache::estimate(uint64_t segment_first, uint64_t seq) const {
  if (last_ == nullptr || last_first_ != segment_first) return 0;
  const uint64_t per_record = last_->bytes_per_record();
  if (per_record == 0 || seq < last_->entries.front().seq || seq > last_->entries.back().seq) {
    return 0;
  }
  return last_->entries.front().offset + (seq - last_->entries.front().seq) * per_record;
}

Result<PositionCache::Floor> PositionCache::floor(const index::Index& index, uint64_t segment_first,
                                                  uint64_t segment_end, uint64_t seq) {
  // Gets mostly stay in one segment: skip the map lookup then.
  if (last_ == nullptr || last_first_ != segment_first) {
    last_ = &segments_[segment_first];  // std::map nodes never move
    last_first_ = segment_first;
  }
  Segment& seg = *last_;
  if (seq > seg.loaded_through && seg.loaded_through + 1 < segment_end) {
    Status s = extend(index, segment_first, segment_end, &seg);
    if (!s) return s;
  }
  Floor out;
  out.later_segment = seq >= seg.later_first;
  out.bytes_per_record = seg.bytes_per_record();
  if (const int64_t i = search(seg.entries, seq); i >= 0) {
    const Entry& e = seg.entries[static_cast<size_t>(i)];
    out.position = index::SeqPosition{e.seq, segment_first, e.offset};
  }
  return out;
}

}  // namespace reel::store
