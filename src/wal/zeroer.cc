#include "wal/zeroer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace reel::wal {
namespace {

// O_DIRECT wants offsets, sizes and memory aligned to the logical block
// size; a page covers every device this runs on.
constexpr uint64_t kAlign = 4096;
// Read only (by the kernel, as the source of every zeroing write).
alignas(kAlign) uint8_t g_zeros[Zeroer::kChunkBytes];
// RWF_NOWAIT refusals in a row after which zeroing stops for the segment:
// the file system would only ever do it from a worker thread.
constexpr int kMaxRefusals = 16;

uint64_t round_up(uint64_t v, uint64_t to) {
  return (v + to - 1) / to * to;
}

// Chunks start on a page boundary past the writer's end, whatever the page
// size: the writer pads its last page (SegmentWriter::append_batch).
uint64_t page_bytes() {
  static const uint64_t page =
      std::max<uint64_t>(kAlign, static_cast<uint64_t>(::sysconf(_SC_PAGESIZE)));
  return page;
}

}  // namespace

Result<std::unique_ptr<Zeroer>> Zeroer::open(const std::string& path, uint64_t capacity,
                                             uint64_t window, IoEnv* env) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_DIRECT | O_CLOEXEC);
  if (fd < 0) return Status::from_errno(path + ": open with O_DIRECT for zeroing", errno);
  std::unique_ptr<Zeroer> z(new Zeroer(fd, capacity, window));
  z->path_ = path;
  z->env_ = env;
  if (Status s = z->ring_.init(2); !s) return s;
  return z;
}

Zeroer::Zeroer(int fd, uint64_t capacity, uint64_t window)
    : fd_(fd), limit_(capacity / kAlign * kAlign), window_(window) {}

Zeroer::~Zeroer() {
  // reap(true) fails only if waiting itself fails (EINTR is retried); the
  // write would then finish on its own, the kernel holding the file.
  if (in_flight_) (void)reap(true);
  ::close(fd_);
}

bool Zeroer::allowed(uint64_t from, uint64_t to) {
  if (env_ == nullptr || env_->before_zeroing(path_, from, to).is_ok()) return true;
  stopped_ = true;
  return false;
}

Status Zeroer::zero_now(uint64_t from, uint64_t to) {
  from = round_up(from, kAlign);
  to = std::min(to, limit_) / kAlign * kAlign;
  uint64_t off = from;
  while (off < to) {
    const size_t n = static_cast<size_t>(std::min(to - off, kChunkBytes));
    if (!allowed(off, off + n)) return Status::io_error(path_ + ": zeroing refused");
    const ssize_t w = ::pwrite(fd_, g_zeros, n, static_cast<off_t>(off));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      stopped_ = true;
      return Status::from_errno("zeroing at offset " + std::to_string(off), w < 0 ? errno : EIO);
    }
    off += static_cast<uint64_t>(w) / kAlign * kAlign;
    if (static_cast<uint64_t>(w) < kAlign) break;  // no whole page: give up quietly
  }
  zeroed_to_ = std::max(zeroed_to_, off);
  return Status::ok();
}

void Zeroer::start_ahead(uint64_t end) {
  if (in_flight_) (void)reap(false);
  if (stopped_ || in_flight_ || zeroed_to_ >= end + window_) return;
  // Contiguous with what is zeroed while that is ahead of the writer; when
  // the writer has caught up (after a resume, or past a stream of writes),
  // a margin ahead, so that its next write does not wait for the chunk.
  const uint64_t next_page = round_up(end, page_bytes());
  const uint64_t from = zeroed_to_ > next_page
                            ? zeroed_to_
                            : next_page + std::min(kChunkBytes, window_ / kAlign * kAlign);
  const uint64_t to = std::min(from + kChunkBytes, limit_);
  if (from >= to || !allowed(from, to)) return;
  io_uring_sqe* sqe = ring_.get_sqe();
  io_uring_prep_write(sqe, fd_, g_zeros, static_cast<unsigned>(to - from), from);
  sqe->rw_flags = RWF_NOWAIT;
  if (ring_.submit() != 1) {
    stopped_ = true;  // the SQE may still sit in the ring: never reap it
    return;
  }
  flight_from_ = from;
  flight_to_ = to;
  in_flight_ = true;
}

Status Zeroer::before_write(uint64_t to) {
  if (!in_flight_ || to <= flight_from_) return Status::ok();
  if (reap(false)) return Status::ok();  // done already
  ++waits_;
  if (!reap(true)) {
    return Status::io_error("zeroing ahead: lost track of the write at offset " +
                            std::to_string(flight_from_));
  }
  return Status::ok();
}

bool Zeroer::reap(bool wait) {
  int res = 0;
  const int rc = ring_.reap(wait, &res);
  if (rc < 0) {
    // Not done yet (peek), or waiting itself failed: the write may still be
    // under way, so it stays in flight and nobody writes where it does.
    if (rc != -EAGAIN || wait) stopped_ = true;
    return false;
  }
  in_flight_ = false;
  if (res == -EAGAIN) {
    // Refused (a page of the range is in the page cache, say: a reader's
    // read-ahead): leave that chunk as it is and go on past it.
    zeroed_to_ = std::max(zeroed_to_, flight_to_);
    if (++refusals_ >= kMaxRefusals) stopped_ = true;
    return true;
  }
  refusals_ = 0;
  if (res <= 0) {
    stopped_ = true;  // zeros over zeros: nothing is lost, only the speed-up
    return true;
  }
  zeroed_to_ = std::max(zeroed_to_, flight_from_ + static_cast<uint64_t>(res) / kAlign * kAlign);
  return true;
}

}  // namespace reel::wal
