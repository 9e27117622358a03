#include "index/lmdb_env.h"

#include <cerrno>

namespace reel::index {

Status lmdb_status(int rc, const std::string& what) {
  if (rc == MDB_SUCCESS) return Status::ok();
  std::string msg = what + ": " + mdb_strerror(rc);
  if (rc == MDB_MAP_FULL) return Status::no_space(msg + " (raise the index map size)");
  if (rc == MDB_NOTFOUND) return Status::not_found(msg);
  if (rc == MDB_CORRUPTED || rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH) {
    return Status::corruption(msg);
  }
  if (rc == ENOSPC) return Status::no_space(msg);
  return Status::io_error(msg);
}

LmdbEnv::~LmdbEnv() {
  if (env_ != nullptr) mdb_env_close(env_);
}

Status LmdbEnv::open(const std::string& dir, bool read_only, uint64_t map_bytes, unsigned max_dbs) {
  read_only_ = read_only;
  // The index is derived data: writes skip LMDB's syncs and the store syncs
  // the environment itself (see Index::sync and the boot-id rule in index.h).
  unsigned flags = MDB_NOTLS | MDB_NORDAHEAD;
  flags |= read_only ? MDB_RDONLY : (MDB_NOSYNC | MDB_NOMETASYNC);
  for (int attempt = 0; attempt < 2; ++attempt) {
    int rc = mdb_env_create(&env_);
    if (rc != 0) return lmdb_status(rc, dir + ": mdb_env_create");
    mdb_env_set_maxdbs(env_, max_dbs);
    mdb_env_set_mapsize(env_, map_bytes);
    mdb_env_set_maxreaders(env_, 254);
    rc = mdb_env_open(env_, dir.c_str(), flags, 0644);
    if (rc == 0) return Status::ok();
    mdb_env_close(env_);
    env_ = nullptr;
    if (read_only && (rc == EACCES || rc == EROFS) && attempt == 0) {
      flags |= MDB_NOLOCK;
      continue;
    }
    return lmdb_status(rc, dir + ": open index");
  }
  return Status::io_error(dir + ": open index");
}

Status LmdbTxn::begin(MDB_env* env, bool read_only) {
  abort();
  int rc = mdb_txn_begin(env, nullptr, read_only ? MDB_RDONLY : 0, &txn_);
  if (rc != 0) txn_ = nullptr;
  return lmdb_status(rc, "index: begin transaction");
}

Status LmdbTxn::commit() {
  int rc = mdb_txn_commit(txn_);
  txn_ = nullptr;
  return lmdb_status(rc, "index: commit");
}

void LmdbTxn::abort() {
  if (txn_ != nullptr) mdb_txn_abort(txn_);
  txn_ = nullptr;
}

Status LmdbCursor::open(MDB_txn* txn, MDB_dbi dbi) {
  return lmdb_status(mdb_cursor_open(txn, dbi, &cursor_), "index: open cursor");
}

}  // namespace reel::index
