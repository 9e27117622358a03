// FaultEnv: wraps the real io_uring environment and fails, shortens or
// refuses chosen operations (the I/O seam of style.md / reliability.md).
#pragma once

#include <atomic>
#include <cerrno>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "wal/io_env.h"

namespace reel::testing {

// Forwards every operation to `target`: the base of the test environments
// below, each of which overrides only what it interferes with. As it is, it
// is the environment a store may own while the test keeps the real one (so
// the test still reaches it after the store is gone).
class ForwardingEnv : public wal::IoEnv {
 public:
  explicit ForwardingEnv(wal::IoEnv* target) : target_(target) {}
  Result<int> create_preallocated(const std::string& path, uint64_t bytes) override {
    return target_->create_preallocated(path, bytes);
  }
  Result<int> open_for_write(const std::string& path) override {
    return target_->open_for_write(path);
  }
  Result<size_t> write_some(int fd, std::span<const uint8_t> data, uint64_t offset,
                            const std::string& name) override {
    return target_->write_some(fd, data, offset, name);
  }
  Status datasync(int fd, const std::string& name) override { return target_->datasync(fd, name); }
  Status start_writeback(int fd, uint64_t offset, uint64_t bytes,
                         const std::string& name) override {
    return target_->start_writeback(fd, offset, bytes, name);
  }
  Status fsync_dir(const std::string& dir) override { return target_->fsync_dir(dir); }
  Status rename(const std::string& from, const std::string& to) override {
    return target_->rename(from, to);
  }
  Status remove(const std::string& path) override { return target_->remove(path); }
  Status preallocate(int fd, uint64_t bytes, const std::string& name) override {
    return target_->preallocate(fd, bytes, name);
  }
  void close(int fd) override { target_->close(fd); }
  Status register_buffer(std::span<uint8_t> memory) override {
    return target_->register_buffer(memory);
  }
  void unregister_buffer() override { target_->unregister_buffer(); }
  Status sync_mapping(void* addr, size_t bytes, const std::string& name) override {
    return target_->sync_mapping(addr, bytes, name);
  }
  Status write_file_atomic(const std::string& path, std::string_view bytes) override {
    return target_->write_file_atomic(path, bytes);
  }
  Status lock_exclusive(int fd, const std::string& path) override {
    return target_->lock_exclusive(fd, path);
  }
  int index_call(const std::function<int()>& call, const std::string& what) override {
    return target_->index_call(call, what);
  }
  Status before_zeroing(const std::string& name, uint64_t from, uint64_t to) override {
    return target_->before_zeroing(name, from, to);
  }

 protected:
  wal::IoEnv* target_;
};
using BorrowedEnv = ForwardingEnv;

// A ForwardingEnv that owns its target: the real io_uring environment.
class UringForwardingEnv : public ForwardingEnv {
 public:
  UringForwardingEnv() : ForwardingEnv(nullptr), real_(std::move(*wal::make_uring_env())) {
    target_ = real_.get();
  }

 private:
  std::unique_ptr<wal::IoEnv> real_;
};

class FaultEnv final : public UringForwardingEnv {
 public:
  struct Plan {
    // Atomic: tests change the plan while the store's journal thread runs.
    std::atomic<int> fail_create_after{-1};  // creations allowed before ENOSPC (-1: never)
    std::atomic<int> fail_write_at{-1};      // index of the write_some call that fails with EIO
    std::atomic<int> fail_sync_at{-1};       // index of the datasync call that fails with EIO
    std::atomic<bool> short_writes{false};   // every write takes at most half (rounded up)
    std::atomic<int> fail_writeback_at{-1};  // index of the start_writeback call that fails (EIO)
  };

  explicit FaultEnv(Plan* plan) : plan_(plan) {}

  std::atomic<int> creates{0}, writes{0}, syncs{0}, writebacks{0};

  Result<int> create_preallocated(const std::string& path, uint64_t bytes) override {
    if (plan_->fail_create_after >= 0 && creates >= plan_->fail_create_after) {
      return Status::from_errno(path + ": cannot preallocate " + std::to_string(bytes) + " bytes",
                                ENOSPC);
    }
    ++creates;
    return UringForwardingEnv::create_preallocated(path, bytes);
  }
  Result<size_t> write_some(int fd, std::span<const uint8_t> data, uint64_t offset,
                            const std::string& name) override {
    if (writes++ == plan_->fail_write_at) {
      return Status::from_errno(name + ": write at offset " + std::to_string(offset), EIO);
    }
    if (plan_->short_writes && data.size() > 1) data = data.subspan(0, (data.size() + 1) / 2);
    return UringForwardingEnv::write_some(fd, data, offset, name);
  }
  Status datasync(int fd, const std::string& name) override {
    if (syncs++ == plan_->fail_sync_at) return Status::from_errno(name + ": fdatasync", EIO);
    return UringForwardingEnv::datasync(fd, name);
  }
  Status start_writeback(int fd, uint64_t offset, uint64_t bytes,
                         const std::string& name) override {
    if (writebacks++ == plan_->fail_writeback_at) {
      return Status::from_errno(name + ": write-back from offset " + std::to_string(offset), EIO);
    }
    return UringForwardingEnv::start_writeback(fd, offset, bytes, name);
  }

