// FaultEnv: wraps the real io_uring environment and fails, shortens or
// refuses chosen operations (the I/O seam of style.md / reliability.md).
#pragma once

#include <atomic>
#include <cerrno>
#include <memory>

#include "wal/io_env.h"

namespace reel::testing {

class FaultEnv final : public wal::IoEnv {
 public:
  struct Plan {
    // Atomic: tests change the plan while the store's journal thread runs.
    std::atomic<int> fail_create_after{-1};  // creations allowed before ENOSPC (-1: never)
    std::atomic<int> fail_write_at{-1};      // index of the write_some call that fails with EIO
    std::atomic<int> fail_sync_at{-1};       // index of the datasync call that fails with EIO
    std::atomic<bool> short_writes{false};   // every write takes at most half (rounded up)
  };

  explicit FaultEnv(Plan* plan) : plan_(plan) { inner_ = std::move(*wal::make_uring_env()); }

  std::atomic<int> creates{0}, writes{0}, syncs{0};

  Result<int> create_preallocated(const std::string& path, uint64_t bytes) override {
    if (plan_->fail_create_after >= 0 && creates >= plan_->fail_create_after) {
      return Status::from_errno(path + ": cannot preallocate " + std::to_string(bytes) + " bytes",
                                ENOSPC);
    }
    ++creates;
    return inner_->create_preallocated(path, bytes);
  }
  Result<int> open_for_write(const std::string& path) override {
    return inner_->open_for_write(path);
  }
  Result<size_t> write_some(int fd, std::span<const uint8_t> data, uint64_t offset,
                            const std::string& name) override {
    if (writes++ == plan_->fail_write_at) {
      return Status::from_errno(name + ": write at offset " + std::to_string(offset), EIO);
    }
    if (plan_->short_writes && data.size() > 1) data = data.subspan(0, (data.size() + 1) / 2);
    return inner_->write_some(fd, data, offset, name);
  }
  Status datasync(int fd, const std::string& name) override {
    if (syncs++ == plan_->fail_sync_at) return Status::from_errno(name + ": fdatasync", EIO);
    return inner_->datasync(fd, name);
  }
  Status fsync_dir(const std::string& dir) override { return inner_->fsync_dir(dir); }
  Status rename(const std::string& from, const std::string& to) override {
    return inner_->rename(from, to);
  }
  Status remove(const std::string& path) override { return inner_->remove(path); }
  Status preallocate(int fd, uint64_t bytes, const std::string& name) override {
    return inner_->preallocate(fd, bytes, name);
  }
  void close(int fd) override { inner_->close(fd); }
  Status register_buffer(std::span<uint8_t> memory) override {
    return inner_->register_buffer(memory);
  }

 private:
  Plan* plan_;
  std::unique_ptr<wal::IoEnv> inner_;
};

}  // namespace reel::testing
