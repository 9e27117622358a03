// Recovery: brings a store's WAL and index into agreement before a writer
// uses it (and for `reel reindex`). Runs under the writer lock.
//
// 1. Lists the segments and checks their headers. A last segment whose
//    header never reached the disk (a crash during creation) is removed.
// 2. Finds where the index stops (indexed_seq) and scans the WAL from there:
//    every frame after indexed_seq is indexed, in batches.
// 3. At the end of the last segment, a torn tail is zeroed (see
//    RecoveryMode); corruption stops recovery with an error naming segment,
//    offset and seq.
// 4. An index that is ahead of the WAL, belongs to another store, or
//    disagrees with the WAL at its own last position is rebuilt whole.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "index/index.h"
#include "reel/options.h"
#include "store/store_dir.h"
#include "wal/io_env.h"
#include "wal/segment_file.h"

namespace reel::store {

struct RecoveryResult {
  uint64_t last_seq = 0;                     // last whole record in the WAL (0: empty)
  uint32_t next_segment_no = 0;              // segment_no for the next new segment
  std::optional<wal::SegmentHeader> active;  // the last segment, if any
  uint64_t active_end_offset = 0;            // where the next frame goes in it
  uint64_t last_frame_offset = 0;            // offset of the last frame in it (0: none)
  uint64_t frames_indexed = 0;               // frames this recovery added to the index
  uint64_t torn_bytes_cut = 0;
  bool index_rebuilt = false;
};

// `store_id` is the id from the head file (0 if unknown: taken from the
// first segment). `force_rebuild` empties the index first (reel reindex).
// `clean_shutdown` (the head file's marker) skips the search of the zeros
// after the last frame; the scan is correct without it. `progress` hears the
// number of records indexed so far after every index batch.
Result<RecoveryResult> recover(const StorePaths& paths, wal::IoEnv* env, index::Index* index,
                               uint64_t* store_id, RecoveryMode mode, bool force_rebuild,
                               bool clean_shutdown,
                               const std::function<void(uint64_t)>& progress = nullptr);

}  // namespace reel::store
