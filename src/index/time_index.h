// The time index: (stream, ts) -> seq, kept sparse where a stream's clock
// runs forward and exact where it does not.
//
// A record is *in order* when its ts is at least every earlier ts of its
// stream (the stream's last_ts_ns in the streams database); otherwise it is
// *late*. In-order records of a stream have non-decreasing ts in seq order,
// so they need no entry each: every kTimeCheckpointEvery-th of them (the
// first of the stream included) is a *checkpoint* in the `time` database. A
// late record gets an exact entry in the `late` database.
//
// Finding every record of stream S with t0 <= ts <= t1, from one snapshot
// whose indexed_seq is I:
//   1. the last checkpoint of S with ts < t0 (else the stream's first seq)
//      gives a seq C and the running maximum ts there (its ts);
//   2. reading the WAL from C, the in-order records of S are told apart from
//      the late ones by the same rule the indexer used (ts >= running max);
//      in-order ones with ts in [t0, t1] are hits; the first in-order one
//      with ts > t1, or I, ends this part;
//   3. the late entries of S in [t0, t1] come from the `late` database;
//   4. records after I (not indexed yet) are read and matched directly.
// Exact, whatever the clock does; one seek instead of one B-tree entry per
// record, and the indexer writes ~1/64 of the entries it used to.
#pragma once

#include <lmdb.h>

#include <cstdint>

#include "reel/status.h"

namespace reel::index {

inline constexpr uint64_t kTimeCheckpointEvery = 64;

// Writes the time entries of one write transaction, in seq order. Uses
// MDB_APPEND / MDB_APPENDDUP while keys arrive in order (the common case).
class TimeIndexWriter {
 public:
  TimeIndexWriter(MDB_txn* txn, MDB_dbi checkpoints, MDB_dbi late)
      : txn_(txn), checkpoints_(checkpoints), late_(late) {}
  ~TimeIndexWriter();
  Status put_checkpoint(uint32_t stream, uint64_t ts, uint64_t seq);
  Status put_late(uint32_t stream, uint64_t ts, uint64_t seq);

 private:
  struct Appender {
    MDB_cursor* cursor = nullptr;
    uint8_t last[12] = {};
    bool have_last = false;
  };
  Status put(MDB_dbi dbi, Appender* a, uint32_t stream, uint64_t ts, uint64_t seq);
  MDB_txn* txn_;
  MDB_dbi checkpoints_, late_;
  Appender checkpoint_appender_, late_appender_;
};

}  // namespace reel::index
