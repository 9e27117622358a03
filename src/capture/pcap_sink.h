// PcapSink: a replay destination writing a nanosecond pcap (libpcap) with
// Ethernet/IPv4/UDP headers made around each payload, for `reel replay
// --out pcap:FILE`.
//
// The destination address of a record is its stream's name when that is
// IPv4:PORT (as `reel import --stream-by dst` names streams), else the
// default given (pcap:FILE?dst=IP:PORT); a record with neither is an error
// naming its stream. Source 127.0.0.1:40000; multicast destinations get the
// 01:00:5e MAC they map to. Timestamps: the record's ts_ns when flat out
// (due 0), else the wall clock when it was sent.
//
// One thread uses a sink.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "reel/replayer.h"

namespace reel::capture {

class PcapSink final : public ReplaySink {
 public:
  // `names`: stream id -> name (Reader::streams).
  static Result<std::unique_ptr<PcapSink>> open(const std::string& spec,
                                                std::map<uint32_t, std::string> names);
  ~PcapSink() override;

  Status send(const RecordView& record, uint64_t due_ns) override;
  Status flush() override;

  struct Impl;

 private:
  explicit PcapSink(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace reel::capture
