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
// extend() for up to 4 independent buffers at once: crcs[i] =
// extend(crcs[i], data[i], n[i]). Their crc32 chains run side by side, which
// hides the instruction's latency (one buffer's chain is serial).
void extend_lanes(uint32_t* crcs, const uint8_t* const* data, const size_t* n, size_t lanes);

// True when the hardware path is in use.
bool hardware_accelerated();

}  // namespace reel::crc32c
