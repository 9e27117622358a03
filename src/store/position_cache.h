// PositionCache: a Reader's copy of the index's sparse seq -> position
// entries (one per 4 KiB block of WAL), kept per segment, so that finding a
// record costs a binary search in memory instead of an LMDB transaction.
//
// Entries never change once the indexer wrote them (a rebuild writes the
// same positions: they follow from the WAL alone), so a segment's entries
// are loaded once and only extended, from a fresh index snapshot, when a
// seq past what was loaded is asked for and the index has grown. Memory:
// 16 bytes per 4 KiB of WAL, for the segments this Reader has touched.
// One thread at a time (the Reader's).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "index/index.h"
#include "reel/status.h"

namespace reel::store {

class PositionCache {
 public:
  struct Floor {
    std::optional<index::SeqPosition> position;
    // The index knows a later segment that holds `seq`: the caller's list of
    // segments is stale (list again and ask again).
    bool later_segment = false;
    // The segment's average bytes per record so far (0: unknown): how far
    // past the position `seq` probably lies.
    uint64_t bytes_per_record = 0;
  };
  // The last entry with seq <= `seq` in the segment whose first seq is
  // `segment_first` (the next listed segment starts at `segment_end`, or
  // UINT64_MAX when it is the last listed one).
  Result<Floor> floor(const index::Index& index, uint64_t segment_first, uint64_t segment_end,
                      uint64_t seq);

  // Where `seq` probably lies in the segment (by its average record size so
  // far), without searching: 0 when unknown. A hint for prefetching only.
  uint64_t estimate(uint64_t segment_first, uint64_t seq) const;

  struct Entry {
    uint64_t seq;
    uint64_t offset;
  };
  // Index of the last of `entries` (ascending seq) with seq <= `seq`, or -1.
  static int64_t search(const std::vector<Entry>& entries, uint64_t seq);

 private:
  struct Segment {
    std::vector<Entry> entries;         // ascending seq
    uint64_t loaded_through = 0;        // every entry with seq <= this is here
    uint64_t later_first = UINT64_MAX;  // first seq of a later segment the index showed
    // Average bytes per record over the entries so far (0: unknown).
    uint64_t bytes_per_record() const {
      if (entries.size() < 2) return 0;
      return (entries.back().offset - entries.front().offset) /
             (entries.back().seq - entries.front().seq);
    }
  };
  Status extend(const index::Index& index, uint64_t segment_first, uint64_t segment_end,
                Segment* seg);

  std::map<uint64_t, Segment> segments_;  // by first seq
  Segment* last_ = nullptr;               // the segment of the last lookup
  uint64_t last_first_ = 0;
};

}  // namespace reel::store