 private:
  Plan* plan_;
};

// SweepEnv: fails the n-th call (0-based) of one kind of operation, once,
// and counts every kind, for the Nth-operation fault sweep. A kShortWrite
// "fault" makes that write take half of what it was given, which is not an
// error: the writer must resubmit the rest.
class SweepEnv final : public UringForwardingEnv {
 public:
  enum Op {
    kCreate,
    kOpen,
    kWrite,
    kShortWrite,
    kSync,
    kSyncDir,
    kPreallocate,
    kRename,
    kRemove,
    kSyncMapping,
    kAtomicWrite,
    kLock,
    kIndexOpen,
    kIndexCommit,
    kIndexSync,
    kZeroing,
    kOpCount
  };
  static const char* name(int op) {
    static const char* names[] = {"create",     "open",        "write",        "short write",
                                  "fdatasync",  "fsync_dir",   "preallocate",  "rename",
                                  "unlink",     "head msync",  "atomic write", "writer lock",
                                  "index open", "LMDB commit", "index sync",   "zeroing"};
    return names[op];
  }

  SweepEnv(int op, int n) : op_(op), n_(n) {}
  bool fired() const { return fired_; }
  int calls(int op) const { return calls_[op]; }

  Result<int> create_preallocated(const std::string& path, uint64_t bytes) override {
    if (hit(kCreate)) return Status::from_errno(path + ": cannot create segment", EIO);
    return UringForwardingEnv::create_preallocated(path, bytes);
  }
  Result<int> open_for_write(const std::string& path) override {
    if (hit(kOpen)) return Status::from_errno(path + ": cannot open for writing", EIO);
    return UringForwardingEnv::open_for_write(path);
  }
  Result<size_t> write_some(int fd, std::span<const uint8_t> data, uint64_t offset,
                            const std::string& name) override {
    if (hit(kWrite))
      return Status::from_errno(name + ": write at offset " + std::to_string(offset), EIO);
    if (hit(kShortWrite) && data.size() > 1) data = data.first((data.size() + 1) / 2);
    return UringForwardingEnv::write_some(fd, data, offset, name);
  }
  Status datasync(int fd, const std::string& name) override {
    if (hit(kSync)) return Status::from_errno(name + ": fdatasync", EIO);
    return UringForwardingEnv::datasync(fd, name);
  }
  Status fsync_dir(const std::string& dir) override {
    if (hit(kSyncDir)) return Status::from_errno(dir + ": fsync", EIO);
    return UringForwardingEnv::fsync_dir(dir);
  }
  Status rename(const std::string& from, const std::string& to) override {
    if (hit(kRename)) return Status::from_errno(from + ": rename to " + to, EIO);
    return UringForwardingEnv::rename(from, to);
  }
  Status remove(const std::string& path) override {
    if (hit(kRemove)) return Status::from_errno(path + ": unlink", EIO);
    return UringForwardingEnv::remove(path);
  }
  Status preallocate(int fd, uint64_t bytes, const std::string& name) override {
    if (hit(kPreallocate)) {
      return Status::from_errno(name + ": preallocate " + std::to_string(bytes) + " bytes", EIO);
    }
    return UringForwardingEnv::preallocate(fd, bytes, name);
  }
  Status sync_mapping(void* addr, size_t bytes, const std::string& name) override {
    if (hit(kSyncMapping)) return Status::from_errno(name + ": msync", EIO);
    return UringForwardingEnv::sync_mapping(addr, bytes, name);
  }
  Status write_file_atomic(const std::string& path, std::string_view bytes) override {
    if (hit(kAtomicWrite)) return Status::from_errno(path + ".tmp: write", EIO);
    return UringForwardingEnv::write_file_atomic(path, bytes);
  }
  Status lock_exclusive(int fd, const std::string& path) override {
    if (hit(kLock)) return Status::from_errno(path + ": flock", EIO);
    return UringForwardingEnv::lock_exclusive(fd, path);
  }
  Status before_zeroing(const std::string& name, uint64_t from, uint64_t to) override {
    if (hit(kZeroing)) return Status::from_errno(name + ": zeroing", EIO);
    return UringForwardingEnv::before_zeroing(name, from, to);
  }
  int index_call(const std::function<int()>& call, const std::string& what) override {
    const int op = what.find("open") != std::string::npos     ? kIndexOpen
                   : what.find("commit") != std::string::npos ? kIndexCommit
                                                              : kIndexSync;
    if (hit(op)) return EIO;
    return UringForwardingEnv::index_call(call, what);
  }

 private:
  bool hit(int op) {
    if (calls_[op]++ != n_ || op != op_) return false;
    fired_ = true;
    return true;
  }

  int op_, n_;
  std::atomic<bool> fired_{false};
  std::atomic<int> calls_[kOpCount] = {};
};

}  // namespace reel::testing
