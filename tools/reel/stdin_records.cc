#include "reel/stdin_records.h"
#include "util/coding.h"

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace reel::cli {
namespace {

bool stdin_has_more_now() {
  pollfd pfd{STDIN_FILENO, POLLIN, 0};
  return ::poll(&pfd, 1, 0) > 0 && (pfd.revents & POLLIN) != 0;
}

const Status kStopped = Status::failed("");

}  // namespace

Status StdinRecords::take_whole(const RecordFn& fn) {
  size_t pos = 0;
  Status s;
  auto one = [&](std::string_view r) {
    if (!fn(r)) return false;
    ++records_;
    bytes_ += r.size();
    return true;
  };
  if (lines_) {
    for (size_t nl; (nl = carry_.find('\n', pos)) != std::string::npos; pos = nl + 1) {
      if (!one(std::string_view(carry_).substr(pos, nl - pos))) {
        s = kStopped;
        break;
      }
    }
  } else {
    while (carry_.size() - pos >= 4) {
      const auto* p = reinterpret_cast<const uint8_t*>(carry_.data() + pos);
      const uint32_t len = decode_fixed32(p);
      if (len > max_record_) {
        s = Status::invalid_argument("stdin: record at byte offset " +
                                     std::to_string(offset_ - carry_.size() + pos) + " claims " +
                                     std::to_string(len) + " bytes, more than --max-record");
        break;
      }
      if (carry_.size() - pos - 4 < len) break;
      if (!one(std::string_view(carry_).substr(pos + 4, len))) {
        s = kStopped;
        break;
      }
      pos += 4 + len;
    }
  }
  carry_.erase(0, pos);
  return s;
}

Status StdinRecords::finish(const RecordFn& fn) {
  if (carry_.empty()) return Status::ok();
  if (!lines_) {
    return Status::invalid_argument(
        "stdin: truncated record at byte offset " + std::to_string(offset_ - carry_.size()) + " (" +
        std::to_string(carry_.size()) + " bytes left); the records before it are kept");
  }
  if (!fn(carry_)) return kStopped;  // a last line without a newline
  ++records_;
  bytes_ += carry_.size();
  carry_.clear();
  return Status::ok();
}

Status StdinRecords::run(const RecordFn& fn, const IdleFn& idle) {
  std::vector<char> buf(1 << 20);
  for (;;) {
    const ssize_t n = ::read(STDIN_FILENO, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::io_error(std::string("stdin: ") + std::strerror(errno));
    if (n == 0) break;
    carry_.append(buf.data(), static_cast<size_t>(n));
    offset_ += static_cast<uint64_t>(n);
    if (Status s = take_whole(fn); !s) return s;
    if (!stdin_has_more_now() && !idle()) return kStopped;
  }
  return finish(fn);
}

}  // namespace reel::cli
