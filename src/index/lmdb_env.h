// RAII owners for LMDB handles: the environment and transactions. All LMDB
// calls in reel go through src/index/; the writer's opens, commits and syncs
// also pass through its I/O seam (wal::IoEnv::index_call), where tests fail
// them.
#pragma once

#include <lmdb.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "reel/status.h"
#include "wal/io_env.h"

namespace reel::index {

Status lmdb_status(int rc, const std::string& what);

inline MDB_val to_val(const void* data, size_t size) {
  return MDB_val{size, const_cast<void*>(data)};
}
inline std::string_view as_view(const MDB_val& v) {
  return {static_cast<const char*>(v.mv_data), v.mv_size};
}

// The LMDB environment of one index directory, shared by everything in the
// process that uses that index. LMDB allows one environment per file per
// process: a second one takes the lock file's "exclusive" fcntl lock (fcntl
// locks belong to the process), re-initialises the reader table under the
// first one's readers, and drops every lock of the process when it closes,
// so the writer could reuse pages a reader is reading. Store, Reader and
// verify therefore acquire() the same LmdbEnv; it closes when the last user
// lets go. Thread-safe: read transactions from any thread (MDB_NOTLS), one
// write transaction at a time (the store's index thread). The first opener's
// map size holds for everyone in the process (open the Store first when it
// asks for a larger index_map_bytes than readers do).
class LmdbEnv {
 public:
  // For `write`: opens (creating) the environment read-write. For readers:
  // read-write-capable when this process may write both files and the
  // environment is initialised (so a writer in this process can share it),
  // MDB_RDONLY when only lock.mdb is writable; kNotFound when there is no
  // initialised environment yet; kIoError naming lock.mdb when it may not be
  // written (a reader must register in it; MDB_NOLOCK would be unsafe beside
  // a writer).
  // `io`: the writer's I/O seam, through which mdb_env_open runs when this
  // call opens the environment (null: called directly).
  static Result<std::shared_ptr<LmdbEnv>> acquire(const std::string& dir, bool write,
                                                  uint64_t map_bytes, unsigned max_dbs,
                                                  wal::IoEnv* io = nullptr);
  // Whether some handle in this process still holds the environment of
  // `dir` (its files must not be replaced under it).
  static bool open_in_this_process(const std::string& dir);
  ~LmdbEnv();
  LmdbEnv(const LmdbEnv&) = delete;
  LmdbEnv& operator=(const LmdbEnv&) = delete;

  MDB_env* get() const { return env_; }
  bool writable() const { return writable_; }
  // mdb_dbi_open must not run in two transactions of a process at once.
  std::mutex& dbi_mutex() { return dbi_mu_; }

 private:
  LmdbEnv() = default;
  Status open(const std::string& dir, bool writable, uint64_t map_bytes, unsigned max_dbs,
              wal::IoEnv* io);
  Status extend_to_last_commit(const std::string& dir);
  MDB_env* env_ = nullptr;
  bool writable_ = false;
  std::mutex dbi_mu_;
};

class LmdbTxn {
 public:
  LmdbTxn() = default;
  ~LmdbTxn() { abort(); }
  LmdbTxn(const LmdbTxn&) = delete;
  LmdbTxn& operator=(const LmdbTxn&) = delete;

  Status begin(MDB_env* env, bool read_only);
  // Commits through `io` (the writer's I/O seam; null: directly). The
  // transaction is over either way.
  Status commit(wal::IoEnv* io = nullptr);
  void abort();
  MDB_txn* get() const { return txn_; }

 private:
  MDB_txn* txn_ = nullptr;
  bool read_only_ = false;
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
