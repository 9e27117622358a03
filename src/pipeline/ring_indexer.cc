#include "pipeline/ring_indexer.h"

#include "wal/frame_format.h"

namespace reel::pipeline {

RingIndexer::RingIndexer(FrameRing* ring, index::Index* index, const Options& options,
                         uint64_t start_position)
    : ring_(ring), index_(index), options_(options), position_(start_position) {}

void RingIndexer::note_segment(uint64_t segment_index, uint64_t first_seq) {
  std::lock_guard<std::mutex> guard(segments_mu_);
  segment_first_seqs_[segment_index] = first_seq;
}

uint64_t RingIndexer::segment_first_seq(uint64_t segment_index) {
  if (segment_index != cached_segment_) {
    std::lock_guard<std::mutex> guard(segments_mu_);
    auto it = segment_first_seqs_.find(segment_index);
    cached_first_seq_ = it == segment_first_seqs_.end() ? 0 : it->second;
    cached_segment_ = segment_index;
    // Older segments are no longer needed.
    segment_first_seqs_.erase(segment_first_seqs_.begin(), segment_first_seqs_.find(segment_index));
  }
  return cached_first_seq_;
}

bool RingIndexer::step() {
  if (!status_.is_ok()) return false;
  const uint64_t available = ring_->upstream_end(options_.consumer);
  if (available == position_) return false;
  // One run: up to the batch limit, ending at a record boundary.
  uint64_t p = position_;
  while (p < available && p - position_ < options_.max_batch_bytes) {
    const uint32_t w = ring_->length_word(p);
    if (!FrameRingTraits::is_padding(w)) {
      const auto* record = reel::fb::GetRecord(ring_->at(p) + wal::kFrameBodyOffset);
      const uint64_t segment = p / options_.segment_bytes;
      const uint64_t first_seq = segment_first_seq(segment);
      if (first_seq == 0) {
        status_ = Status::invalid_argument("indexer: no first seq known for segment index " +
                                           std::to_string(segment));
        return true;
      }
      feeder_.add(*record, first_seq, p % options_.segment_bytes, &batch_);
    }
    p += FrameRingTraits::record_bytes(w);
  }
  const uint64_t end = p;
  if (!batch_.empty()) {
    status_ = index_->apply(batch_);
    if (!status_.is_ok()) return true;
    indexed_seq_ = batch_.last_seq();
    batch_.clear();
  }
  ring_->release(options_.consumer, end);
  position_ = end;
  return true;
}

}  // namespace reel::pipeline
