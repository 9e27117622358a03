#include "store/store_dir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>

namespace reel::store {

StorePaths::StorePaths(std::string root_dir) : root(std::move(root_dir)) {
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  wal = root + "/wal";
  index = root + "/index";
  head = root + "/head";
  schemas = root + "/schemas";
  lock = root + "/LOCK";
}

namespace {
Status make_dir(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) == 0 || errno == EEXIST) return Status::ok();
  return Status::from_errno(path + ": cannot create directory", errno);
}

}  // namespace

Status create_layout(const StorePaths& paths) {
  for (const std::string* dir : {&paths.root, &paths.wal, &paths.index, &paths.schemas}) {
    Status s = make_dir(*dir);
    if (!s) return s;
  }
  Status s = wal::fsync_directory(paths.root);
  if (s) s = wal::fsync_directory(wal::parent_directory(paths.root));
  return s;
}

std::string boot_id() {
  static const std::string id = [] {
    std::ifstream in("/proc/sys/kernel/random/boot_id");
    std::string line;
    std::getline(in, line);
    return line;
  }();
  return id;
}

WriterLock::~WriterLock() {
  release();
}

void WriterLock::release() {
  if (fd_ >= 0) ::close(fd_);  // releases the flock
  fd_ = -1;
}

Status WriterLock::acquire(const std::string& path, wal::IoEnv* env) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return Status::from_errno(path + ": cannot open lock file", errno);
  if (Status locked = env->lock_exclusive(fd, path); !locked) {
    char buf[32] = {};
    ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    ::close(fd);
    if (locked.code() == Code::kBusy) {
      std::string holder = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "unknown";
      while (!holder.empty() && (holder.back() == '\n' || holder.back() == '\0')) {
        holder.pop_back();
      }
      return Status::busy(path + ": the store is open for writing by another writer (pid " +
                          holder + ")");
    }
    return locked;
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    int err = errno;
    ::close(fd);
    return Status::from_errno(path + ": cannot record writer pid", err);
  }
  fd_ = fd;
  return Status::ok();
}

}  // namespace reel::store
