// PowerLossEnv: the I/O seam (wal/io_env.h) with a power switch. It passes
// every operation to the real io_uring environment and remembers what a
// power cut could undo:
//
//   - every write since its file's last datasync, with the bytes it
//     replaced;
//   - every rename since its directory's last fsync_dir.
//
// cut() turns the power off: from then on every operation fails with EIO,
// as if the machine had stopped, and nothing more reaches the files.
// apply_power_loss(rng) then makes the files look like a disk after the cut:
// what was synced stays; each unsynced write independently keeps its new
// bytes, goes back to the bytes it replaced, is torn at a random byte (new
// bytes before it, old after, or the other way round) or ends in garbage
// from a random byte on, which covers writes lost, reordered and torn; a
// random suffix of the unsynced renames is undone (a file system journals
// metadata in order). Bytes that were synced are never touched (a disk
// writes a sector whole or not at all, and reel never rewrites synced
// bytes). Writes are undone newest first.
//
// Not modelled: removals and preallocation are taken as durable at once
// (recovery removes only files that never held a record), and what the
// kernel does to files written outside the seam (the head file, LMDB) is
// for the test to choose.
//
// The journal thread calls the seam; the test thread calls cut() and
// apply_power_loss() after the store has stopped. A mutex keeps the books.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "fault_env.h"
#include "wal/io_env.h"

namespace reel::testing {

class PowerLossEnv final : public UringForwardingEnv {
 public:
  // Turns the power off once `ops` more operations have passed (0: now).
  void cut_after(uint64_t ops) { cut_at_ = done_ops_.load() + ops; }
  void cut() { cut_after(0); }
  bool is_cut() const { return done_ops_.load() >= cut_at_.load(); }
  uint64_t ops() const { return done_ops_.load(); }

  // What a cut left, for the test's message.
  struct Damage {
    uint64_t writes_kept = 0, writes_reverted = 0, writes_torn = 0, writes_garbled = 0;
    uint64_t renames_undone = 0;
  };

  // Makes the files look like the disk after the cut (see above). Call after
  // cut(), once the store has stopped.
  Damage apply_power_loss(std::mt19937_64& rng) {
    std::lock_guard<std::mutex> lock(mu_);
    Damage d;
    // Metadata first: a suffix of the unsynced renames never happened.
    const size_t keep = pending_renames_.empty() ? 0 : rng() % (pending_renames_.size() + 1);
    for (size_t i = pending_renames_.size(); i > keep; --i) {
      const auto& [from, to] = pending_renames_[i - 1];
      std::filesystem::rename(to, from);
      move_pages(to, from);
      ++d.renames_undone;
    }
    for (auto& [path, writes] : unsynced_) {
      for (size_t i = writes.size(); i > 0; --i) damage_write(path, writes[i - 1], rng, &d);
    }
    unsynced_.clear();
    pending_renames_.clear();
    return d;
  }

