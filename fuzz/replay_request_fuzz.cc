// libFuzzer target: the replay server's reading of a subscriber's request
// (wire/replay_protocol.h, parse_request) on hostile bytes. Whatever it accepts
// must be a request the server can serve: one that ends when it says it
// does, a sane speed, and only streams the store has.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "wire/replay_protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto lookup = [](std::string_view name) -> reel::Result<std::optional<uint32_t>> {
    if (name == "a") return std::optional<uint32_t>(1);
    if (name == "b") return std::optional<uint32_t>(2);
    if (name == "broken") return reel::Status::io_error("index unreadable");
    return std::optional<uint32_t>();
  };
  auto ask = reel::replay::parse_request({data, size}, lookup);
  if (!ask) {
    if (ask.status().message().empty()) __builtin_trap();  // a refusal says why
    return 0;
  }
  if (ask->follow && ask->to_ts != 0 && ask->to_seq == 0) __builtin_trap();  // never ends
  if (!std::isfinite(ask->speed) || ask->speed < 0) __builtin_trap();
  for (uint32_t id : ask->streams) {
    if (id != 1 && id != 2) __builtin_trap();
  }
  if (!ask->tail.stream.empty() && ask->tail.stream != "a" && ask->tail.stream != "b") {
    __builtin_trap();
  }
  if (ask->tail.from_seq != 0 && ask->tail.from_ts_ns != 0) __builtin_trap();  // one start
  return 0;
}
