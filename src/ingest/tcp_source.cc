#include "ingest/tcp_source.h"

namespace reel::ingest {

Result<std::unique_ptr<TcpSource>> TcpSource::open(std::vector<feed::Endpoint> endpoints,
                                                   const net::TcpLimits& limits,
                                                   std::chrono::nanoseconds idle_timeout) {
  auto rx = net::TcpReceiver::open(endpoints, limits);
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
  auto n = rx_->poll(wait, [&](const net::TcpRecord& r, std::string* refusal) -> uint64_t {
    if (!failure) return 0;
    const feed::Endpoint& e = endpoints_[r.endpoint];
    auto seq = recorder.record(e.stream, e.seq, r.payload, r.ts_ns, &counts_[r.endpoint]);
    if (seq) return *seq;
    if (record_refused(seq.status())) {
      *refusal = seq.status().message();  // this connection closes; the others go on
    } else {
      failure = seq.status();
    }
    return 0;
  });
  if (!failure) return failure;
  return n;
}

void TcpSource::after_poll(Store& store) {
  if (!rx_) return;
  if (rx_->acks_pending()) {
    const Watermarks w = store.watermarks();
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
