#include "index/time_index.h"

#include <cstring>

#include "index/index_format.h"
#include "index/lmdb_env.h"
#include "util/coding.h"

namespace reel::index {

TimeIndexWriter::~TimeIndexWriter() {
  if (checkpoint_appender_.cursor != nullptr) mdb_cursor_close(checkpoint_appender_.cursor);
  if (late_appender_.cursor != nullptr) mdb_cursor_close(late_appender_.cursor);
}

Status TimeIndexWriter::put(MDB_dbi dbi, Appender* a, uint32_t stream, uint64_t ts, uint64_t seq) {
  if (a->cursor == nullptr) {
    int rc = mdb_cursor_open(txn_, dbi, &a->cursor);
    if (rc != 0) return lmdb_status(rc, "index: open time cursor");
    MDB_val lk, lv;
    if (mdb_cursor_get(a->cursor, &lk, &lv, MDB_LAST) == 0 && lk.mv_size == 12) {
      std::memcpy(a->last, lk.mv_data, 12);
      a->have_last = true;
    }
  }
  uint8_t key[12], value[8];
  format::encode_time_key(key, stream, ts);
  encode_big64(value, seq);
  MDB_val k = to_val(key, 12), v = to_val(value, 8);
  // Keys compare as memcmp (big-endian); seqs only grow, so an equal key's
  // new seq is its last duplicate. A key out of order takes a normal put.
  const int order = a->have_last ? std::memcmp(key, a->last, 12) : 1;
  int rc = order < 0 ? MDB_KEYEXIST
                     : mdb_cursor_put(a->cursor, &k, &v, order > 0 ? MDB_APPEND : MDB_APPENDDUP);
  if (rc == MDB_KEYEXIST) {
    rc = mdb_put(txn_, dbi, &k, &v, 0);
  } else if (rc == 0) {
    std::memcpy(a->last, key, 12);
    a->have_last = true;
  }
  return lmdb_status(rc, "index: put time entry of seq " + std::to_string(seq));
}

Status TimeIndexWriter::put_checkpoint(uint32_t stream, uint64_t ts, uint64_t seq) {
  return put(checkpoints_, &checkpoint_appender_, stream, ts, seq);
}

Status TimeIndexWriter::put_late(uint32_t stream, uint64_t ts, uint64_t seq) {
  return put(late_, &late_appender_, stream, ts, seq);
}

}  // namespace reel::index
