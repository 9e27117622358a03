#include "ingest/udp_source.h"

namespace reel::ingest {

Result<std::unique_ptr<UdpSource>> UdpSource::open(std::vector<feed::Endpoint> endpoints,
                                                   size_t max_record, WarningFn warn) {
  auto rx = net::UdpReceiver::open(endpoints, max_record);
  if (!rx) return rx.status();
  auto s = std::make_unique<UdpSource>();
  s->counts_.resize(endpoints.size());
  s->endpoints_ = std::move(endpoints);
  s->rx_ = std::move(*rx);
  s->warn_ = std::move(warn);
  return s;
}

Result<size_t> UdpSource::poll(std::chrono::milliseconds wait, SourceRecorder& recorder) {
  Status failure;
  auto n = rx_->poll(wait, [&](const net::Datagram& d) {
    if (!failure) return;
    SourceCounts& c = counts_[d.endpoint];
    const feed::Endpoint& e = endpoints_[d.endpoint];
    if (d.truncated) {
      if (c.truncated++ == 0 && warn_) {
        warn_(feed::endpoint_name(e) + ": a datagram over --max-record was not stored");
      }
      return;
    }
    Status s = recorder.record(e.stream, e.seq, d.payload, d.ts_ns, &c).status();
    if (record_refused(s)) {
      if (c.rejected == 1 && warn_) {
        warn_(feed::endpoint_name(e) + ": a datagram was not stored: " + s.message());
      }
      return;
    }
    failure = std::move(s);
  });
  if (!failure) return failure;
  return n;
}

void UdpSource::stop() {
  if (!rx_) return;
  for (size_t i = 0; i < endpoints_.size(); ++i) counts_[i].kernel_drops = rx_->kernel_drops(i);
  rx_.reset();
}

}  // namespace reel::ingest
