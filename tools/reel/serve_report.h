// What `reel serve` prints: each endpoint's counts, the store's ring and
// watermarks, as lines on a terminal (--stats, and the summary at exit). The
// metrics page is ingest/ingest_metrics.h.
#pragma once

#include <cstdio>

#include "ingest/ingest_view.h"

namespace reel::cli {

// One line per endpoint.
void print_endpoints(const ingest::IngestView& v, FILE* out);
// Ring fill (now and peak) and the store's seqs, one line.
void print_store(const ingest::IngestView& v, FILE* out);

}  // namespace reel::cli
