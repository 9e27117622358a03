// Plain value types shared by reel's public API.
#pragma once

#include <cstdint>
#include <string>

namespace reel {

// One stream's totals, as of the index (and the unindexed tail for a Reader).
struct StreamInfo {
  uint32_t id = 0;
  std::string name;
  uint64_t count = 0;
  uint64_t first_seq = 0;
  uint64_t last_seq = 0;
  uint64_t first_ts_ns = 0;
  uint64_t last_ts_ns = 0;
};

// Watermarks: every record with seq <= written_seq is visible to readers and
// survives a crash of the writer process; <= durable_seq survives power loss;
// <= indexed_seq is in the LMDB index.
struct Watermarks {
  uint64_t written_seq = 0;
  uint64_t durable_seq = 0;
  uint64_t indexed_seq = 0;
};

// How full a store's in-memory ring is (Store::ring_fill): bytes claimed by
// producers and not yet released by the last stage (the indexer), and
// records appended but not yet written. A snapshot.
struct RingFill {
  uint64_t used_bytes = 0;
  uint64_t capacity_bytes = 0;
  uint64_t unwritten_records = 0;
};

// The level a record has reached (Store::wait, Tailer).
enum class Level {
  kWritten,  // in the WAL: visible to readers, safe from a process crash
  kIndexed,  // and in the LMDB index: found by time and key queries
  kDurable,  // fdatasync'd: safe from power loss
};

}  // namespace reel
