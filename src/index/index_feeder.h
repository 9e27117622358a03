// IndexFeeder turns frames, in seq order, into IndexBatch entries. The live
// writer and recovery/reindex use the same feeder, so a rebuilt index is
// identical to the one written live.
#pragma once

#include <cstdint>

#include "index/index.h"
#include "reel/record_generated.h"

namespace reel::index {

class IndexFeeder {
 public:
  // Adds the record stored at `offset` of the segment starting at
  // `segment_first_seq`. A position entry is added for the first frame of a
  // segment and for the first frame starting in each new 4 KiB block.
  void add(const reel::fb::Record& record, uint64_t segment_first_seq, uint64_t offset,
           IndexBatch* batch) {
    const uint64_t block = offset / kPositionBlockBytes;
    if (segment_first_seq != segment_ || block != block_) {
      batch->add_position({record.seq(), segment_first_seq, offset});
      segment_ = segment_first_seq;
      block_ = block;
    }
    const auto* key = record.key();
    std::string_view key_view;
    if (key != nullptr) key_view = {reinterpret_cast<const char*>(key->data()), key->size()};
    if (const auto* name = record.stream_name(); name != nullptr && name->size() > 0) {
      batch->declare_stream(record.stream(), name->string_view());
    }
    batch->add(record.seq(), record.ts_ns(), record.stream(), key_view);
  }

  // Continue after a frame already indexed at `offset` of that segment.
  void resume_after(uint64_t segment_first_seq, uint64_t offset) {
    segment_ = segment_first_seq;
    block_ = offset / kPositionBlockBytes;
  }

 private:
  uint64_t segment_ = UINT64_MAX;
  uint64_t block_ = 0;
};

}  // namespace reel::index
