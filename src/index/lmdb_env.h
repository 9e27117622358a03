// RAII owners for LMDB handles: the environment and transactions. All LMDB
// calls in reel go through src/index/.
#pragma once

#include <lmdb.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "reel/status.h"

namespace reel::index {

Status lmdb_status(int rc, const std::string& what);

inline MDB_val to_val(const void* data, size_t size) {
  return MDB_val{size, const_cast<void*>(data)};
}
inline std::string_view as_view(const MDB_val& v) {
  return {static_cast<const char*>(v.mv_data), v.mv_size};
}

class LmdbEnv {
 public:
  LmdbEnv() = default;
  ~LmdbEnv();
  LmdbEnv(const LmdbEnv&) = delete;
  LmdbEnv& operator=(const LmdbEnv&) = delete;

  // Opens the environment in directory `dir`. Read-only opens fall back to
  // MDB_NOLOCK when the lock file cannot be written (a reader without write
  // access to the store); such a reader must not overlap a running writer's
  // page reuse, which the caller documents.
  Status open(const std::string& dir, bool read_only, uint64_t map_bytes, unsigned max_dbs);
  MDB_env* get() const { return env_; }
  bool read_only() const { return read_only_; }

 private:
  MDB_env* env_ = nullptr;
  bool read_only_ = false;
};

class LmdbTxn {
 public:
  LmdbTxn() = default;
  ~LmdbTxn() { abort(); }
  LmdbTxn(const LmdbTxn&) = delete;
  LmdbTxn& operator=(const LmdbTxn&) = delete;

  Status begin(MDB_env* env, bool read_only);
  Status commit();
  void abort();
  MDB_txn* get() const { return txn_; }

 private:
  MDB_txn* txn_ = nullptr;
};

class LmdbCursor {
 public:
  LmdbCursor() = default;
  ~LmdbCursor() {
    if (cursor_ != nullptr) mdb_cursor_close(cursor_);
  }
  LmdbCursor(const LmdbCursor&) = delete;
  LmdbCursor& operator=(const LmdbCursor&) = delete;
  Status open(MDB_txn* txn, MDB_dbi dbi);
  MDB_cursor* get() const { return cursor_; }

 private:
  MDB_cursor* cursor_ = nullptr;
};

}  // namespace reel::index
