// SourceRecorder: the one path from a feed's packet to a stored record,
// shared by the network ingest (reel serve) and the capture importer
// (reel import): the source seq read by the stream's rule, the append at
// the packet's time, gap tracking and counts, and the rule noted in
// STORE/seq_rules (ingest/seq_rules.h) the first time a stream is seen
// with it, so that `reel gaps` reads the feed's numbers the same way.
//
// One thread uses a SourceRecorder and the SourceCounts it fills; the Store
// must outlive it.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "feed/gap_tracker.h"
#include "feed/source_seq.h"
#include "ingest/seq_rules.h"
#include "reel/store.h"

namespace reel::ingest {

// What one source (an endpoint, an imported stream) delivered.
struct SourceCounts {
  uint64_t records = 0, bytes = 0;
  uint64_t no_seq = 0;        // stored, but the payload held no source seq by the rule
  uint64_t truncated = 0;     // not stored: over the record limit (counted by the source)
  uint64_t kernel_drops = 0;  // UDP: dropped by the kernel, socket buffer full
  feed::GapTracker gaps;
  bool rule_noted = false;  // the stream's rule is in STORE/seq_rules (SourceRecorder)
};

class SourceRecorder {
 public:
  explicit SourceRecorder(Store* store) : store_(store) {}

  // Appends `payload` to `stream` at `ts_ns` (0: now), its source seq read
  // by `rule`: kept as the record's source_seq and tracked for gaps in
  // *counts. Returns the record's seq; an error is the store's. Failing to
  // note the rule loses nothing: it is logged, and `reel gaps --seq` still
  // reads the numbers.
  Result<uint64_t> record(const std::string& stream, const feed::SeqSpec& rule,
                          std::span<const uint8_t> payload, uint64_t ts_ns, SourceCounts* counts);

 private:
  void note_rule(const std::string& stream, const feed::SeqSpec& rule);

  Store* store_;
  bool loaded_ = false;
  SeqRules rules_;  // STORE/seq_rules as this recorder last read or wrote it
};

}  // namespace reel::ingest
