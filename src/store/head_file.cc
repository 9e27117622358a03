#include "store/head_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "ring/futex.h"
#include "store/store_dir.h"
#include "util/coding.h"

namespace reel::store {
namespace {

std::string read_text(const uint8_t* base, size_t offset) {
  const char* p = reinterpret_cast<const char*>(base + offset);
  return std::string(p, strnlen(p, kHeadBootIdBytes));
}

void write_text(uint8_t* base, size_t offset, const std::string& text) {
  std::memset(base + offset, 0, kHeadBootIdBytes);
  std::memcpy(base + offset, text.data(), std::min(text.size(), kHeadBootIdBytes));
}

struct flock live_lock(short type) {
  struct flock fl {};
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  fl.l_start = static_cast<off_t>(kHeadLiveLockByte);
  fl.l_len = 1;
  return fl;
}

// The mapping, and the descriptor kept open for the writer-session lock.
Result<std::pair<uint8_t*, int>> map_head(const std::string& path, bool writable) {
  int fd = ::open(path.c_str(), (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) return Status::from_errno(path + ": open head file", errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0 || st.st_size < static_cast<off_t>(kHeadFileBytes)) {
    ::close(fd);
    return Status::corruption(path + ": head file too short");
  }
  void* p = ::mmap(nullptr, kHeadFileBytes, writable ? PROT_READ | PROT_WRITE : PROT_READ,
                   MAP_SHARED, fd, 0);
  int err = errno;
  if (p == MAP_FAILED) {
    ::close(fd);
    return Status::from_errno(path + ": mmap head file", err);
  }
  if (std::memcmp(p, kHeadMagic, sizeof kHeadMagic) != 0) {
    ::munmap(p, kHeadFileBytes);
    ::close(fd);
    return Status::corruption(path + ": not a reel head file (bad magic)");
  }
  return std::make_pair(static_cast<uint8_t*>(p), fd);
}
}  // namespace

HeadFile::~HeadFile() {
  if (base_ != nullptr) ::munmap(base_, kHeadFileBytes);
  if (fd_ >= 0) ::close(fd_);  // drops a writer session's lock too
}

uint64_t HeadFile::load(size_t offset) const {
  if (base_ == nullptr) return 0;
  // Acquire: pairs with the release store in store().
  return std::atomic_ref<uint64_t>(*reinterpret_cast<uint64_t*>(base_ + offset))
      .load(std::memory_order_acquire);
}

void HeadFile::store(size_t offset, uint64_t value) {
  // Release: everything written before (frames, index commits) is visible to
  // a reader whose acquire load sees `value`.
  std::atomic_ref<uint64_t>(*reinterpret_cast<uint64_t*>(base_ + offset))
      .store(value, std::memory_order_release);
}

Status HeadFile::open_for_write(const std::string& path, uint64_t store_id, wal::IoEnv* env) {
  path_ = path;
  env_ = env;
  auto mapped = map_head(path, true);
  if (!mapped && mapped.status().code() != Code::kNotFound &&
      mapped.status().code() != Code::kCorruption) {
    return mapped.status();
  }
  if (!mapped) {
    std::string bytes(kHeadFileBytes, '\0');
    auto* p = reinterpret_cast<uint8_t*>(bytes.data());
    std::memcpy(p, kHeadMagic, sizeof kHeadMagic);
    encode_fixed32(p + kHeadVersionOffset, kHeadVersion);
    encode_fixed64(p + kHeadStoreIdOffset, store_id);
    Status s = env_->write_file_atomic(path, bytes);
    if (!s) return s;
    mapped = map_head(path, true);
    if (!mapped) return mapped.status();
  }
  base_ = mapped->first;
  fd_ = mapped->second;
  writable_ = true;
  if (store_id != 0 && load(kHeadStoreIdOffset) != store_id) store(kHeadStoreIdOffset, store_id);
  return Status::ok();
}

Status HeadFile::open_for_read(const std::string& path) {
  path_ = path;
  auto mapped = map_head(path, false);
  if (!mapped) return mapped.status();
  base_ = mapped->first;
  fd_ = mapped->second;
  return Status::ok();
}

std::string HeadFile::boot_id() const {
  if (base_ == nullptr) return "";
  return read_text(base_, kHeadBootIdOffset);
}

bool HeadFile::writer_may_be_live() const {
  if (base_ == nullptr || clean_shutdown()) return false;
  // Only tests the session lock (F_OFD_GETLK takes nothing): held exactly
  // while a writer process has this session open, whatever its pid
  // namespace, and gone the moment that process dies.
  struct flock fl = live_lock(F_RDLCK);
  if (::fcntl(fd_, F_OFD_GETLK, &fl) != 0) return true;  // cannot tell: assume live
  return fl.l_type != F_UNLCK;
}

Status HeadFile::begin_writer_session(uint64_t pid) {
  struct flock fl = live_lock(F_WRLCK);
  if (::fcntl(fd_, F_OFD_SETLK, &fl) != 0) {
    return Status::from_errno(path_ + ": cannot lock the head file for the writer session", errno);
  }
  store(kHeadWriterPidOffset, pid);
  store(kHeadGenerationOffset, generation() + 1);
  store(kHeadCleanShutdownOffset, 0);
  return Status::ok();
}

void HeadFile::end_writer_session() {
  struct flock fl = live_lock(F_UNLCK);
  if (fd_ >= 0) (void)::fcntl(fd_, F_OFD_SETLK, &fl);
}

Status HeadFile::mark_index_dirty(const std::string& boot_id) {
  write_text(base_, kHeadBootIdOffset, boot_id);
  store(kHeadIndexDirtyOffset, 1);
  return sync_mapping();
}

Status HeadFile::persist() {
  return sync_mapping();
}

Status HeadFile::sync_mapping() {
  return env_->sync_mapping(base_, kHeadFileBytes, path_);
}

Status HeadFile::mark_clean_shutdown() {
  store(kHeadCleanShutdownOffset, 1);
  return sync_mapping();
}

}  // namespace reel::store

namespace reel::store {

void HeadFile::notify() {
  auto* word = reinterpret_cast<uint32_t*>(base_ + kHeadNotifyEpochOffset);
  // Release: a waiter that sees the new epoch sees the watermark stored before.
  std::atomic_ref<uint32_t>(*word).fetch_add(1, std::memory_order_release);
  ring::futex_wake_all(word);
}

uint32_t HeadFile::epoch() const {
  if (base_ == nullptr) return 0;
  return std::atomic_ref<uint32_t>(*reinterpret_cast<uint32_t*>(base_ + kHeadNotifyEpochOffset))
      .load(std::memory_order_acquire);
}

void HeadFile::wait_for_change(uint32_t seen, std::chrono::nanoseconds timeout) const {
  if (base_ == nullptr) return;
  ring::futex_wait(reinterpret_cast<const uint32_t*>(base_ + kHeadNotifyEpochOffset), seen,
                   timeout);
}

}  // namespace reel::store
