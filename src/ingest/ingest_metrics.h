// The Prometheus text exposition of an IngestView: per endpoint records,
// bytes, gaps, missing and duplicate source seqs, UDP kernel drops and
// truncated datagrams, TCP connections; the ring's fill and the store's
// watermarks. Served by `reel serve --metrics` at GET /metrics.
#pragma once

#include <string>

#include "ingest/ingest_view.h"

namespace reel::ingest {

std::string prometheus_text(const IngestView& v);

}  // namespace reel::ingest
