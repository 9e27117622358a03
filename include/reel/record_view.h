// RecordView: one stored record, read in place from the mapped segment.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "reel/record_generated.h"

namespace reel {

// A view of one record inside a read-only mapping of a WAL segment. Nothing
// is copied: every accessor points into the mapping.
//
// Ownership and lifetime (as LMDB's mdb_get): the bytes belong to whatever
// filled the view, never to the view, and how long they stay valid depends
// on that source:
//   Reader (get, cursors)   while the Reader lives (its mappings stay).
//   Tailer::next            while the Tailer lives.
//   Subscriber::next        until the next call to next() on that Subscriber
//                           (the bytes are in its receive buffer), or its
//                           destruction.
//   Replayer, to a sink     from a local store: until run() returns; from a
//                           tcp:// store: until the sink's next flush()
//                           returns (ReplaySink in replayer.h).
// Copy the frame (frame()) and use rebased() to keep a record longer. Bytes
// from a mapping are PROT_READ: writing through them is forbidden (and
// faults).
// Thread safety: a view is immutable and may be read from any thread while
// its bytes are valid.
class RecordView {
 public:
  RecordView() = default;
  RecordView(const uint8_t* frame, size_t frame_bytes, const fb::Record* record)
      : frame_(frame), frame_bytes_(frame_bytes), record_(record) {}

  uint64_t seq() const { return record_->seq(); }
  uint64_t ts_ns() const { return record_->ts_ns(); }
  uint32_t stream() const { return record_->stream(); }
  uint64_t source_seq() const { return record_->source_seq(); }
  std::string_view key() const { return bytes_of(record_->key()); }
  std::string_view payload() const { return bytes_of(record_->payload()); }
  // The generated FlatBuffers accessors, for everything else.
  const fb::Record* record() const { return record_; }
  // The frame exactly as stored (header, FlatBuffer, padding): what replay
  // sends on the wire, byte for byte.
  std::span<const std::byte> frame() const {
    return {reinterpret_cast<const std::byte*>(frame_), frame_bytes_};
  }
  bool valid() const { return record_ != nullptr; }
  // The same record read from a copy of its frame at `frame` (frame().size()
  // bytes, as aligned as malloc's): for keeping a record past its view's
  // lifetime.
  RecordView rebased(const std::byte* frame) const {
    const auto* f = reinterpret_cast<const uint8_t*>(frame);
    return RecordView(f, frame_bytes_,
                      reinterpret_cast<const fb::Record*>(
                          f + (reinterpret_cast<const uint8_t*>(record_) - frame_)));
  }

 private:
  static std::string_view bytes_of(const flatbuffers::Vector<uint8_t>* v) {
    if (v == nullptr) return {};
    return {reinterpret_cast<const char*>(v->data()), v->size()};
  }
  const uint8_t* frame_ = nullptr;
  size_t frame_bytes_ = 0;
  const fb::Record* record_ = nullptr;
};

}  // namespace reel
