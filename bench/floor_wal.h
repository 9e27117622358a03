// FloorWal: the least a write-ahead log can do to make batches of reel-sized
// frames durable on this disk, as a ceiling for reel's batched row.
// Benchmark code only.
//
// put() builds a frame of kFrameBytes (reel's frame for a 100-byte payload:
// a 24-byte header and the FlatBuffer around the payload) in memory: the
// record's wall-clock time, the payload and a CRC-32C over the frame, as
// reel's append does, but no ring claim, no FlatBuffer and no index. A
// writer thread that busy-polls (a core of its own, which reel's journal
// thread does not take) pwrites what is published as soon as it is, and
// starts writeback every 48 KB, so that the commit's fdatasync waits for the
// last pages only. commit() publishes the rest, waits for the writer and
// calls fdatasync. The file is preallocated (fallocate, as reel's segments
// are), and its space is prepared one of three ways (Space): not at all;
// zeroed while the log is written, by a thread keeping 8 MiB ahead of the
// writer with 1 MiB O_DIRECT writes (what reel's zeroing ahead does, at the
// data rate); or zeroed before the run, which is what zeroing would give
// if it cost the disk nothing.
//
// Not thread-safe: one thread calls put() and commit().
#pragma once

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "peers.h"
#include "util/crc32c.h"

namespace reel::bench {

class FloorWal final : public Peer {
 public:
  static constexpr size_t kFrameBytes = 188;
  static constexpr uint64_t kWritebackBytes = 48 * 1024;

  static constexpr uint64_t kZeroChunk = uint64_t{1} << 20, kZeroWindow = uint64_t{8} << 20;
  enum class Space { kPreallocated, kZeroedWhileWritten, kZeroedBefore };

  // Room for `records` frames in `dir`/floor.log.
  FloorWal(const std::string& dir, uint64_t records, Space space)
      : capacity_(records * kFrameBytes + kZeroWindow + kZeroChunk), log_(capacity_) {
    const std::string path = dir + "/floor.log";
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd_ < 0 || ::fallocate(fd_, 0, 0, static_cast<off_t>(capacity_)) != 0) {
      peer_die("floor: cannot preallocate " + path);
    }
    if (space == Space::kZeroedBefore) zero_fill(path);
    if (::fsync(fd_) != 0) peer_die("floor: fsync " + path);
    writer_ = std::thread([this] { write_loop(); });
    if (space == Space::kZeroedWhileWritten)
      zeroer_ = std::thread([this, path] { zero_loop(path); });
  }
  ~FloorWal() override {
    stop_.store(true);
    writer_.join();
    if (zeroer_.joinable()) zeroer_.join();
    ::close(fd_);
  }

  void put(uint64_t, std::string_view payload) override {
    if (end_ + kFrameBytes > capacity_) peer_die("floor: log full");
    uint8_t* f = log_.data() + end_;
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    const uint64_t ns = static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + ts.tv_nsec;
    std::memcpy(f + 8, &ns, sizeof ns);
    std::memcpy(f + kFrameBytes - payload.size(), payload.data(), payload.size());
    const uint32_t crc = crc32c::value(f + 8, kFrameBytes - 8);  // reel's own
    std::memcpy(f, &crc, sizeof crc);
    end_ += kFrameBytes;
    if (end_ - published_hint_ >= kWritebackBytes) publish();
  }

  void commit() override {
    publish();
    while (written_.load(std::memory_order_acquire) < end_) {
    }
    if (::fdatasync(fd_) != 0) peer_die("floor: fdatasync");
  }

 private:
  void publish() {
    published_hint_ = end_;
    published_.store(end_, std::memory_order_release);
  }

  void zero_fill(const std::string& path) {
    const std::vector<uint8_t> zeros(uint64_t{1} << 20, 0);
    for (uint64_t off = 0; off < capacity_; off += zeros.size()) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(zeros.size(), capacity_ - off));
      if (::pwrite(fd_, zeros.data(), n, static_cast<off_t>(off)) != static_cast<ssize_t>(n)) {
        peer_die("floor: zero-fill " + path);
      }
    }
  }

  // Keeps up to kZeroWindow past the writer zeroed, a chunk at a time,
  // starting a chunk past the writer's page when it has caught up. (A
  // writer that outran a chunk in flight could have bytes zeroed on disk:
  // harmless here, where nothing reads the file back.)
  void zero_loop(const std::string& path) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_DIRECT);
    void* zeros = nullptr;
    if (fd < 0 || ::posix_memalign(&zeros, 4096, kZeroChunk) != 0) peer_die("floor: O_DIRECT");
    std::memset(zeros, 0, kZeroChunk);
    uint64_t zeroed_to = 0;
    while (!stop_.load(std::memory_order_relaxed)) {
      const uint64_t written = written_.load(std::memory_order_acquire);
      if (zeroed_to < written + 4096) zeroed_to = (written + 4096) / 4096 * 4096 + kZeroChunk;
      if (zeroed_to >= written + kZeroWindow || zeroed_to + kZeroChunk > capacity_) {
        ::usleep(50);
        continue;
      }
      if (::pwrite(fd, zeros, kZeroChunk, static_cast<off_t>(zeroed_to)) < 0) {
        peer_die("floor: zeroing");
      }
      zeroed_to += kZeroChunk;
    }
    std::free(zeros);
    ::close(fd);
  }

  void write_loop() {
    uint64_t done = 0, writeback_from = 0;
    while (!stop_.load(std::memory_order_relaxed)) {
      const uint64_t to = published_.load(std::memory_order_acquire);
      if (to == done) continue;
      const auto n = static_cast<size_t>(to - done);
      if (::pwrite(fd_, log_.data() + done, n, static_cast<off_t>(done)) !=
          static_cast<ssize_t>(n)) {
        peer_die("floor: write");
      }
      done = to;
      written_.store(done, std::memory_order_release);
      const uint64_t pages = done / 4096 * 4096;
      if (pages >= writeback_from + kWritebackBytes) {
        (void)::sync_file_range(fd_, static_cast<off_t>(writeback_from),
                                static_cast<off_t>(pages - writeback_from), SYNC_FILE_RANGE_WRITE);
        writeback_from = pages;
      }
    }
  }

  uint64_t capacity_;
  std::vector<uint8_t> log_;
  int fd_ = -1;
  uint64_t end_ = 0, published_hint_ = 0;  // the caller's thread
  std::atomic<uint64_t> published_{0}, written_{0};
  std::atomic<bool> stop_{false};
  std::thread writer_, zeroer_;
};

}  // namespace reel::bench
