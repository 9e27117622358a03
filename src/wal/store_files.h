// The real operations on a store's files outside the WAL's segments, which
// IoEnv's defaults run (io_env.h, "The store's other files"): an atomic
// file replacement, an exclusive file lock, a mapping's msync, and LMDB
// calls. Callers with an IoEnv go through it, so that tests can fail them;
// these are for callers without one (readers, the CLI's own files).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "reel/status.h"

namespace reel::wal {

// Replaces `path` atomically and durably with `bytes`: `path`.tmp written
// and fsynced, renamed over `path`, the directory fsynced.
Status write_file_atomic(const std::string& path, std::string_view bytes);
// flock(LOCK_EX | LOCK_NB) on `fd`, opened on `path`: kBusy when another
// open file holds it.
Status lock_exclusive(int fd, const std::string& path);
// fsync(2) of directory `dir` (after a file in it was created or renamed).
Status fsync_directory(const std::string& dir);
// The directory `path` is in ("." for a bare name).
std::string parent_directory(const std::string& path);
// msync(MS_SYNC) of `bytes` at `addr`, a shared mapping of `name`.
Status sync_mapping(void* addr, size_t bytes, const std::string& name);

}  // namespace reel::wal
