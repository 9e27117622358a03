#include "util/log_limit.h"

#include <algorithm>
#include <cstdio>

namespace reel {

std::string printable(std::string_view text, size_t max_bytes) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  const size_t n = std::min(text.size(), max_bytes);
  out.reserve(n + 16);
  for (size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  if (n < text.size()) out += "...(" + std::to_string(text.size()) + " bytes)";
  return out;
}

bool RateLimitedLog::line(const std::string& kind, const std::string& text) {
  uint64_t held = 0;
  {
    MutexLock lock(mu_);
    Kind& k = kinds_[kind];
    const auto now = std::chrono::steady_clock::now();
    if (now - k.window_start >= window_) {
      k.window_start = now;
      k.written = 0;
    }
    if (k.written >= burst_) {
      ++k.held;
      ++dropped_;
      return false;
    }
    ++k.written;
    held = k.held;
    k.held = 0;
  }
  if (held > 0) {
    std::fprintf(stderr, "%s: %s (and %llu more like it not logged)\n", prefix_.c_str(),
                 text.c_str(), static_cast<unsigned long long>(held));
  } else {
    std::fprintf(stderr, "%s: %s\n", prefix_.c_str(), text.c_str());
  }
  return true;
}

uint64_t RateLimitedLog::dropped() const {
  MutexLock lock(mu_);
  return dropped_;
}

}  // namespace reel
