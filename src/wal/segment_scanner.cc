#include "wal/segment_scanner.h"

#include <algorithm>
#include <cstring>

#include "util/coding.h"

namespace reel::wal {

std::string ScanFault::message() const {
  return segment_name + ": " + what + " at offset " + std::to_string(offset) + " (seq " +
         std::to_string(expected_seq) + ")";
}

SegmentScanner::SegmentScanner(std::span<const uint8_t> segment, const SegmentHeader& header,
                               std::string name, uint64_t start_offset, uint64_t expected_seq,
                               ScanMode mode, BodyCheck check)
    : segment_(segment),
      header_(header),
      name_(std::move(name)),
      offset_(start_offset),
      expected_seq_(expected_seq),
      mode_(mode),
      check_(check) {}

uint64_t SegmentScanner::find_next_valid(uint64_t from) {
  const uint8_t* base = segment_.data();
  const uint64_t size = segment_.size();
  from = align_up8(from);
  last_nonzero_end_ = 0;
  for (uint64_t pos = from; pos + 8 <= size; pos += 8) {
    uint64_t word;
    std::memcpy(&word, base + pos, 8);
    if (word == 0) continue;
    last_nonzero_end_ = pos + 8;
    // Cheap header checks first, so that garbage costs no checksum work.
    if (pos + kFrameHeaderBytes > size) continue;
    const uint32_t body = decode_fixed32(base + pos);
    if (body == 0 || body > kMaxFrameBodyBytes) continue;
    if (decode_fixed32(base + pos + kFrameSegmentNoOffset) != header_.segment_no) continue;
    const uint64_t seq = decode_fixed64(base + pos + kFrameSeqOffset);
    if (seq < expected_seq_) continue;
    DecodedFrame frame;
    if (decode_frame(segment_.subspan(pos), header_.segment_no, &frame) == FrameStatus::kOk) {
      return pos;
    }
  }
  // A file cut at a length that is not a multiple of 8 ends in a partial word.
  for (uint64_t pos = std::max(from, size & ~uint64_t{7}); pos < size; ++pos) {
    if (base[pos] != 0) last_nonzero_end_ = size;
  }
  return 0;
}

void SegmentScanner::set_fault(uint64_t offset, std::string what) {
  fault_.segment_name = name_;
  fault_.offset = offset;
  fault_.expected_seq = expected_seq_;
  fault_.what = std::move(what);
}

SegmentScanner::Step SegmentScanner::fault_at(uint64_t offset, std::string what) {
  set_fault(offset, std::move(what));
  if (mode_ == ScanMode::kFast) {
    // Live readers do not search ahead; they classify the stop themselves
    // against the writer's watermark.
    torn_end_ = offset;
    return Step::kTornTail;
  }
  const uint64_t next_valid = find_next_valid(offset + 8);
  if (next_valid != 0) {
    resume_at_ = next_valid;
    return Step::kCorruption;
  }
  torn_end_ = last_nonzero_end_ > offset ? last_nonzero_end_ : offset;
  return Step::kTornTail;
}

FrameStatus SegmentScanner::decode_at(uint64_t offset, DecodedFrame* frame) {
  bool verified = false;
  if (mode_ == ScanMode::kFast && check_ != BodyCheck::kVerifyLeaveChecksum) {
    if (checked_next_ >= checked_count_ || checked_[checked_next_] != offset) {
      checked_count_ = frames_checked_ahead(segment_, offset, checked_, kCheckedAhead);
      checked_next_ = 0;
    }
    if (checked_next_ < checked_count_ && checked_[checked_next_] == offset) {
      verified = true;
      ++checked_next_;
    }
  }
  return decode_frame(segment_.subspan(offset), header_.segment_no, frame, check_, verified);
}

SegmentScanner::Step SegmentScanner::next(DecodedFrame* frame) {
  if (resume_at_ != 0) {
    // Continue after a corruption at the next valid frame; its seq becomes
    // the expected one (the gap was reported with the fault).
    offset_ = resume_at_;
    expected_seq_ = decode_fixed64(segment_.data() + offset_ + kFrameSeqOffset);
    resume_at_ = 0;
  }
  if (offset_ >= segment_.size()) return Step::kEnd;
  FrameStatus st = decode_at(offset_, frame);
  while (st == FrameStatus::kPadding) {  // where the ingest ring wrapped: no record
    offset_ += frame->frame_bytes;
    if (offset_ >= segment_.size()) return Step::kEnd;
    st = decode_at(offset_, frame);
  }
  if (st == FrameStatus::kOk) {
    if (frame->seq != expected_seq_) {
      return fault_at(offset_, "seq " + std::to_string(frame->seq) + " where " +
                                   std::to_string(expected_seq_) + " was expected");
    }
    frame_offset_ = offset_;
    offset_ += frame->frame_bytes;
    ++expected_seq_;
    return Step::kFrame;
  }
  if (st == FrameStatus::kEndOfData) {
    if (mode_ != ScanMode::kFull) return Step::kEnd;
    const uint64_t next_valid = find_next_valid(offset_);
    if (next_valid == 0 && last_nonzero_end_ == 0) return Step::kEnd;
    if (next_valid != 0) {
      set_fault(offset_, "zeroed bytes before valid frames");
      resume_at_ = next_valid;
      return Step::kCorruption;
    }
    set_fault(offset_, "garbage after the last frame");
    torn_end_ = last_nonzero_end_;
    return Step::kTornTail;
  }
  return fault_at(offset_, frame_status_name(st));
}

}  // namespace reel::wal
