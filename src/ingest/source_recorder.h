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
#include <functional>
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
  uint64_t rejected = 0;      // not stored: the store refused this record (record_refused())
  uint64_t kernel_drops = 0;  // UDP: dropped by the kernel, socket buffer full
  feed::GapTracker gaps;
  bool rule_noted = false;  // the stream's rule is in STORE/seq_rules (SourceRecorder)
};

// Whether an error of record() is the record's own (the store refused that
// record: too large for its ring, a bad name; counted in
// SourceCounts::rejected) rather than the store's (it stopped).
bool record_refused(const Status& s);

class SourceRecorder {
 public:
  // `keep_waiting`, when set, is asked while the store is stalled (its disk
  // is full, or it is out of file descriptors, and its ring is full): true
  // waits and tries the record again, false returns the stall's kNoSpace.
  // Unset, the stall is returned at once.
  explicit SourceRecorder(Store* store, std::function<bool()> keep_waiting = nullptr)
      : store_(store), keep_waiting_(std::move(keep_waiting)) {}

  // Appends `payload` to `stream` at `ts_ns` (0: now), its source seq read
  // by `rule`: kept as the record's source_seq and tracked for gaps in
  // *counts. Returns the record's seq. An error is the record's own
  // (record_refused(): counted, the source goes on) or the store's. Failing
  // to note the rule loses nothing: it is logged, and `reel gaps --seq`
  // still reads the numbers.
  Result<uint64_t> record(const std::string& stream, const feed::SeqSpec& rule,
                          std::span<const uint8_t> payload, uint64_t ts_ns, SourceCounts* counts);

 private:
  void note_rule(const std::string& stream, const feed::SeqSpec& rule);
  Result<uint64_t> append(const std::string& stream, std::span<const uint8_t> payload,
                          const AppendOptions& ao);

  Store* store_;
  std::function<bool()> keep_waiting_;
  bool loaded_ = false;
  SeqRules rules_;  // STORE/seq_rules as this recorder last read or wrote it
};

}  // namespace reel::ingest
