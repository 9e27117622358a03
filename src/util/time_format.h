// Parsing and printing of the times, durations and sizes that users type.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace reel {

// "2026-11-21T09:30:00.123Z", "2026-11-21T09:30:00+01:00", "2026-11-21" or
// "@1763717400.5" (Unix seconds) -> ns since the Unix epoch. nullopt if it is
// none of these or out of range.
std::optional<uint64_t> parse_time_ns(std::string_view text);

// ns since the epoch -> "2026-11-21T09:30:00.123456789Z".
std::string format_time_ns(uint64_t ns);

// "10ms", "250us", "1s", "5m", "100ns" -> ns. A bare number is rejected.
std::optional<uint64_t> parse_duration_ns(std::string_view text);

// "1GiB", "64MiB", "4096", "512KiB", "1G" (binary units) -> bytes.
std::optional<uint64_t> parse_size_bytes(std::string_view text);

// Unsigned decimal integer with no sign, spaces or suffix.
std::optional<uint64_t> parse_u64(std::string_view text);

}  // namespace reel
