// Recovery: brings a store's WAL and index into agreement before a writer
// uses it (and for `reel reindex`). Runs under the writer lock.
//
// 1. Lists the segments and checks their headers. A last segment whose
//    header never reached the disk (a crash during creation) is removed;
//    only its header region is read.
// 2. Scans the WAL from the index's position at or before
//    min(indexed_seq, durable point): every frame after indexed_seq is
//    indexed, in batches, and every frame past the durable point is read
//    again even where the index covers it.
// 3. Where the scan stops decides what the damage is (schemas/format.md,
//    "Recovery"): bad bytes past the durable point in the last segment are
//    writes that were never synced, which a power cut may have lost, torn,
//    reordered or garbled, so the log is cut there (valid frames after them
//    included: none was acknowledged as durable) and the cut is logged. Bad
//    bytes at or below the durable point with valid frames after them are
//    corruption: recovery stops with an error naming segment, offset and
//    seq, and nothing is cut. A damaged end of the log at or below the
//    durable point (synced bytes the file system lost) is cut too, with an
//    error-level log naming the acknowledged seqs that are gone.
// 4. The last segment is made wholly preallocated and synced, so everything
//    recovery leaves in the WAL is durable when it returns.
// 5. An index that is ahead of the WAL, belongs to another store, is of
//    another format, or disagrees with the WAL at its own last position is
//    rebuilt whole.
//
// Searches past a stop never read a segment's holes (preallocated space
// never written: SegmentSet::data_end), so a crash costs a read of what was
// written, not of a whole 1 GiB segment.
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
  uint64_t cut_from_seq = 0;       // first seq cut away (0: nothing cut)
  uint64_t durable_seqs_lost = 0;  // of those, seqs at or below the durable point
  bool index_rebuilt = false;
};

struct RecoveryOptions {
  RecoveryMode mode = RecoveryMode::kTruncateTornTail;
  // Empties the index first (reel reindex, another index format).
  bool force_rebuild = false;
  // The head file's clean-shutdown marker: skips the search of the zeros
  // after the last frame; the scan is correct without it.
  bool clean_shutdown = false;
  // The durable point the head file kept (0 if unknown): every seq up to it
  // was synced before the crash. A lower bound is safe (it only widens what
  // counts as never durable, never beyond what was unsynced).
  uint64_t durable_seq = 0;
  // Hears the number of records indexed so far after every index batch.
  std::function<void(uint64_t)> progress;
};

// `store_id` is the id from the head file (0 if unknown: taken from the
// first segment).
Result<RecoveryResult> recover(const StorePaths& paths, wal::IoEnv* env, index::Index* index,
                               uint64_t* store_id, RecoveryOptions options);

}  // namespace reel::store
