// Head file layout, version 1: the byte offsets every reader and writer of
// STORE/head uses (store/head_file.h is the class; schemas/format.md, "Head
// file", the prose). tests/head_format_test.cc pins a whole file's bytes.
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +---------------------------------------------------------------+
//  |                     magic "REELHEAD" (8)                      |   0
//  +-------------------------------+-------------------------------+
//  |        version (u32 LE)       |           zero (4)            |   8
//  +-------------------------------+-------------------------------+
//  |                       store_id (u64 LE)                       |  16
//  |                     written_seq (u64 LE)                      |  24
//  |                     durable_seq (u64 LE)                      |  32
//  |                     indexed_seq (u64 LE)                      |  40
//  |                      writer_pid (u64 LE)                      |  48
//  |                      generation (u64 LE)                      |  56
//  |                     index_dirty (u64 LE)                      |  64
//  +---------------------------------------------------------------+
//  |        boot_id: text, NUL-padded (40 bytes)                  ...  72
//  +---------------------------------------------------------------+
//  |                    clean_shutdown (u64 LE)                    | 112
//  |                          zero (8)                             | 120
//  +-------------------------------+-------------------------------+
//  |     notify_epoch (u32 LE)     |  zero to the end (4096 bytes) ... 128
//  +-------------------------------+-------------------------------+
//
// Every u64 slot is 8-aligned: the writer stores it with a release store and
// readers load it with an acquire load through the shared mapping.
#pragma once

#include <cstddef>
#include <cstdint>

namespace reel::store {

inline constexpr size_t kHeadFileBytes = 4096;
inline constexpr char kHeadMagic[8] = {'R', 'E', 'E', 'L', 'H', 'E', 'A', 'D'};
inline constexpr uint32_t kHeadVersion = 1;

inline constexpr size_t kHeadMagicOffset = 0;
inline constexpr size_t kHeadVersionOffset = 8;
inline constexpr size_t kHeadStoreIdOffset = 16;
inline constexpr size_t kHeadWrittenSeqOffset = 24;
inline constexpr size_t kHeadDurableSeqOffset = 32;
inline constexpr size_t kHeadIndexedSeqOffset = 40;
inline constexpr size_t kHeadWriterPidOffset = 48;
inline constexpr size_t kHeadGenerationOffset = 56;
inline constexpr size_t kHeadIndexDirtyOffset = 64;
inline constexpr size_t kHeadBootIdOffset = 72;
inline constexpr size_t kHeadBootIdBytes = 40;
inline constexpr size_t kHeadCleanShutdownOffset = 112;
inline constexpr size_t kHeadNotifyEpochOffset = 128;
// The byte a writer session keeps an OFD write lock on (head_file.h).
inline constexpr size_t kHeadLiveLockByte = 0;

static_assert(kHeadBootIdOffset + kHeadBootIdBytes == kHeadCleanShutdownOffset);
static_assert(kHeadNotifyEpochOffset % 4 == 0 && kHeadNotifyEpochOffset + 4 <= kHeadFileBytes);

}  // namespace reel::store
