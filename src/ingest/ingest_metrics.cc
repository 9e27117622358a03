#include "ingest/ingest_metrics.h"

namespace reel::ingest {
namespace {

std::string label(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

// Appends one metric family with a sample per endpoint.
template <typename Value>
void family(std::string* out, const char* name, const char* type, const char* help,
            const std::vector<feed::Endpoint>& eps, Value value) {
  if (eps.empty()) return;
  *out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  for (size_t i = 0; i < eps.size(); ++i) {
    *out += std::string(name) + "{endpoint=\"" + label(feed::endpoint_name(eps[i])) +
            "\",stream=\"" + label(eps[i].stream) + "\"} " + std::to_string(value(i)) + "\n";
  }
}

void scalar(std::string* out, const char* name, const char* type, const char* help,
            uint64_t value) {
  *out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" +
          name + " " + std::to_string(value) + "\n";
}

void common(std::string* out, const std::vector<feed::Endpoint>& eps,
            const std::vector<SourceCounts>& st, const char* kind) {
  const std::string p = std::string("reel_serve_") + kind + "_";
  family(out, (p + "records_total").c_str(), "counter", "Records stored.", eps,
         [&](size_t i) { return st[i].records; });
  family(out, (p + "bytes_total").c_str(), "counter", "Payload bytes stored.", eps,
         [&](size_t i) { return st[i].bytes; });
  family(out, (p + "gaps_total").c_str(), "counter", "Source seq gaps seen.", eps,
         [&](size_t i) { return st[i].gaps.gaps(); });
  family(out, (p + "missing_total").c_str(), "counter", "Source seqs missing in gaps.", eps,
         [&](size_t i) { return st[i].gaps.missing(); });
  family(out, (p + "duplicates_total").c_str(), "counter", "Source seqs seen again (stored).", eps,
         [&](size_t i) { return st[i].gaps.duplicates(); });
  family(out, (p + "rejected_total").c_str(), "counter",
         "Records the store refused (too large for its ring), not stored.", eps,
         [&](size_t i) { return st[i].rejected; });
}

}  // namespace

std::string prometheus_text(const IngestView& v) {
  std::string out;
  if (v.udp_eps != nullptr) {
    const auto& eps = *v.udp_eps;
    common(&out, eps, *v.udp_counts, "udp");
    family(&out, "reel_serve_udp_kernel_drops_total", "counter",
           "Datagrams the kernel dropped for a full socket buffer (SO_RXQ_OVFL).", eps,
           [&](size_t i) { return v.udp_kernel_drops(i); });
    family(&out, "reel_serve_udp_truncated_total", "counter",
           "Datagrams over --max-record, not stored.", eps,
           [&](size_t i) { return (*v.udp_counts)[i].truncated; });
  }
  if (v.tcp_eps != nullptr && v.tcp != nullptr) {
    const auto& eps = *v.tcp_eps;
    common(&out, eps, *v.tcp_counts, "tcp");
    const auto& rx = *v.tcp;
    family(&out, "reel_serve_tcp_connections_total", "counter", "Connections accepted.", eps,
           [&](size_t i) { return rx.counts(i).connections; });
    family(&out, "reel_serve_tcp_connections_open", "gauge", "Connections open now.", eps,
           [&](size_t i) { return rx.counts(i).open; });
    family(&out, "reel_serve_tcp_refused_total", "counter", "Connections over --max-connections.",
           eps, [&](size_t i) { return rx.counts(i).refused; });
    family(&out, "reel_serve_tcp_framing_errors_total", "counter",
           "Connections closed for bad framing or an oversize record.", eps,
           [&](size_t i) { return rx.counts(i).framing_errors; });
    family(&out, "reel_serve_tcp_idle_closed_total", "counter",
           "Connections closed by --idle-timeout.", eps,
           [&](size_t i) { return rx.counts(i).idle_closed; });
    family(&out, "reel_serve_tcp_evicted_total", "counter",
           "Idle connections closed for a new one past --max-connections.", eps,
           [&](size_t i) { return rx.counts(i).evicted; });
    family(&out, "reel_serve_tcp_peers_not_allowed_total", "counter",
           "Connections from peers outside --allow, closed at once.", eps,
           [&](size_t i) { return rx.counts(i).refused_peers; });
    family(&out, "reel_serve_tcp_memory_closed_total", "counter",
           "Connections closed for unfinished records over --max-buffered.", eps,
           [&](size_t i) { return rx.counts(i).memory_closed; });
    family(&out, "reel_serve_tcp_producers_refused_total", "counter",
           "Producers refused at their hello (durable acks under --sync none).", eps,
           [&](size_t i) { return rx.counts(i).hellos_refused; });
    family(&out, "reel_serve_tcp_accept_failures_total", "counter",
           "Accepts that failed (out of descriptors: paused 100 ms).", eps,
           [&](size_t i) { return rx.counts(i).accept_failures; });
  }
  const RingFill f = v.store->ring_fill();
  const Watermarks w = v.store->watermarks();
  scalar(&out, "reel_ring_used_bytes", "gauge", "Ring bytes in use.", f.used_bytes);
  scalar(&out, "reel_ring_peak_bytes", "gauge", "Most ring bytes in use, since start.",
         v.ring_peak_bytes);
  scalar(&out, "reel_ring_capacity_bytes", "gauge", "Ring size.", f.capacity_bytes);
  scalar(&out, "reel_store_appended_seq", "gauge", "Last seq appended.", v.store->last_seq());
  scalar(&out, "reel_store_written_seq", "gauge", "Last seq written.", w.written_seq);
  scalar(&out, "reel_store_indexed_seq", "gauge", "Last seq indexed.", w.indexed_seq);
  scalar(&out, "reel_store_durable_seq", "gauge", "Last seq durable.", w.durable_seq);
  scalar(&out, "reel_wal_syncs_total", "counter", "fdatasyncs of the WAL since start.",
         v.store->wal_syncs());
  return out;
}

}  // namespace reel::ingest
