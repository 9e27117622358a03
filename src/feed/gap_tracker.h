// GapTracker: one stream's feed sequence, record by record. A source seq
// past the expected one is a gap (the numbers skipped were never received);
// one before it is a duplicate (a retransmission, stored like any record and
// counted, never dropped). The first record sets the expectation, and so
// does the first record of a new session (MoldUDP64 numbers restart with
// each session: a new session is counted, not taken for duplicates).
//
// One per stream; not thread-safe.
#pragma once

#include <cstdint>
#include <optional>

#include "feed/source_seq.h"

namespace reel::feed {

struct Gap {
  uint64_t first_missing = 0;  // source seqs [first_missing, last_missing] never arrived
  uint64_t last_missing = 0;
  uint64_t seq = 0;    // the store seq of the record that revealed the gap
  uint64_t ts_ns = 0;  // and its ts
  uint64_t missing() const { return last_missing - first_missing + 1; }
};

class GapTracker {
 public:
  // Observes one record's source seq; returns the gap it reveals, if any.
  std::optional<Gap> observe(const SourceSeq& s, uint64_t seq, uint64_t ts_ns);

  uint64_t records() const { return records_; }
  uint64_t gaps() const { return gaps_; }
  uint64_t missing() const { return missing_; }
  uint64_t duplicates() const { return duplicates_; }
  uint64_t sessions() const { return sessions_; }
  // The source seq expected next (0 before the first record).
  uint64_t expected() const { return expected_; }

 private:
  bool started_ = false;
  uint64_t expected_ = 0;
  uint64_t session_ = 0;
  uint64_t records_ = 0, gaps_ = 0, missing_ = 0, duplicates_ = 0, sessions_ = 0;
};

}  // namespace reel::feed
