// libFuzzer target: the CLI's time, duration and size parsers.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "util/time_format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto ns = reel::parse_time_ns(text)) {
    // Whatever parses must print and parse back to the same instant.
    if (reel::parse_time_ns(reel::format_time_ns(*ns)) != ns) __builtin_trap();
  }
  (void)reel::parse_duration_ns(text);
  (void)reel::parse_size_bytes(text);
  return 0;
}
