// IngestView: what a report of a NetworkIngest shows (the metrics page, the
// CLI's lines): each endpoint with its counts, the receivers while they run,
// the store. Pointers into the NetworkIngest: valid while it lives, read on
// its thread.
#pragma once

#include <cstdint>
#include <vector>

#include "feed/endpoint.h"
#include "ingest/source_recorder.h"
#include "net/tcp_receiver.h"
#include "net/udp_receiver.h"
#include "reel/store.h"

namespace reel::ingest {

struct IngestView {
  const std::vector<feed::Endpoint>* udp_eps = nullptr;
  const std::vector<SourceCounts>* udp_counts = nullptr;
  const net::UdpReceiver* udp = nullptr;  // null once stopped: the counts hold its drops
  const std::vector<feed::Endpoint>* tcp_eps = nullptr;
  const std::vector<SourceCounts>* tcp_counts = nullptr;
  const net::TcpReceiver* tcp = nullptr;  // null once stopped
  const Store* store = nullptr;
  uint64_t ring_peak_bytes = 0;

  // Endpoint i's kernel drops: the receiver's count while it runs.
  uint64_t udp_kernel_drops(size_t i) const {
    return udp != nullptr ? udp->kernel_drops(i) : (*udp_counts)[i].kernel_drops;
  }
};

}  // namespace reel::ingest