  Result<int> create_preallocated(const std::string& path, uint64_t bytes) override {
    if (Status s = step(path); !s) return s;
    auto fd = UringForwardingEnv::create_preallocated(path, bytes);
    if (fd) remember_fd(*fd, path);
    return fd;
  }
  Result<int> open_for_write(const std::string& path) override {
    if (Status s = step(path); !s) return s;
    auto fd = UringForwardingEnv::open_for_write(path);
    if (fd) remember_fd(*fd, path);
    return fd;
  }
  Result<size_t> write_some(int fd, std::span<const uint8_t> data, uint64_t offset,
                            const std::string& name) override {
    if (Status s = step(name); !s) return s;
    const std::string old = read_range(fd, offset, data.size());
    auto n = UringForwardingEnv::write_some(fd, data, offset, name);
    if (n) {
      std::lock_guard<std::mutex> lock(mu_);
      unsynced_[fd_paths_[fd]].push_back(
          {offset, old.substr(0, *n), std::string(reinterpret_cast<const char*>(data.data()), *n)});
    }
    return n;
  }
  // The store's journal thread syncs while producers write (writes that
  // began after the sync did may or may not be in it): only the writes
  // made before it began count as synced.
  Status datasync(int fd, const std::string& name) override {
    if (Status s = step(name); !s) return s;
    size_t before = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      before = unsynced_[fd_paths_[fd]].size();
    }
    Status s = UringForwardingEnv::datasync(fd, name);
    if (s) {
      std::lock_guard<std::mutex> lock(mu_);
      auto& writes = unsynced_[fd_paths_[fd]];
      writes.erase(writes.begin(),
                   writes.begin() + static_cast<ptrdiff_t>(std::min(before, writes.size())));
    }
    return s;
  }
  Status fsync_dir(const std::string& dir) override {
    if (Status s = step(dir); !s) return s;
    Status s = UringForwardingEnv::fsync_dir(dir);
    if (s) {
      std::lock_guard<std::mutex> lock(mu_);
      std::erase_if(pending_renames_, [&](const auto& r) {
        return std::filesystem::path(r.second).parent_path() == std::filesystem::path(dir);
      });
    }
    return s;
  }
  Status rename(const std::string& from, const std::string& to) override {
    if (Status s = step(from); !s) return s;
    Status s = UringForwardingEnv::rename(from, to);
    if (s) {
      std::lock_guard<std::mutex> lock(mu_);
      pending_renames_.emplace_back(from, to);
      move_pages(from, to);
      for (auto& [fd, path] : fd_paths_) {
        if (path == from) path = to;
      }
    }
    return s;
  }
  Status remove(const std::string& path) override {
    if (Status s = step(path); !s) return s;
    return UringForwardingEnv::remove(path);
  }
  Status preallocate(int fd, uint64_t bytes, const std::string& name) override {
    if (Status s = step(name); !s) return s;
    return UringForwardingEnv::preallocate(fd, bytes, name);
  }

 private:
  Status step(const std::string& what) {
    if (done_ops_.fetch_add(1) >= cut_at_.load()) {
      return Status::from_errno(what + ": power is off", EIO);
    }
    return Status::ok();
  }

  void remember_fd(int fd, const std::string& path) {
    std::lock_guard<std::mutex> lock(mu_);
    fd_paths_[fd] = path;
  }

  struct Write {
    uint64_t offset;
    std::string old_bytes, new_bytes;
  };

  // The bytes a write is about to replace (zeros past the end of the file).
  std::string read_range(int fd, uint64_t offset, size_t n) {
    std::string path;
    {
      std::lock_guard<std::mutex> lock(mu_);
      path = fd_paths_[fd];
    }
    std::string old(n, '\0');
    int rfd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (rfd >= 0) {
      (void)!::pread(rfd, old.data(), n, static_cast<off_t>(offset));
      ::close(rfd);
    }
    return old;
  }

  void move_pages(const std::string& from, const std::string& to) {
    auto it = unsynced_.find(from);
    if (it == unsynced_.end()) return;
    unsynced_[to] = std::move(it->second);
    unsynced_.erase(from);
  }

  static void damage_write(const std::string& path, const Write& w, std::mt19937_64& rng,
                           Damage* d) {
    std::string out = w.new_bytes;
    const size_t n = out.size();
    const size_t at = n == 0 ? 0 : rng() % n;
    switch (rng() % 4) {
      case 0:
        ++d->writes_kept;
        return;
      case 1:
        out = w.old_bytes;
        ++d->writes_reverted;
        break;
      case 2: {
        const bool new_first = rng() % 2 == 0;
        for (size_t i = 0; i < n; ++i)
          out[i] = (i < at) == new_first ? w.new_bytes[i] : w.old_bytes[i];
        ++d->writes_torn;
        break;
      }
      default:
        for (size_t i = at; i < n; ++i) out[i] = static_cast<char>(rng());
        ++d->writes_garbled;
    }
    int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return;
    (void)!::pwrite(fd, out.data(), n, static_cast<off_t>(w.offset));
    ::close(fd);
  }

  std::atomic<uint64_t> done_ops_{0};
  std::atomic<uint64_t> cut_at_{UINT64_MAX};
  std::mutex mu_;
  std::map<int, std::string> fd_paths_;
  std::map<std::string, std::vector<Write>> unsynced_;  // path -> writes since its last sync
  std::vector<std::pair<std::string, std::string>> pending_renames_;
};

}  // namespace reel::testing
