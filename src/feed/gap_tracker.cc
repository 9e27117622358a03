#include "feed/gap_tracker.h"

#include <algorithm>

namespace reel::feed {

std::optional<Gap> GapTracker::observe(const SourceSeq& s, uint64_t seq, uint64_t ts_ns) {
  ++records_;
  const bool first = !started_ || s.session != session_;
  if (first) ++sessions_;
  started_ = true;
  session_ = s.session;
  std::optional<Gap> gap;
  if (!first && s.seq > expected_) {
    gap = Gap{expected_, s.seq - 1, seq, ts_ns};
    ++gaps_;
    missing_ += gap->missing();
  } else if (!first && s.seq < expected_) {
    ++duplicates_;  // a retransmission, possibly carrying some new numbers too
  }
  expected_ = first ? s.next : std::max(expected_, s.next);
  return gap;
}

}  // namespace reel::feed
