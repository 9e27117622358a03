#include "reel/serve_report.h"

#include <cinttypes>

namespace reel::cli {

void print_endpoints(const ingest::IngestView& v, FILE* out) {
  for (size_t i = 0; v.udp_eps != nullptr && i < v.udp_eps->size(); ++i) {
    const auto& st = (*v.udp_counts)[i];
    const auto& e = (*v.udp_eps)[i];
    std::fprintf(out,
                 "reel serve: %s -> %s: %" PRIu64 " records, %" PRIu64 " bytes, %" PRIu64
                 " gaps (%" PRIu64 " missing), %" PRIu64 " duplicates, %" PRIu64
                 " kernel drops, %" PRIu64 " truncated, %" PRIu64 " refused by the store, %" PRIu64
                 " without a source seq\n",
                 feed::endpoint_name(e).c_str(), e.stream.c_str(), st.records, st.bytes,
                 st.gaps.gaps(), st.gaps.missing(), st.gaps.duplicates(), v.udp_kernel_drops(i),
                 st.truncated, st.rejected, st.no_seq);
  }
  for (size_t i = 0; v.tcp != nullptr && i < v.tcp_eps->size(); ++i) {
    const auto& st = (*v.tcp_counts)[i];
    const auto& e = (*v.tcp_eps)[i];
    const auto& c = v.tcp->counts(i);
    std::fprintf(
        out,
        "reel serve: %s -> %s: %" PRIu64 " records, %" PRIu64 " bytes, %" PRIu64 " gaps (%" PRIu64
        " missing), %" PRIu64 " duplicates, %" PRIu64 " connections (%" PRIu64 " open, %" PRIu64
        " refused, %" PRIu64 " acknowledged, %" PRIu64 " idle closed, %" PRIu64 " evicted, %" PRIu64
        " not allowed), %" PRIu64 " framing errors, %" PRIu64 " records refused by the store\n",
        feed::endpoint_name(e).c_str(), e.stream.c_str(), st.records, st.bytes, st.gaps.gaps(),
        st.gaps.missing(), st.gaps.duplicates(), c.connections, c.open, c.refused,
        c.acked_connections, c.idle_closed, c.evicted, c.refused_peers, c.framing_errors,
        st.rejected);
  }
}

void print_store(const ingest::IngestView& v, FILE* out) {
  const RingFill f = v.store->ring_fill();
  const Watermarks w = v.store->watermarks();
  std::fprintf(
      out,
      "reel serve: ring %.1f%% full (%" PRIu64 " of %" PRIu64 " bytes, peak %.1f%%, %" PRIu64
      " records unwritten); seqs appended %" PRIu64 ", written %" PRIu64 ", indexed %" PRIu64
      ", durable %" PRIu64 "\n",
      f.capacity_bytes ? 100.0 * f.used_bytes / f.capacity_bytes : 0.0, f.used_bytes,
      f.capacity_bytes, f.capacity_bytes ? 100.0 * v.ring_peak_bytes / f.capacity_bytes : 0.0,
      f.unwritten_records, v.store->last_seq(), w.written_seq, w.indexed_seq, w.durable_seq);
}

}  // namespace reel::cli
