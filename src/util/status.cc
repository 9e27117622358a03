#include "reel/status.h"

#include <cerrno>
#include <cstring>

namespace reel {

Status Status::from_errno(const std::string& what, int err) {
  std::string msg = what + ": " + std::strerror(err);
  // Out of file descriptors is no room too: transient, like a full disk.
  if (err == ENOSPC || err == EDQUOT || err == EMFILE || err == ENFILE) {
    return Status(Code::kNoSpace, std::move(msg));
  }
  if (err == ENOENT) return Status(Code::kNotFound, std::move(msg));
  return Status(Code::kIoError, std::move(msg));
}

std::string Status::to_string() const {
  const char* name = "ok";
  switch (code_) {
    case Code::kOk:
      return "ok";
    case Code::kNotFound:
      name = "not found";
      break;
    case Code::kCorruption:
      name = "corruption";
      break;
    case Code::kIoError:
      name = "I/O error";
      break;
    case Code::kInvalidArgument:
      name = "invalid argument";
      break;
    case Code::kBusy:
      name = "busy";
      break;
    case Code::kNoSpace:
      name = "no space";
      break;
    case Code::kFailed:
      name = "failed";
      break;
  }
  return std::string(name) + ": " + message_;
}

}  // namespace reel

#include "reel/options.h"
#include "util/time_format.h"

namespace reel {

Result<SyncPolicy> SyncPolicy::parse(std::string_view text) {
  SyncPolicy policy;
  if (text == "always") {
    policy.mode = Mode::kAlways;
    return policy;
  }
  if (text == "none") {
    policy.mode = Mode::kNone;
    return policy;
  }
  constexpr std::string_view kInterval = "interval:";
  if (text.substr(0, kInterval.size()) == kInterval) {
    auto ns = parse_duration_ns(text.substr(kInterval.size()));
    if (ns && *ns > 0) {
      policy.mode = Mode::kInterval;
      policy.interval = std::chrono::nanoseconds(*ns);
      return policy;
    }
  }
  return Status::invalid_argument("bad sync policy '" + std::string(text) +
                                  "' (always, none or interval:DURATION such as interval:10ms)");
}

std::string SyncPolicy::to_string() const {
  switch (mode) {
    case Mode::kAlways:
      return "always";
    case Mode::kNone:
      return "none";
    case Mode::kInterval:
      return "interval:" + std::to_string(interval.count()) + "ns";
  }
  return "?";
}

}  // namespace reel
