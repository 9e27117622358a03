#include "ingest/tcp_source.h"

namespace reel::ingest {

Result<std::unique_ptr<TcpSource>> TcpSource::open(std::vector<feed::Endpoint> endpoints,
                                                   size_t max_record, size_t max_connections,
                                                   std::chrono::nanoseconds idle_timeout) {
  auto rx = net::TcpReceiver::open(endpoints, max_record, max_connections);
  if (!rx) return rx.status();
  auto s = std::make_unique<TcpSource>();
  s->counts_.resize(endpoints.size());
  s->endpoints_ = std::move(endpoints);
  s->rx_ = std::move(*rx);
  s->idle_timeout_ = idle_timeout;
  return s;
}

Result<size_t> TcpSource::poll(std::chrono::milliseconds wait, SourceRecorder& recorder) {
  Status failure;
  auto n = rx_->poll(wait, [&](const net::TcpRecord& r) -> uint64_t {
    if (!failure) return 0;
    const feed::Endpoint& e = endpoints_[r.endpoint];
    auto seq = recorder.record(e.stream, e.seq, r.payload, r.ts_ns, &counts_[r.endpoint]);
    if (!seq) failure = seq.status();
    return seq ? *seq : 0;
  });
  if (!failure) return failure;
  return n;
}

void TcpSource::after_poll(Store& store) {
  if (!rx_) return;
  if (rx_->acks_pending()) {
    const Watermarks w = store.watermarks();
    if (const uint64_t want = rx_->pending_seq(Level::kDurable); want > w.durable_seq) {
      (void)store.request(want, Level::kDurable);
    }
    if (const uint64_t want = rx_->pending_seq(Level::kIndexed); want > w.indexed_seq) {
      (void)store.request(want, Level::kIndexed);
    }
    rx_->acknowledge(w);
  }
  rx_->expire_idle(idle_timeout_);
}

bool TcpSource::acks_pending() const {
  return rx_ && rx_->acks_pending();
}

bool TcpSource::owes_durable() const {
  return rx_ && rx_->pending_seq(Level::kDurable) != 0;
}

}  // namespace reel::ingest
