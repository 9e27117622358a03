// UdpSource: the --udp and --mcast endpoints of `reel serve` as an
// IngestSource: one datagram, one record, at the kernel's receive time. A
// datagram over the record limit is counted (SourceCounts::truncated) and
// not stored: it is not what was sent.
#pragma once

#include <memory>
#include <vector>

#include "ingest/ingest_source.h"
#include "net/udp_receiver.h"

namespace reel::ingest {

class UdpSource final : public IngestSource {
 public:
  static Result<std::unique_ptr<UdpSource>> open(std::vector<feed::Endpoint> endpoints,
                                                 size_t max_record, WarningFn warn);

  Result<size_t> poll(std::chrono::milliseconds wait, SourceRecorder& recorder) override;
  void stop() override;
  const std::vector<feed::Endpoint>& endpoints() const override { return endpoints_; }
  const std::vector<SourceCounts>& counts() const override { return counts_; }
  // The receiver while it runs (null after stop()).
  const net::UdpReceiver* receiver() const { return rx_.get(); }

 private:
  std::vector<feed::Endpoint> endpoints_;
  std::vector<SourceCounts> counts_;
  std::unique_ptr<net::UdpReceiver> rx_;
  WarningFn warn_;
};

}  // namespace reel::ingest
