// SegmentSet: the segments of a store, listed from wal/ and mapped read-only
// on first use. Readers, recovery and verify read segments only through it.
//
// Mappings are PROT_READ, MAP_SHARED, of the whole preallocated file, so
// frames appended later by the writer become visible through an existing
// mapping. Nothing is ever written through them.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "reel/status.h"
#include "wal/segment_file.h"

namespace reel::store {

struct MappedSegment {
  std::string name;  // "wal/00000000000000000001.seg", for messages
  std::string path;
  wal::SegmentHeader header;
  std::span<const uint8_t> bytes;  // the whole file, header included
  ~MappedSegment();
};

class SegmentSet {
 public:
  explicit SegmentSet(std::string wal_dir) : wal_dir_(std::move(wal_dir)) {}

  // Re-lists wal/. Existing mappings stay valid (segments are never deleted
  // while a store is open).
  Status refresh();

  size_t size() const { return first_seqs_.size(); }
  uint64_t first_seq(size_t i) const { return first_seqs_[i]; }
  std::string name(size_t i) const;
  std::string path(size_t i) const;

  // Maps segment i (once) and checks its header. The mapping lives as long
  // as this SegmentSet.
  Result<const MappedSegment*> map(size_t i);

  // Whether segment i's header region holds nothing yet (zeros, or a file
  // shorter than a header): a creation that never finished, not damage.
  bool header_incomplete(size_t i) const;

  // One past the last byte of segment i that the file system holds as data
  // (SEEK_DATA/SEEK_HOLE): preallocated space never written reads as zeros
  // and need not be searched. The file's size where holes cannot be told
  // apart; UINT64_MAX (search everything) if it cannot be measured.
  uint64_t data_end(size_t i) const;

  // The segment that would hold `seq`: the last one whose first_seq <= seq.
  std::optional<size_t> find(uint64_t seq) const;

 private:
  std::string wal_dir_;
  std::vector<uint64_t> first_seqs_;
  std::vector<std::unique_ptr<MappedSegment>> mapped_;
};

}  // namespace reel::store
