#include "store/segment_set.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace reel::store {

MappedSegment::~MappedSegment() {
  if (!bytes.empty()) ::munmap(const_cast<uint8_t*>(bytes.data()), bytes.size());
}

Status SegmentSet::refresh() {
  DIR* dir = ::opendir(wal_dir_.c_str());
  if (dir == nullptr) return Status::from_errno(wal_dir_ + ": cannot list", errno);
  std::vector<uint64_t> found;
  while (dirent* entry = ::readdir(dir)) {
    if (auto seq = wal::parse_segment_file_name(entry->d_name)) found.push_back(*seq);
  }
  ::closedir(dir);
  std::sort(found.begin(), found.end());
  std::vector<std::unique_ptr<MappedSegment>> mapped(found.size());
  for (size_t i = 0; i < first_seqs_.size(); ++i) {
    auto it = std::lower_bound(found.begin(), found.end(), first_seqs_[i]);
    if (it != found.end() && *it == first_seqs_[i]) {
      mapped[static_cast<size_t>(it - found.begin())] = std::move(mapped_[i]);
    }
  }
  first_seqs_ = std::move(found);
  mapped_ = std::move(mapped);
  return Status::ok();
}

std::string SegmentSet::name(size_t i) const {
  return "wal/" + wal::segment_file_name(first_seqs_[i]);
}

std::string SegmentSet::path(size_t i) const {
  return wal_dir_ + "/" + wal::segment_file_name(first_seqs_[i]);
}

Result<const MappedSegment*> SegmentSet::map(size_t i) {
  if (mapped_[i]) return static_cast<const MappedSegment*>(mapped_[i].get());
  auto seg = std::make_unique<MappedSegment>();
  seg->name = name(i);
  seg->path = path(i);
  int fd = ::open(seg->path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::from_errno(seg->name + ": open", errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return Status::from_errno(seg->name + ": stat", err);
  }
  const size_t size = static_cast<size_t>(st.st_size);
  if (size > 0) {
    void* p = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
      int err = errno;
      ::close(fd);
      return Status::from_errno(seg->name + ": mmap", err);
    }
    ::madvise(p, size, MADV_SEQUENTIAL);
    seg->bytes = {static_cast<const uint8_t*>(p), size};
  }
  ::close(fd);
  Status s = wal::decode_segment_header(seg->bytes, seg->name, &seg->header);
  if (!s) return s;
  if (seg->header.first_seq != first_seqs_[i]) {
    return Status::corruption(seg->name + ": header says first seq " +
                              std::to_string(seg->header.first_seq));
  }
  mapped_[i] = std::move(seg);
  return static_cast<const MappedSegment*>(mapped_[i].get());
}

bool SegmentSet::header_incomplete(size_t i) const {
  int fd = ::open(path(i).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  uint8_t header[wal::kSegmentHeaderBytes];
  const ssize_t n = ::pread(fd, header, sizeof header, 0);
  ::close(fd);
  if (n < 0) return false;
  return std::all_of(header, header + n, [](uint8_t b) { return b == 0; });
}

uint64_t SegmentSet::data_end(size_t i) const {
  // Unknown (the file cannot be opened or measured): search everything.
  int fd = ::open(path(i).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return UINT64_MAX;
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return UINT64_MAX;
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  uint64_t end = 0;
  for (off_t pos = 0;;) {
    const off_t data = ::lseek(fd, pos, SEEK_DATA);
    if (data < 0) {
      if (errno != ENXIO) end = size;  // no SEEK_DATA here: assume all data
      break;
    }
    const off_t hole = ::lseek(fd, data, SEEK_HOLE);
    if (hole < 0) {
      end = size;
      break;
    }
    end = static_cast<uint64_t>(hole);
    pos = hole;
  }
  ::close(fd);
  return std::min(end, size);
}

std::optional<size_t> SegmentSet::find(uint64_t seq) const {
  auto it = std::upper_bound(first_seqs_.begin(), first_seqs_.end(), seq);
  if (it == first_seqs_.begin()) return std::nullopt;
  return static_cast<size_t>(it - first_seqs_.begin() - 1);
}

}  // namespace reel::store
