// The LMDB index: derived data, rebuildable from the WAL at any time.
//
// Databases, keys and values: index/index_format.h.
//
// Durability: the environment is opened MDB_NOSYNC (one write transaction per
// batch, no fsync per commit). A process crash cannot harm it; an OS crash
// can, which is why the store records the boot id whenever the index has
// unsynced commits and rebuilds it after a reboot (store/head_file.h).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "index/lmdb_env.h"
#include "reel/status.h"
#include "reel/types.h"

namespace reel::index {

inline constexpr uint64_t kPositionBlockBytes = 1024;
inline constexpr size_t kMaxKeyBytes = 500;  // LMDB keys are at most 511 bytes
// The index's own format (meta "format"): 2 = sparse time index (time_index.h).
// A writer rebuilds an index of another format.
inline constexpr uint64_t kIndexFormat = 2;

struct SeqPosition {
  uint64_t seq = 0;
  uint64_t segment_first_seq = 0;
  uint64_t offset = 0;
};

// What one write transaction adds. Keys are copied in, so the caller's
// buffers may be reused right after add().
class IndexBatch {
 public:
  struct Entry {
    uint64_t seq;
    uint64_t ts_ns;
    uint32_t stream;
    uint32_t key_offset;  // into keys_
    uint32_t key_bytes;   // 0 = no key
  };
  void add(uint64_t seq, uint64_t ts_ns, uint32_t stream, std::string_view key);
  void add_position(const SeqPosition& position) { positions_.push_back(position); }
  void declare_stream(uint32_t id, std::string_view name) { names_[id] = std::string(name); }
  void clear();
  bool empty() const { return entries_.empty(); }
  uint64_t last_seq() const { return entries_.empty() ? 0 : entries_.back().seq; }
  size_t size() const { return entries_.size(); }

 private:
  friend class Index;
  std::vector<Entry> entries_;
  std::vector<SeqPosition> positions_;
  std::string keys_;
  std::map<uint32_t, std::string> names_;
};

class Index;

// One LMDB read transaction: every answer from a Snapshot comes from the same
// committed state of the index, so hits, indexed_seq and stream stats agree
// with each other however far the writer has gone meanwhile. Hold it only
// for one query (it keeps the writer from reusing the pages it sees); one
// thread at a time; the Index must outlive it.
class Snapshot {
 public:
  Result<uint64_t> indexed_seq() const;
  // The last position entry with seq <= `seq`, if any.
  Result<std::optional<SeqPosition>> floor_position(uint64_t seq) const;
  // The index's format (kIndexFormat when written by this build).
  Result<uint64_t> format() const;
  // Where to start reading `stream` for records with ts >= t0
  // (time_index.h): the last checkpoint with ts < t0 (has_running_max), else
  // the stream's first record; nullopt if the index knows no record of it.
  struct TimeStart {
    uint64_t seq = 0;
    uint64_t running_max_ts = 0;
    bool has_running_max = false;
  };
  Result<std::optional<TimeStart>> time_start(uint32_t stream, uint64_t t0) const;
  // The seq of the first checkpoint of `stream` with ts > t1, if any: no
  // in-order record after it can have ts <= t1.
  Result<std::optional<uint64_t>> time_end(uint32_t stream, uint64_t t1) const;
  // (ts, seq) of the late records of `stream` with t0 <= ts <= t1, in that order.
  Status late_by_time(uint32_t stream, uint64_t t0, uint64_t t1,
                      std::vector<std::pair<uint64_t, uint64_t>>* out) const;
  // Seqs of `stream` whose key equals `key`, ascending.
  Status seqs_by_key(uint32_t stream, std::string_view key, std::vector<uint64_t>* out) const;
  Status streams(std::vector<StreamInfo>* out) const;
  // The id of stream `name`, if the index knows it.
  Result<std::optional<uint32_t>> stream_id(std::string_view name) const;

  // Full walks, for verify. The callbacks return false to stop.
  Status for_each_position(const std::function<bool(const SeqPosition&)>& fn) const;
  // Position entries with seq >= `from`, in seq order.
  Status for_each_position_from(uint64_t from,
                                const std::function<bool(const SeqPosition&)>& fn) const;
  // Checkpoints (late = false) or late entries: (stream, ts, seq).
  Status for_each_time(bool late,
                       const std::function<bool(uint32_t, uint64_t, uint64_t)>& fn) const;
  Status for_each_key(const std::function<bool(uint32_t, std::string_view, uint64_t)>& fn) const;

 private:
  friend class Index;
  explicit Snapshot(const Index* index) : index_(index) {}
  Result<uint64_t> meta_u64(const char* name) const;
  // Visits every entry of `dbi` in key order; `fn` returns false to stop.
  Status walk(MDB_dbi dbi, const char* what,
              const std::function<Result<bool>(const MDB_val&, const MDB_val&)>& fn,
              const MDB_val* from = nullptr) const;
  const Index* index_;
  LmdbTxn txn_;
};

class Index {
 public:
  // Opens (read_only = false: creates) the index in `dir`. A writer passes
  // its I/O seam `io` (which must outlive the Index): the LMDB open, every
  // commit and every sync then run through it.
  static Result<std::unique_ptr<Index>> open(const std::string& dir, bool read_only,
                                             uint64_t map_bytes, wal::IoEnv* io = nullptr);

  // A read transaction over the index as committed now.
  Result<std::unique_ptr<Snapshot>> snapshot() const;

  // Each of these reads one snapshot of its own.
  Result<uint64_t> indexed_seq() const;
  Result<uint64_t> store_id() const;  // 0 when never set
  Result<uint64_t> format() const;    // 0 when nothing was indexed yet
  Result<std::optional<SeqPosition>> floor_position(uint64_t seq) const;
  Status streams(std::vector<StreamInfo>* out) const;

  Status set_store_id(uint64_t store_id);
  // Adds a batch in one write transaction and advances indexed_seq to the
  // batch's last seq. Positions must come in seq order, after any indexed.
  Status apply(const IndexBatch& batch);
  // Empties every database (before a rebuild).
  Status clear();
  // Forces LMDB's data and meta pages to disk.
  Status sync();

 private:
  friend class Snapshot;
  Status open_dbs(bool read_only);
  Status put_meta_u64(MDB_txn* txn, const char* name, uint64_t value);
  struct StreamState;
  Result<StreamState*> load_stream(MDB_txn* txn, uint32_t id,
                                   std::map<uint32_t, StreamState>* touched);
  Status store_streams(MDB_txn* txn, const IndexBatch& batch,
                       std::map<uint32_t, StreamState>* touched);
  Status add_entry(MDB_txn* txn, const IndexBatch& batch, const IndexBatch::Entry& e,
                   StreamState* st, class TimeIndexWriter* time);

  std::shared_ptr<LmdbEnv> env_;  // shared by every Index of this directory in the process
  wal::IoEnv* io_ = nullptr;      // the writer's seam, or null
  MDB_dbi meta_ = 0, seqpos_ = 0, time_ = 0, key_ = 0, streams_ = 0, names_ = 0;
  MDB_dbi late_ = 0, time_state_ = 0;
};

}  // namespace reel::index
