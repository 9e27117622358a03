#include "wal/io_env.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/fs.h>

#include <algorithm>
#include <cerrno>

#include "wal/uring.h"

namespace reel::wal {
namespace {

// The source of write_some_padded's zero tails.
constexpr size_t kMaxZeroTail = 4096;
const uint8_t kZeroTail[kMaxZeroTail] = {};

class UringEnv final : public IoEnv {
 public:
  Status init() { return ring_.init(8); }

  Result<int> create_preallocated(const std::string& path, uint64_t bytes) override {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return Status::from_errno(path + ": cannot create segment", errno);
    int rc = ::posix_fallocate(fd, 0, static_cast<off_t>(bytes));
    if (rc != 0) {
      ::close(fd);
      ::unlink(path.c_str());
      return Status::from_errno(path + ": cannot preallocate " + std::to_string(bytes) + " bytes",
                                rc);
    }
    if (::fsync(fd) != 0) {
      int err = errno;
      ::close(fd);
      ::unlink(path.c_str());
      return Status::from_errno(path + ": fsync after preallocation", err);
    }
    return fd;
  }

  Result<int> open_for_write(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return Status::from_errno(path + ": cannot open for writing", errno);
    return fd;
  }

  // Through io_uring when the kernel can complete the write inline
  // (RWF_NOWAIT: XFS, btrfs); otherwise pwrite(2) on this thread. Without
  // RWF_NOWAIT io_uring would hand every such write to an io-wq worker and
  // wake this thread when it is done: on ext4, which has no non-blocking
  // buffered writes, that is every write, and two cross-CPU wake-ups (tens
  // of microseconds on a VM) spent on nothing (docs/benchmarks.md, "Where the time goes").
  Result<size_t> write_some(int fd, std::span<const uint8_t> data, uint64_t offset,
                            const std::string& name) override {
    const iovec iov{const_cast<uint8_t*>(data.data()), data.size()};
    return write_vec(fd, &iov, 1, offset, name);
  }

  Result<size_t> write_some_padded(int fd, std::span<const uint8_t> data, size_t zero_tail,
                                   uint64_t offset, const std::string& name) override {
    // From the registered ring, while the file takes inline writes, the
    // fixed-buffer write without the pad (a vectored write cannot use the
    // registration); the pad only saves a page read, which such a file
    // system would refuse to do inline anyway (the fd then goes to pwritev,
    // padded). Not measured: ext4 here never takes inline writes.
    if (fd != blocking_fd_ && in_fixed(data)) return write_some(fd, data, offset, name);
    const iovec iov[2] = {{const_cast<uint8_t*>(data.data()), data.size()},
                          {const_cast<uint8_t*>(kZeroTail), std::min(zero_tail, kMaxZeroTail)}};
    return write_vec(fd, iov, 2, offset, name);
  }

  Result<size_t> write_vec(int fd, const iovec* iov, int count, uint64_t offset,
                           const std::string& name) {
    if (fd != blocking_fd_) {
      int res = 0;
      if (const int rc = uring_write(fd, iov, count, offset, &res); rc < 0) {
        return Status::from_errno(
            name + ": io_uring submission of the write at offset " + std::to_string(offset), -rc);
      }
      if (res >= 0) return static_cast<size_t>(res);
      if (res != -EAGAIN && res != -EOPNOTSUPP) {
        return Status::from_errno(name + ": write at offset " + std::to_string(offset), -res);
      }
      // Refused because it would block. A file that never takes one inline
      // write is written with pwrite(2) from now on.
      if (fd != inline_fd_) blocking_fd_ = fd;
    }
    ssize_t n = 0;
    do {  // a signal before any byte was written: nothing happened, try again
      n = ::pwritev(fd, iov, count, static_cast<off_t>(offset));
    } while (n < 0 && errno == EINTR);
    if (n < 0)
      return Status::from_errno(name + ": write at offset " + std::to_string(offset), errno);
    return static_cast<size_t>(n);
  }

  // fdatasync(2) on this thread: io_uring runs IORING_OP_FSYNC on an io-wq
  // worker always, which costs the same two wake-ups as a punted write.
  Status datasync(int fd, const std::string& name) override {
    if (::fdatasync(fd) != 0) return Status::from_errno(name + ": fdatasync", errno);
    return Status::ok();
  }

  Status start_writeback(int fd, uint64_t offset, uint64_t bytes,
                         const std::string& name) override {
    if (::sync_file_range(fd, static_cast<off_t>(offset), static_cast<off_t>(bytes),
                          SYNC_FILE_RANGE_WRITE) == 0) {
      return Status::ok();
    }
    // Nothing started, the pages stay dirty: fdatasync writes them later.
    if (errno == EINTR || errno == ENOMEM || errno == EAGAIN) return Status::ok();
    return Status::from_errno(name + ": write-back from offset " + std::to_string(offset), errno);
  }

