// PcapMerge: the packets of several pcap or pcapng files (libpcap), in
// capture-time order, for `reel import`.
//
// Times are read at nanosecond precision whatever the file's own
// (microsecond files give multiples of 1000). Each file is read as a stream,
// one packet held per file, so memory does not grow with file size. Ties
// in time go to the file given first; a file whose own times go backwards
// keeps its order (only the heads of the files are compared).
//
// A BPF --filter is compiled per file (for its link type) and applied with
// pcap_offline_filter, so rejected packets are counted. A file whose last
// packet is cut (a capture killed mid-write) ends there with a warning in
// warnings(); any other read error fails next() naming the file and the
// packet number.
//
// One thread uses a PcapMerge.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "reel/status.h"

namespace reel::capture {

struct Packet {
  size_t file = 0;      // index in the files given
  uint64_t number = 0;  // in its file, from 1
  uint64_t ts_ns = 0;
  uint32_t wire_len = 0;
  int linktype = 0;
  std::span<const uint8_t> bytes;  // valid until the next call to next()
};

class PcapMerge {
 public:
  static Result<std::unique_ptr<PcapMerge>> open(const std::vector<std::string>& files,
                                                 const std::string& filter);
  ~PcapMerge();
  PcapMerge(const PcapMerge&) = delete;
  PcapMerge& operator=(const PcapMerge&) = delete;

  // The next packet the filter accepts: true, or false at the end of every
  // file.
  Result<bool> next(Packet* p);

  uint64_t filtered() const;     // packets the filter rejected
  uint64_t bytes_read() const;   // of all files, for progress
  uint64_t total_bytes() const;  // sizes of all files
  int linktype(size_t file) const;
  const std::vector<std::string>& warnings() const;

  struct Impl;

 private:
  explicit PcapMerge(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace reel::capture
