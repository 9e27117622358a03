// Importer: captured packets into a store, one at a time, for `reel import`
// and its benchmark. Picks each packet's payload by the layer and its stream
// (one, or one per destination), counts what it skipped, and records the
// rest as `reel serve` records a received packet (ingest::SourceRecorder:
// source seq, gaps, duplicates, the stream's rule kept for `reel gaps`).
//
// One thread uses an Importer; the Store must outlive it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>

#include "capture/packet_parser.h"
#include "capture/pcap_merge.h"
#include "feed/source_seq.h"
#include "ingest/source_recorder.h"
#include "reel/store.h"

namespace reel::capture {

struct ImportOptions {
  Layer layer = Layer::kUdp;
  std::string stream = "import";  // the one stream, unless by_dst
  bool by_dst = false;            // "239.1.1.1:5000", "[ff02::1]:5000", "10.0.0.1", "non-ip"
  feed::SeqSpec seq;
  uint64_t max_record = 256 << 10;  // larger payloads are skipped and counted
};

// One imported stream's records, bytes, gaps (ingest/source_recorder.h).
using StreamCounts = ingest::SourceCounts;

struct ImportCounts {
  uint64_t packets = 0, imported = 0, oversize = 0;
  std::map<Skip, uint64_t> skipped;
  std::map<std::string, StreamCounts> streams;  // by name
};

class Importer {
 public:
  Importer(Store* store, ImportOptions options) : recorder_(store), options_(std::move(options)) {}

  // Stores the packet (or counts why not); an error is the store's.
  Status take(const Packet& packet);
  const ImportCounts& counts() const { return counts_; }

 private:
  // The stream of a parsed packet and its counts (cached by destination).
  std::pair<const std::string*, StreamCounts*> stream_of(const Parsed& p);

  ingest::SourceRecorder recorder_;  // the path every recorded packet takes
  ImportOptions options_;
  ImportCounts counts_;
  // by_dst: destination bytes + port -> the stream's entry in counts_.
  std::unordered_map<std::string, std::map<std::string, StreamCounts>::iterator> by_dst_;
  // Otherwise the one stream's entry (map iterators stay valid).
  std::optional<std::map<std::string, StreamCounts>::iterator> single_;
};

// The stream name --stream-by dst gives a parsed packet.
std::string dst_stream_name(const Parsed& p);

}  // namespace reel::capture