  Status fsync_dir(const std::string& dir) override { return fsync_directory(dir); }

  Status rename(const std::string& from, const std::string& to) override {
    // Never over an existing file: a reader may have the old one mapped.
    if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) != 0) {
      return Status::from_errno(from + ": rename to " + to, errno);
    }
    return Status::ok();
  }

  Status remove(const std::string& path) override {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return Status::from_errno(path + ": unlink", errno);
    }
    return Status::ok();
  }

  Status preallocate(int fd, uint64_t bytes, const std::string& name) override {
    int rc = ::posix_fallocate(fd, 0, static_cast<off_t>(bytes));
    if (rc != 0) return Status::from_errno(name + ": preallocate " + std::to_string(bytes), rc);
    return Status::ok();
  }

  void close(int fd) override {
    if (fd == blocking_fd_) blocking_fd_ = -1;
    if (fd == inline_fd_) inline_fd_ = -1;
    ::close(fd);
  }

  // One RWF_NOWAIT write through the ring: 0 and *res (bytes written, or
  // -errno), or the submission's -errno. `iov` lives until it completes.
  int uring_write(int fd, const iovec* iov, int count, uint64_t offset, int* res) {
    io_uring_sqe* sqe = ring_.get_sqe();
    const auto* data = static_cast<const uint8_t*>(iov[0].iov_base);
    const auto size = static_cast<unsigned>(iov[0].iov_len);
    if (count > 1) {
      io_uring_prep_writev(sqe, fd, iov, static_cast<unsigned>(count), offset);
    } else if (in_fixed({data, size})) {
      io_uring_prep_write_fixed(sqe, fd, data, size, offset, 0);
    } else {
      io_uring_prep_write(sqe, fd, data, size, offset);
    }
    sqe->rw_flags = RWF_NOWAIT;
    const int rc = ring_.submit_and_wait_one(res);
    if (rc == 0 && *res >= 0) inline_fd_ = fd;
    return rc;
  }

  bool in_fixed(std::span<const uint8_t> data) const {
    const auto* base = static_cast<const uint8_t*>(fixed_.iov_base);
    return base != nullptr && data.data() >= base &&
           data.data() + data.size() <= base + fixed_.iov_len;
  }

  Status register_buffer(std::span<uint8_t> memory) override {
    // Pinning the ring (~100 ms for 64 MiB) buys nothing for a file written
    // with pwrite(2): the writes would not come from the registered buffer.
    if (blocking_fd_ >= 0) return Status::ok();
    iovec iov{memory.data(), memory.size()};
    int rc = ring_.register_buffers(&iov, 1);
    if (rc < 0) return Status::from_errno("io_uring_register_buffers", -rc);
    fixed_ = iov;
    return Status::ok();
  }

  void unregister_buffer() override {
    if (fixed_.iov_base == nullptr) return;
    ring_.unregister_buffers();
    fixed_ = {nullptr, 0};
  }

 private:
  Uring ring_;
  iovec fixed_{nullptr, 0};  // the registered buffer (index 0), if any
  int inline_fd_ = -1;       // took an inline write: keep trying io_uring first
  int blocking_fd_ = -1;     // refused its first inline write: pwrite only
};

}  // namespace

Result<std::unique_ptr<IoEnv>> make_uring_env() {
  auto env = std::make_unique<UringEnv>();
  Status s = env->init();
  if (!s) return s;
  return std::unique_ptr<IoEnv>(std::move(env));
}

Status write_all(IoEnv* env, int fd, std::span<const uint8_t> data, uint64_t offset,
                 const std::string& name, size_t zero_tail) {
  while (!data.empty()) {
    // io_uring takes at most 2 GiB - 4 KiB per write, like write(2).
    auto chunk = data.subspan(0, std::min<size_t>(data.size(), size_t{1} << 30));
    const size_t tail = chunk.size() == data.size() ? zero_tail : 0;
    auto written = tail > 0 ? env->write_some_padded(fd, chunk, tail, offset, name)
                            : env->write_some(fd, chunk, offset, name);
    if (!written) return written.status();
    if (*written == 0) {
      return Status::io_error(name + ": write at offset " + std::to_string(offset) +
                              " made no progress");
    }
    const size_t took = std::min(*written, chunk.size());
    data = data.subspan(took);
    offset += took;
  }
  return Status::ok();
}

}  // namespace reel::wal
