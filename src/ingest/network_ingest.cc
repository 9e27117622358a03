#include "ingest/network_ingest.h"

#include <algorithm>

#include "ingest/ingest_metrics.h"

namespace reel::ingest {

Result<std::unique_ptr<NetworkIngest>> NetworkIngest::open(Store* store, IngestOptions o) {
  auto in = std::make_unique<NetworkIngest>();
  in->store_ = store;
  in->recorder_ = SourceRecorder(store, std::move(o.keep_waiting));
  if (o.metrics) {
    auto m = net::MetricsServer::start(o.metrics->address, o.metrics->port, o.allow);
    if (!m) return m.status();
    in->metrics_ = std::move(*m);
  }
  if (!o.udp.empty()) {
    auto s = UdpSource::open(std::move(o.udp), std::min<size_t>(o.max_record, 65535), o.warn);
    if (!s) return s.status();
    in->udp_ = std::move(*s);
  }
  if (!o.tcp.empty()) {
    net::TcpLimits limits;
    limits.max_record = o.max_record;
    limits.max_connections = o.max_connections;
    limits.max_buffered = o.max_buffered;
    limits.durable_acks = o.durable_acks;
    limits.allow = o.allow;
    limits.durable_refusal =
        "this server's store never syncs on its own (--sync none), so no record would be "
        "acknowledged as durable: ask for written or indexed";
    auto s = TcpSource::open(std::move(o.tcp), limits, o.idle_timeout);
    if (!s) return s.status();
    in->tcp_ = std::move(*s);
  }
  if (in->udp_) in->sources_.push_back(in->udp_.get());
  if (in->tcp_) in->sources_.push_back(in->tcp_.get());
  return in;
}

size_t NetworkIngest::round(std::chrono::milliseconds wait) {
  size_t taken = 0;
  auto each = sources_.empty() ? wait : wait / static_cast<int64_t>(sources_.size());
  if (wait.count() > 0 && each.count() == 0) each = std::chrono::milliseconds(1);
  for (IngestSource* source : sources_) {
    if (!failure_) break;
    auto n = source->poll(each, recorder_);
    if (!n) failure_ = n.status();
    taken += n ? *n : 0;
    source->after_poll(*store_);
  }
  return taken;
}

std::chrono::milliseconds NetworkIngest::wait_budget() const {
  for (const IngestSource* s : sources_) {
    if (s->acks_pending()) return std::chrono::milliseconds(1);
  }
  return std::chrono::milliseconds(100);
}

void NetworkIngest::observe(bool force) {
  ring_peak_ = std::max(ring_peak_, store_->ring_fill().used_bytes);
  const auto now = std::chrono::steady_clock::now();
  if (metrics_ && (force || now - last_metrics_ >= std::chrono::milliseconds(500))) {
    metrics_->publish(prometheus_text(view()));
    last_metrics_ = now;
  }
}

Status NetworkIngest::finish() {
  while (failure_ && round(std::chrono::milliseconds(0)) > 0) {
  }
  if (udp_) udp_->stop();
  bool owes_durable = false;
  for (const IngestSource* s : sources_) owes_durable |= s->owes_durable();
  if (failure_ && owes_durable) failure_ = store_->sync();
  Status closed = store_->close();
  const Watermarks w = store_->watermarks();
  for (IngestSource* s : sources_) s->final_acks(w);
  observe(true);
  return closed;
}

IngestView NetworkIngest::view() const {
  IngestView v;
  if (udp_) {
    v.udp_eps = &udp_->endpoints();
    v.udp_counts = &udp_->counts();
    v.udp = udp_->receiver();
  }
  if (tcp_) {
    v.tcp_eps = &tcp_->endpoints();
    v.tcp_counts = &tcp_->counts();
    v.tcp = tcp_->receiver();
  }
  v.store = store_;
  v.ring_peak_bytes = ring_peak_;
  return v;
}

}  // namespace reel::ingest
