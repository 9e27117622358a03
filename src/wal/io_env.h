// IoEnv: the one seam every file operation of a store's writer passes
// through (LevelDB's Env, Redpanda's file_sanitizer): the WAL's segments,
// the head file's msync, atomic file replacements, the writer lock and the
// index's LMDB calls. The default environment writes through
// io_uring where the file system completes the write inline, and with
// pwrite(2) and fdatasync(2) on the calling thread where io_uring would only
// hand the call to a worker thread (io_env.cc); tests wrap it to fail,
// shorten or refuse any operation, because strace and LD_PRELOAD cannot see
// io_uring.
//
// An IoEnv is used by one thread at a time (whichever holds the store's
// journal lock), except datasync(), which the journal thread also calls
// without that lock, beside another thread's calls (SegmentWriter::run_sync):
// datasync() must be safe to call concurrently with the other operations;
// and index_call() and sync_mapping(), which the index thread makes beside
// the journal's operations, likewise.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "reel/status.h"
#include "wal/store_files.h"

namespace reel::wal {

class IoEnv {
 public:
  virtual ~IoEnv() = default;

  // Creates `path` (which must not exist), preallocates `bytes` with
  // fallocate, and fsyncs the directory. A full disk is reported here, as
  // kNoSpace, and the partial file is removed.
  virtual Result<int> create_preallocated(const std::string& path, uint64_t bytes) = 0;
  // Opens an existing file for writing.
  virtual Result<int> open_for_write(const std::string& path) = 0;
  // One write attempt at `offset`; returns how many bytes the kernel took,
  // which may be fewer than asked. Callers loop.
  virtual Result<size_t> write_some(int fd, std::span<const uint8_t> data, uint64_t offset,
                                    const std::string& name) = 0;
  // write_some, followed in the same call by `zero_tail` zero bytes (at
  // most a page) right after `data`. The segment writer pads each write to
  // its page's end so that no later write must first read that page from
  // the disk (wal/zeroer.h). Returns how many bytes the kernel took, data
  // first. The default writes `data` alone: padding is never needed for
  // correctness.
  virtual Result<size_t> write_some_padded(int fd, std::span<const uint8_t> data, size_t zero_tail,
                                           uint64_t offset, const std::string& name) {
    (void)zero_tail;
    return write_some(fd, data, offset, name);
  }
  // fdatasync, issued only after every write it must cover has completed.
  virtual Status datasync(int fd, const std::string& name) = 0;
  // Starts writing [offset, offset + bytes) back to the disk and returns
  // (sync_file_range, SYNC_FILE_RANGE_WRITE): the next datasync has less
  // left to do. It makes nothing durable; only datasync does. An error is
  // the write-back's own (ext4 may drop the pages it could not map without
  // recording it for fdatasync), so the writer treats it as a failed write.
  virtual Status start_writeback(int fd, uint64_t offset, uint64_t bytes, const std::string& name) {
    (void)fd;
    (void)offset;
    (void)bytes;
    (void)name;
    return Status::ok();
  }
  virtual Status fsync_dir(const std::string& dir) = 0;
  // Renames `from` to `to`, which must not exist (kIoError, EEXIST, if it
  // does: a reader may have it mapped). The caller fsyncs the directory.
  virtual Status rename(const std::string& from, const std::string& to) = 0;
  // unlink(2); a missing file is not an error.
  virtual Status remove(const std::string& path) = 0;
  // Makes sure [0, bytes) is allocated (extends a file that was cut short;
  // never shrinks one, so no reader's mapping can fault).
  virtual Status preallocate(int fd, uint64_t bytes, const std::string& name) = 0;
  virtual void close(int fd) = 0;
  // Registers `memory` (the ring) with the kernel, so that writes from it
  // skip the per-write page pinning (io_uring fixed buffers). Optional: an
  // environment that cannot (RLIMIT_MEMLOCK) writes it like any memory.
  virtual Status register_buffer(std::span<uint8_t> memory) {
    (void)memory;
    return Status::ok();
  }
  // Forgets the registered memory. Must be called before that memory is
  // freed while the environment lives on: the kernel keeps the pages it
  // pinned at registration, so a write from a new allocation at the same
  // address would write the old pages' bytes.
  virtual void unregister_buffer() {}

  // --- The store's other files, through the same seam (wal/store_files.h
  // has the real operations, which these defaults run) ---
  // msync(MS_SYNC) of `bytes` at `addr`, a shared mapping of `name` (the
  // head file's durable fields).
  virtual Status sync_mapping(void* addr, size_t bytes, const std::string& name) {
    return wal::sync_mapping(addr, bytes, name);
  }
  // Replaces `path` atomically and durably with `bytes` (write a temporary,
  // fsync, rename, fsync the directory): schemas, the head file's fallback.
  virtual Status write_file_atomic(const std::string& path, std::string_view bytes) {
    return wal::write_file_atomic(path, bytes);
  }
  // flock(LOCK_EX | LOCK_NB) on `fd`, opened on `path` (the writer lock):
  // kBusy when another open file holds it.
  virtual Status lock_exclusive(int fd, const std::string& path) {
    return wal::lock_exclusive(fd, path);
  }
  // Zeroing ahead (wal/zeroer.h) asks here before it writes zeros over
  // [from, to) of segment `name` (with its own O_DIRECT descriptor and ring,
  // in the background). An error counts as a failed zeroing write: zeroing
  // stops for that segment and nothing else changes, as zeros go only over
  // blocks that already read as zeros.
  virtual Status before_zeroing(const std::string& name, uint64_t from, uint64_t to) {
    (void)name;
    (void)from;
    (void)to;
    return Status::ok();
  }
  // One LMDB call that reads or writes the index's files (mdb_env_open,
  // mdb_txn_commit, mdb_env_sync): runs `call` and returns its LMDB code. A
  // test environment may return a failure without running it; the caller
  // then cleans up as after that failure. `what` names the call and index.
  virtual int index_call(const std::function<int()>& call, const std::string& what) {
    (void)what;
    return call();
  }
};

// The real environment: io_uring for writes it can complete inline, syscalls
// for the rest.
Result<std::unique_ptr<IoEnv>> make_uring_env();

// Writes all of `data` at `offset` through env, resubmitting the rest after
// short writes, and then, where the env pads, up to `zero_tail` zero bytes
// (write_some_padded; a short tail is not retried). A write that makes no
// progress is an error.
Status write_all(IoEnv* env, int fd, std::span<const uint8_t> data, uint64_t offset,
                 const std::string& name, size_t zero_tail = 0);

}  // namespace reel::wal
