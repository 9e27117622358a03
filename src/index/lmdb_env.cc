#include "index/lmdb_env.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <map>

namespace reel::index {

Status lmdb_status(int rc, const std::string& what) {
  if (rc == MDB_SUCCESS) return Status::ok();
  std::string msg = what + ": " + mdb_strerror(rc);
  if (rc == MDB_MAP_FULL) return Status::no_space(msg + " (raise the index map size)");
  if (rc == MDB_NOTFOUND) return Status::not_found(msg);
  if (rc == MDB_CORRUPTED || rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH ||
      rc == MDB_PAGE_NOTFOUND) {
    return Status::corruption(msg);
  }
  if (rc == ENOSPC) return Status::no_space(msg);
  return Status::io_error(msg);
}

namespace {

// One environment per index directory (device, inode) in this process,
// with the number of handles out. A handle's release and every acquire()
// take g_envs_mu, and the environment is closed under it when the last
// handle goes: an acquire() never sees an environment that is on its way
// out, so no second one can open beside it.
struct Entry {
  std::unique_ptr<LmdbEnv> env;
  uint64_t users = 0;
};
std::mutex g_envs_mu;
std::map<std::pair<dev_t, ino_t>, Entry>& envs() {
  static auto* map = new std::map<std::pair<dev_t, ino_t>, Entry>();
  return *map;
}

// A handle: the shared_ptr's own count covers copies of this handle; the
// entry's `users` counts handles.
std::shared_ptr<LmdbEnv> handle(std::pair<dev_t, ino_t> key, Entry* entry) {
  ++entry->users;
  return std::shared_ptr<LmdbEnv>(entry->env.get(), [key](LmdbEnv*) {
    std::lock_guard<std::mutex> guard(g_envs_mu);
    auto it = envs().find(key);
    if (it != envs().end() && --it->second.users == 0) envs().erase(it);  // closes it
  });
}

bool may_write(const std::string& path) {
  return ::access(path.c_str(), W_OK) == 0;
}

}  // namespace

LmdbEnv::~LmdbEnv() {
  if (env_ != nullptr) mdb_env_close(env_);
}

// LMDB maps the file and trusts its meta page: past the file's end a page
// is a SIGBUS, not an error. A file system that lost the end of the file
// (ext4 after a failed device, the index not synced) leaves it shorter than
// the pages its last commit uses. The writer extends such a file with zeros
// up to that size: a lost page then reads as a zero page, which LMDB
// reports as MDB_CORRUPTED when it reaches it, and the store rebuilds the
// index from the WAL. It never refuses a short file outright: LMDB counts
// pages it never writes in its last page number (pages freed in the
// transaction that allocated them), so a healthy file may end early.
// Read-only opens cannot extend it and are left as they were.
Status LmdbEnv::extend_to_last_commit(const std::string& dir) {
  MDB_envinfo info;
  MDB_stat stat;
  int fd = -1;
  struct stat st;
  if (mdb_env_info(env_, &info) != 0 || mdb_env_stat(env_, &stat) != 0 ||
      mdb_env_get_fd(env_, &fd) != 0 || ::fstat(fd, &st) != 0) {
    return Status::io_error(dir + "/data.mdb: cannot read its size");
  }
  const uint64_t needed = (static_cast<uint64_t>(info.me_last_pgno) + 1) * stat.ms_psize;
  if (static_cast<uint64_t>(st.st_size) >= needed) return Status::ok();
  if (::ftruncate(fd, static_cast<off_t>(needed)) != 0) {
    return Status::from_errno(dir + "/data.mdb: extend from " + std::to_string(st.st_size) +
                                  " to " + std::to_string(needed) + " bytes",
                              errno);
  }
  return Status::ok();
}

Status LmdbEnv::open(const std::string& dir, bool writable, uint64_t map_bytes, unsigned max_dbs,
                     wal::IoEnv* io) {
  writable_ = writable;
  // The index is derived data: writes skip LMDB's syncs and the store syncs
  // the environment itself (see Index::sync and the boot-id rule in index.h).
  unsigned flags = MDB_NOTLS | MDB_NORDAHEAD;
  flags |= writable ? (MDB_NOSYNC | MDB_NOMETASYNC) : MDB_RDONLY;
  int rc = mdb_env_create(&env_);
  if (rc != 0) return lmdb_status(rc, dir + ": mdb_env_create");
  mdb_env_set_maxdbs(env_, max_dbs);
  mdb_env_set_mapsize(env_, map_bytes);
  mdb_env_set_maxreaders(env_, 254);
  auto call = [&] { return mdb_env_open(env_, dir.c_str(), flags, 0644); };
  rc = io != nullptr ? io->index_call(call, dir + ": open index") : call();
  if (rc == 0) {
    Status s = writable ? extend_to_last_commit(dir) : Status::ok();
    if (s) return s;
    mdb_env_close(env_);
    env_ = nullptr;
    return s;
  }
  mdb_env_close(env_);
  env_ = nullptr;
  if (rc == EACCES) {
    return Status::io_error(dir + "/lock.mdb: permission denied: an index reader needs write " +
                            "access to this file (LMDB's reader table)");
  }
  return lmdb_status(rc, dir + ": open index");
}

bool LmdbEnv::open_in_this_process(const std::string& dir) {
  std::lock_guard<std::mutex> guard(g_envs_mu);
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return false;
  return envs().count(std::make_pair(st.st_dev, st.st_ino)) != 0;
}

Result<std::shared_ptr<LmdbEnv>> LmdbEnv::acquire(const std::string& dir, bool write,
                                                  uint64_t map_bytes, unsigned max_dbs,
                                                  wal::IoEnv* io) {
  std::lock_guard<std::mutex> guard(g_envs_mu);
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return Status::from_errno(dir + ": index", errno);
  const auto key = std::make_pair(st.st_dev, st.st_ino);
  if (auto it = envs().find(key); it != envs().end()) {
    if (write && !it->second.env->writable()) {
      return Status::busy(dir + ": a reader in this process opened the index read-only");
    }
    return handle(key, &it->second);
  }
  const std::string data = dir + "/data.mdb", lock = dir + "/lock.mdb";
  bool rw = write;
  if (!write) {
    struct stat ds {};
    // Until the writer has initialised the environment there is nothing to
    // read, and a reader must not be the one to initialise it.
    if (::stat(data.c_str(), &ds) != 0 || ds.st_size == 0) {
      return Status::not_found(dir + ": no index yet");
    }
    rw = may_write(data) && may_write(lock);
  }
  std::unique_ptr<LmdbEnv> env(new LmdbEnv());
  Status s = env->open(dir, rw, map_bytes, max_dbs, io);
  if (!s) return s;
  Entry& entry = envs()[key];
  entry.env = std::move(env);
  return handle(key, &entry);
}

Status LmdbTxn::begin(MDB_env* env, bool read_only) {
  abort();
  read_only_ = read_only;
  int rc = mdb_txn_begin(env, nullptr, read_only ? MDB_RDONLY : 0, &txn_);
  if (rc != 0) txn_ = nullptr;
  return lmdb_status(rc, "index: begin transaction");
}

Status LmdbTxn::commit(wal::IoEnv* io) {
  bool ran = false;
  auto call = [&] {
    ran = true;
    return mdb_txn_commit(txn_);
  };
  const int rc = io != nullptr && !read_only_ ? io->index_call(call, "index: commit") : call();
  if (!ran) mdb_txn_abort(txn_);  // the seam failed it without committing
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
