// The store directory layout (schemas/format.md, "Store directory"), the
// writer's LOCK, and small-file replacement by write-temp, fsync, rename,
// fsync(dir) (reliability.md rule 6).
#pragma once

#include <string>
#include <string_view>

#include "reel/status.h"
#include "wal/io_env.h"

namespace reel::store {

struct StorePaths {
  explicit StorePaths(std::string root_dir);
  std::string root, wal, index, head, schemas, lock;
};

// Creates the directories of a new store (idempotent).
Status create_layout(const StorePaths& paths);

// This machine's boot id (/proc/sys/kernel/random/boot_id), or "" if unknown.
std::string boot_id();

// The store's single-writer lock: flock(LOCK_EX) on STORE/LOCK. flock belongs
// to the open file description, so a second writer in the same process is
// refused as surely as one in another process.
class WriterLock {
 public:
  WriterLock() = default;
  ~WriterLock();
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;
  // kBusy naming the holder's pid when another writer holds it. The flock
  // goes through `env` (the writer's I/O seam).
  Status acquire(const std::string& path, wal::IoEnv* env);
  // Lets go of the lock (idempotent); another writer may take it at once.
  void release();

 private:
  int fd_ = -1;
};

}  // namespace reel::store
