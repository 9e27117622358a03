// CRC32C (Castagnoli), computed with the SSE4.2 crc32 instruction when the CPU
// has it and with a table otherwise; both give identical results.
#pragma once

#include <cstddef>
#include <cstdint>

namespace reel::crc32c {

// Returns the CRC32C of `data[0, n)` continuing from the CRC `crc` of the bytes
// before it (start with 0).
uint32_t extend(uint32_t crc, const void* data, size_t n);
inline uint32_t value(const void* data, size_t n) {
  return extend(0, data, n);
}
// True when the hardware path is in use.
bool hardware_accelerated();

}  // namespace reel::crc32c
