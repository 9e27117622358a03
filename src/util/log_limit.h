// Logging what a network peer causes, safely: text from a client escaped
// and cut before it reaches a log line, and lines of one kind limited in
// rate, so that a hostile client can neither forge log lines (newlines,
// terminal escapes) nor flood the log.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>

#include "util/mutex.h"
#include "util/thread_annotations.h"

namespace reel {

// `text` with every byte outside printable ASCII (and the backslash) written
// as \xNN, cut after `max_bytes` of the input with "...(N bytes)" saying
// how long it was. Pure.
std::string printable(std::string_view text, size_t max_bytes = 200);

// Lines to stderr, each "PREFIX: text", at most `burst` of one kind per
// `window`; the rest are counted, and the next line of that kind after the
// window says how many were dropped. Thread-safe.
class RateLimitedLog {
 public:
  explicit RateLimitedLog(std::string prefix = "reel serve", size_t burst = 10,
                          std::chrono::milliseconds window = std::chrono::seconds(1))
      : prefix_(std::move(prefix)), burst_(burst), window_(window) {}

  // Writes `text` (already safe: pass client bytes through printable())
  // unless `kind` has had its burst in this window. Returns whether it did.
  bool line(const std::string& kind, const std::string& text);
  // Lines not written, all kinds, since start.
  uint64_t dropped() const;

 private:
  struct Kind {
    std::chrono::steady_clock::time_point window_start{};
    size_t written = 0;  // in this window
    uint64_t held = 0;   // dropped since the last line written
  };
  const std::string prefix_;
  const size_t burst_;
  const std::chrono::milliseconds window_;
  mutable Mutex mu_;
  std::map<std::string, Kind> kinds_ GUARDED_BY(mu_);
  uint64_t dropped_ GUARDED_BY(mu_) = 0;
};

}  // namespace reel
