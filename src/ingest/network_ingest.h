// NetworkIngest: `reel serve`'s recording side as a library component. It
// owns the sources (the socket endpoints: UdpSource, TcpSource; any
// IngestSource), polls them in rounds on the calling thread, records what
// they deliver through one SourceRecorder (source seq, gaps, counts),
// acknowledges producers as the store's watermarks move, and publishes
// Prometheus text on an optional metrics port.
//
// One thread drives a NetworkIngest (round(), observe(), finish()); the
// Store must outlive it. The metrics server answers from its own thread
// with the text last published.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "ingest/ingest_view.h"
#include "ingest/source_recorder.h"
#include "ingest/tcp_source.h"
#include "ingest/udp_source.h"
#include "net/metrics_server.h"

namespace reel::ingest {

struct IngestOptions {
  std::vector<feed::Endpoint> udp;  // UDP and multicast endpoints
  std::vector<feed::Endpoint> tcp;
  size_t max_record = 65535;  // a datagram is at most 65535 bytes whatever this says
  size_t max_connections = 1024;
  size_t max_buffered = size_t{256} << 20;  // unfinished TCP records, all connections
  // False when the store never syncs on its own (SyncPolicy kNone): TCP
  // producers asking for durable acknowledgements are refused.
  bool durable_acks = true;
  std::chrono::nanoseconds idle_timeout = std::chrono::minutes(5);  // 0: never
  std::optional<feed::Endpoint> metrics;                            // where to serve GET /metrics
  net::AllowList allow;  // peers the TCP and metrics ports accept (empty: any)
  WarningFn warn;        // one-time notices per endpoint
  // Asked while the store is stalled (disk full, out of descriptors): true
  // holds the record and tries again (the sources wait; TCP senders slow),
  // false ends the ingest with the stall. Unset: the stall ends it.
  std::function<bool()> keep_waiting;
};

class NetworkIngest {
 public:
  // Opens every endpoint (and the metrics port). An endpoint that cannot be
  // bound is the error, naming it; nothing is left open then.
  static Result<std::unique_ptr<NetworkIngest>> open(Store* store, IngestOptions options);

  // One round over the sources, waiting up to `wait` in all (each gets a
  // share, never a zero wait when one was asked); returns how many records
  // it took. After the first error no source is polled again (failure()).
  size_t round(std::chrono::milliseconds wait);
  // How long the next round may wait: short while acknowledgements are owed.
  std::chrono::milliseconds wait_budget() const;
  // Every round: the ring's peak; every 500 ms (or now, `force`), the
  // metrics page.
  void observe(bool force);
  // The first error of a source or the store; ok while recording.
  const Status& failure() const { return failure_; }
  // Stops receiving: takes what already arrived, stops the datagram
  // sources, syncs when a producer waits for a durable acknowledgement,
  // closes the store and sends the last acknowledgements. Returns close()'s status. The TCP source
  // stays readable for a report until the NetworkIngest is destroyed.
  Status finish();

  // The sources and counts, for a report (ingest_view.h).
  IngestView view() const;
  const net::MetricsServer* metrics() const { return metrics_.get(); }
  const UdpSource* udp() const { return udp_.get(); }
  const TcpSource* tcp() const { return tcp_.get(); }

 private:
  Store* store_ = nullptr;
  SourceRecorder recorder_{nullptr};
  std::unique_ptr<UdpSource> udp_;
  std::unique_ptr<TcpSource> tcp_;
  std::vector<IngestSource*> sources_;  // those that exist, UDP first; set at open
  std::unique_ptr<net::MetricsServer> metrics_;
  std::chrono::steady_clock::time_point last_metrics_{};
  uint64_t ring_peak_ = 0;
  Status failure_;
};

}  // namespace reel::ingest
