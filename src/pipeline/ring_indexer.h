// RingIndexer: the consumer behind the journaller. It indexes the frames the
// journaller has released (written), one LMDB write transaction per run, and
// releases the ring space to the next consumer.
//
// Positions are WAL positions: a frame at position p sits at offset p % S of
// segment p / S, whose first seq the journaller reports through
// note_segment() before it releases any of that segment's frames.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>

#include "index/index.h"
#include "index/index_feeder.h"
#include "pipeline/frame_ring.h"

namespace reel::pipeline {

class RingIndexer {
 public:
  struct Options {
    uint64_t segment_bytes = 0;
    size_t consumer = 1;  // this stage's place in the ring's chain
    size_t max_batch_bytes = 4 << 20;
  };

  // `ring` and `index` are borrowed.
  RingIndexer(FrameRing* ring, index::Index* index, const Options& options,
              uint64_t start_position);

  // Segment `segment_index` starts with `first_seq`. Thread-safe; called by
  // the journaller (once per segment, so the lock is not per record).
  void note_segment(uint64_t segment_index, uint64_t first_seq);

  // The frame at `offset` of the segment starting at `first_seq` is already
  // indexed (a store resumed after recovery): position entries continue
  // from there, exactly as a rebuild would place them.
  void resume_after(uint64_t first_seq, uint64_t offset) {
    feeder_.resume_after(first_seq, offset);
  }

  // Indexes one run of released frames if there is one. Returns true when it
  // did work; on failure, status() says why and nothing more is released.
  bool step();
  const Status& status() const { return status_; }
  uint64_t indexed_seq() const { return indexed_seq_; }
  uint64_t position() const { return position_; }

 private:
  uint64_t segment_first_seq(uint64_t segment_index);

  FrameRing* ring_;
  index::Index* index_;
  Options options_;
  uint64_t position_;
  uint64_t indexed_seq_ = 0;
  Status status_;
  index::IndexBatch batch_;
  index::IndexFeeder feeder_;
  std::mutex segments_mu_;
  std::map<uint64_t, uint64_t> segment_first_seqs_;  // guarded by segments_mu_
  uint64_t cached_segment_ = UINT64_MAX, cached_first_seq_ = 0;
};

}  // namespace reel::pipeline
