// The index's databases, keys and values, index format 2 (meta "format"):
// every byte layout the index writes, in one place. schemas/format.md,
// "Index (LMDB)", is the prose; tests/index_format_test.cc pins each
// encoding's bytes. Integers in keys are big-endian, so LMDB's memcmp order
// is numeric order; integers in values are little-endian.
//
//   database     key                                   value
//   ----------   -----------------------------------   ---------------------------------
//   meta         "indexed_seq" | "store_id" | "format" u64 LE
//   seqpos       seq u64 BE (8)                        segment first_seq u64 LE,
//                                                      offset u64 LE (16)
//                Sparse: the first frame of each segment and the first frame
//                starting in each new kPositionBlockBytes block (index.h).
//   time         stream u32 BE ++ ts_ns u64 BE (12)    seq u64 BE, DUPSORT|DUPFIXED
//                checkpoints of in-order records (time_index.h)
//   late         as `time`                             as `time`: every late record
//   key          stream u32 BE ++ key bytes (<= 504)   seq u64 BE, DUPSORT|DUPFIXED
//   streams      id u32 BE (4)                         count, first_seq, last_seq,
//                                                      first_ts_ns, last_ts_ns (u64 LE
//                                                      each, 40) ++ name bytes
//   names        name bytes                            id u32 LE (4)
//   time_state   id u32 BE (4)                         next checkpoint count u64 LE (8)
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "reel/types.h"
#include "util/coding.h"

namespace reel::index::format {

inline constexpr const char* kMetaDb = "meta";
inline constexpr const char* kSeqPosDb = "seqpos";
inline constexpr const char* kTimeDb = "time";
inline constexpr const char* kLateDb = "late";
inline constexpr const char* kKeyDb = "key";
inline constexpr const char* kStreamsDb = "streams";
inline constexpr const char* kNamesDb = "names";
inline constexpr const char* kTimeStateDb = "time_state";

inline constexpr const char* kMetaIndexedSeq = "indexed_seq";
inline constexpr const char* kMetaStoreId = "store_id";
inline constexpr const char* kMetaFormat = "format";

inline constexpr size_t kSeqPosKeyBytes = 8;
inline constexpr size_t kSeqPosValueBytes = 16;
inline constexpr size_t kTimeKeyBytes = 12;
inline constexpr size_t kSeqValueBytes = 8;
inline constexpr size_t kStreamKeyBytes = 4;
inline constexpr size_t kStreamValueFixedBytes = 40;

inline void encode_seqpos(uint8_t* key, uint8_t* value, uint64_t seq, uint64_t segment_first_seq,
                          uint64_t offset) {
  encode_big64(key, seq);
  encode_fixed64(value, segment_first_seq);
  encode_fixed64(value + 8, offset);
}

inline void encode_time_key(uint8_t* dst, uint32_t stream, uint64_t ts) {
  encode_big32(dst, stream);
  encode_big64(dst + 4, ts);
}

inline std::string encode_key_key(uint32_t stream, std::string_view key) {
  std::string k(4 + key.size(), '\0');
  encode_big32(reinterpret_cast<uint8_t*>(k.data()), stream);
  std::memcpy(k.data() + 4, key.data(), key.size());
  return k;
}

inline std::string encode_stream_value(const StreamInfo& info) {
  std::string v(kStreamValueFixedBytes, '\0');
  auto* p = reinterpret_cast<uint8_t*>(v.data());
  encode_fixed64(p, info.count);
  encode_fixed64(p + 8, info.first_seq);
  encode_fixed64(p + 16, info.last_seq);
  encode_fixed64(p + 24, info.first_ts_ns);
  encode_fixed64(p + 32, info.last_ts_ns);
  v += info.name;
  return v;
}

// A value shorter than the fixed part decodes as an empty stream.
inline StreamInfo decode_stream_value(uint32_t id, const uint8_t* p, size_t n) {
  StreamInfo info;
  info.id = id;
  if (n < kStreamValueFixedBytes) return info;
  info.count = decode_fixed64(p);
  info.first_seq = decode_fixed64(p + 8);
  info.last_seq = decode_fixed64(p + 16);
  info.first_ts_ns = decode_fixed64(p + 24);
  info.last_ts_ns = decode_fixed64(p + 32);
  info.name.assign(reinterpret_cast<const char*>(p) + kStreamValueFixedBytes,
                   n - kStreamValueFixedBytes);
  return info;
}

}  // namespace reel::index::format
