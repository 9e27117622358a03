// record.bfbs (the reflection schema of schemas/record.fbs), compiled into
// the library so that every store gets a copy in STORE/schemas/.
#pragma once

#include <cstddef>
#include <cstdint>

namespace reel::embedded {
extern const std::uint8_t kRecordBfbs[];
extern const std::size_t kRecordBfbsSize;
}  // namespace reel::embedded
