// TcpSource: the --tcp endpoints of `reel serve` as an IngestSource: many
// connections, each record framed (wire/framing.h), acknowledged at the
// level its producer asked for (wire/ack_protocol.h) once the store's
// watermarks reach it; idle connections closed after `idle_timeout`.
#pragma once

#include <chrono>
#include <memory>
#include <vector>

#include "ingest/ingest_source.h"
#include "net/tcp_receiver.h"

namespace reel::ingest {

class TcpSource final : public IngestSource {
 public:
  static Result<std::unique_ptr<TcpSource>> open(std::vector<feed::Endpoint> endpoints,
                                                 const net::TcpLimits& limits,
                                                 std::chrono::nanoseconds idle_timeout);

  Result<size_t> poll(std::chrono::milliseconds wait, SourceRecorder& recorder) override;
  // Sends the acks the watermarks allow; asks the store for the index now
  // when a connection waits for the indexed level; closes idle connections.
  // The durable level is the sync policy's to reach: however many
  // producers wait for it, they cost no fdatasync beyond the policy's (a
  // store that never syncs refuses durable producers: TcpLimits).
  void after_poll(Store& store) override;
  void final_acks(const Watermarks& w) override {
    if (rx_) rx_->acknowledge(w);
  }
  bool acks_pending() const override;
  bool owes_durable() const override;
  void stop() override { rx_.reset(); }
  const std::vector<feed::Endpoint>& endpoints() const override { return endpoints_; }
  const std::vector<SourceCounts>& counts() const override { return counts_; }
  // The receiver while it runs (null after stop()).
  const net::TcpReceiver* receiver() const { return rx_.get(); }

 private:
  std::vector<feed::Endpoint> endpoints_;
  std::vector<SourceCounts> counts_;
  std::unique_ptr<net::TcpReceiver> rx_;
  std::chrono::nanoseconds idle_timeout_{};
};

}  // namespace reel::ingest
