#include "wal/segment_writer.h"

#include <unistd.h>

#include <algorithm>

#include "wal/frame_format.h"

namespace reel::wal {
namespace {

uint64_t page_bytes() {
  static const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  return page;
}

}  // namespace

SegmentWriter::~SegmentWriter() {
  if (fd_ >= 0) env_->close(fd_);
  if (named_.fd >= 0) env_->close(named_.fd);
}

Status SegmentWriter::fail(Status s) {
  if (failure_.is_ok()) {
    failure_ = Status::failed(s.message() + "; the store stops acknowledging writes");
  }
  return s;
}

Status SegmentWriter::start_segment(uint64_t first_seq, uint32_t segment_no) {
  if (!failure_.is_ok()) return failure_;
  if (fd_ >= 0) return Status::invalid_argument(path_ + ": previous segment not sealed");
  if (named_.fd >= 0) {
    if (named_.header.first_seq != first_seq) {
      return Status::invalid_argument(named_.path + ": a segment for seq " +
                                      std::to_string(first_seq) + " asked for instead");
    }
    const Named named = named_;
    named_ = {};
    return sync_name_and_activate(named.header, named.path, named.fd);
  }
  SegmentHeader header;
  header.store_id = store_id_;
  header.first_seq = first_seq;
  header.segment_no = segment_no;
  header.capacity_bytes = capacity_;
  // Built under a temporary name and renamed into place once its header and
  // preallocation are durable: a reader never sees a segment without a whole
  // header (schemas/format.md, "Segment creation").
  const std::string path = wal_dir_ + "/" + segment_file_name(first_seq);
  const std::string temp = path + kSegmentTempSuffix;
  (void)env_->remove(temp);  // left by a creation that failed or crashed
  auto fd = env_->create_preallocated(temp, capacity_);
  if (!fd) return fd.status();
  // Its conversions are committed by the header's datasync below.
  open_zeroer(temp, /*first_window=*/true);
  uint8_t bytes[kSegmentHeaderBytes];
  encode_segment_header(header, bytes);
  // Padded to the page's end, like every write with zeroing (append_batch).
  const uint64_t pad = zeroer_ ? std::min<uint64_t>(capacity_, page_bytes()) - sizeof bytes : 0;
  Status s = write_all(env_, *fd, bytes, 0, temp, pad);
  if (s) s = env_->datasync(*fd, temp);
  if (s) s = env_->rename(temp, path);
  if (!s) {
    zeroer_.reset();
    env_->close(*fd);
    (void)env_->remove(temp);
    // No room (disk, descriptors) holds no record yet: a later call starts
    // over.
    return s.code() == Code::kNoSpace ? s : fail(s);
  }
  return sync_name_and_activate(header, path, *fd);
}

Status SegmentWriter::sync_name_and_activate(const SegmentHeader& header, const std::string& path,
                                             int fd) {
  // Named: readers may see it from here on, so this file is the segment,
  // whatever follows. Its records wait for the name to be durable.
  if (Status s = env_->fsync_dir(wal_dir_); !s) {
    if (s.code() != Code::kNoSpace) {
      zeroer_.reset();
      env_->close(fd);
      return fail(s);
    }
    named_ = {fd, header, path};
    return s;
  }
  header_ = header;
  path_ = path;
  fd_ = fd;
  end_offset_ = kSegmentHeaderBytes;
  writeback_from_ = 0;
  synced_end_ = end_offset_;
  return Status::ok();
}

Status SegmentWriter::resume_segment(const SegmentHeader& header, uint64_t end_offset) {
  if (!failure_.is_ok()) return failure_;
  const std::string path = wal_dir_ + "/" + segment_file_name(header.first_seq);
  auto fd = env_->open_for_write(path);
  if (!fd) return fd.status();
  header_ = header;
  capacity_ = header.capacity_bytes;
  path_ = path;
  fd_ = *fd;
  end_offset_ = end_offset;
  writeback_from_ = end_offset / page_bytes() * page_bytes();
  synced_end_ = 0;  // what an earlier process wrote may not have been synced
  open_zeroer(path, /*first_window=*/false);
  return Status::ok();
}

void SegmentWriter::open_zeroer(const std::string& path, bool first_window) {
  zeroer_.reset();
  if (zero_window_ == 0) return;
  auto z = Zeroer::open(path, capacity_, zero_window_, env_);
  if (!z) return;  // no O_DIRECT here: write without (only slower syncs)
  zeroer_ = std::move(*z);
  // One chunk now (about a millisecond), the rest when the journal is idle.
  if (first_window && !zeroer_->zero_now(0, Zeroer::kChunkBytes)) zeroer_.reset();
}

Status SegmentWriter::append_batch(std::span<const uint8_t> frames) {
  if (!failure_.is_ok()) return failure_;
  if (sync_failed_.load(std::memory_order_acquire)) return fail(sync_failure_);
  if (fd_ < 0) return Status::invalid_argument("append_batch: no active segment");
  if (frames.size() > remaining_bytes()) {
    return Status::invalid_argument(path_ + ": batch of " + std::to_string(frames.size()) +
                                    " bytes does not fit at offset " + std::to_string(end_offset_));
  }
  const uint64_t end = end_offset_ + frames.size();
  const uint64_t tail = tail_pad(end);
  Status s;
  if (zeroer_) s = zeroer_->before_write(end + tail);
  if (s) s = write_all(env_, fd_, frames, end_offset_, path_, zeroer_ ? tail : 0);
  if (!s) return fail(s);
  end_offset_ += frames.size();
  return Status::ok();
}

// With zeroing ahead, zeros to the end of the last page in the same write:
// a later write into that page then finds it whole in the page cache. Into a
// block already written (zeroed) a partial page would first be read from
// the disk (about 50 us on this machine's disk, per batch).
uint64_t SegmentWriter::tail_pad(uint64_t end) const {
  const uint64_t page = page_bytes();
  return std::min((end + page - 1) / page * page, capacity_) - end;
}

bool SegmentWriter::append_would_wait(uint64_t bytes) {
  if (!zeroer_) return false;
  const uint64_t end = end_offset_ + bytes;
  return zeroer_->would_wait(end + tail_pad(end));
}

Status SegmentWriter::start_writeback() {
  if (!failure_.is_ok()) return failure_;
  if (fd_ < 0) return Status::ok();
  const uint64_t to = end_offset_ / page_bytes() * page_bytes();
  if (to <= writeback_from_) return Status::ok();
  Status s = env_->start_writeback(fd_, writeback_from_, to - writeback_from_, path_);
  if (!s) return fail(s);
  writeback_from_ = to;
  return Status::ok();
}

Status SegmentWriter::sync() {
  if (!failure_.is_ok()) return failure_;
  std::lock_guard<std::mutex> guard(sync_mu_);
  // A failed run_sync may have taken the error from the file: a second
  // fdatasync could succeed without the pages it lost.
  if (!sync_failure_.is_ok()) return fail(sync_failure_);
  if (fd_ < 0 || synced_end_ >= end_offset_) return Status::ok();
  counted_sync();
  Status s = env_->datasync(fd_, path_);
  if (!s) return fail(s);
  synced_end_ = end_offset_;
  return Status::ok();
}

SegmentWriter::SyncTicket SegmentWriter::begin_sync() {
  SyncTicket t;
  t.hold = std::unique_lock<std::mutex>(sync_mu_);
  if (failure_.is_ok() && sync_failure_.is_ok() && fd_ >= 0 && synced_end_ < end_offset_) {
    t.fd = fd_;
    t.path = path_;
    t.end = end_offset_;
  }
  return t;
}

void SegmentWriter::run_sync(SyncTicket& t) {
  if (t.fd >= 0) {
    counted_sync();
    t.status = env_->datasync(t.fd, t.path);
    if (t.status) {
      // Still the active segment: sealing it takes sync_mu_. A sync() that
      // waited for this one finds nothing left to sync.
      synced_end_ = std::max(synced_end_, t.end);
    } else {
      sync_failure_ = t.status;
      sync_failed_.store(true, std::memory_order_release);
    }
  }
  t.hold.unlock();
}

Status SegmentWriter::end_sync(SyncTicket& t) {
  if (t.fd >= 0 && !t.status) return fail(t.status);
  return failure_;
}

Status SegmentWriter::seal() {
  Status s = sync();
  if (!s) return s;
  zeroer_.reset();
  if (fd_ >= 0) env_->close(fd_);
  fd_ = -1;
  return Status::ok();
}

}  // namespace reel::wal
