// What `reel serve` reports: each endpoint's counts, the store's ring and
// watermarks; as lines on a terminal (--stats, and the summary at exit) and
// as Prometheus text (--metrics).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "feed/endpoint.h"
#include "feed/gap_tracker.h"
#include "net/tcp_receiver.h"
#include "net/udp_receiver.h"
#include "reel/store.h"

namespace reel::cli {

struct EndpointStats {
  uint64_t records = 0, bytes = 0, truncated = 0, no_seq = 0, kernel_drops = 0;
  feed::GapTracker gaps;
};

// Everything one report shows. The receivers may be null (no such
// endpoints, or already closed: then the stats' own copies are shown).
struct ServeView {
  const std::vector<feed::Endpoint>* udp_eps = nullptr;
  std::vector<EndpointStats>* udp_stats = nullptr;
  const net::UdpReceiver* udp = nullptr;
  const std::vector<feed::Endpoint>* tcp_eps = nullptr;
  const std::vector<EndpointStats>* tcp_stats = nullptr;
  const net::TcpReceiver* tcp = nullptr;
  const Store* store = nullptr;
  uint64_t ring_peak_bytes = 0;
};

// One line per endpoint.
void print_endpoints(const ServeView& v, FILE* out);
// Ring fill (now and peak) and the store's seqs, one line.
void print_store(const ServeView& v, FILE* out);
// The Prometheus text exposition of the same.
std::string prometheus_text(const ServeView& v);

}  // namespace reel::cli
