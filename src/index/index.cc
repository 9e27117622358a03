#include "index/index.h"

#include <cstring>

#include "index/index_format.h"
#include "index/time_index.h"
#include "util/coding.h"

namespace reel::index {
namespace {

using format::decode_stream_value;
using format::encode_key_key;
using format::encode_stream_value;
using format::encode_time_key;

StreamInfo decode_stream(uint32_t id, const MDB_val& v) {
  return decode_stream_value(id, static_cast<const uint8_t*>(v.mv_data), v.mv_size);
}

}  // namespace

void IndexBatch::add(uint64_t seq, uint64_t ts_ns, uint32_t stream, std::string_view key) {
  entries_.push_back(Entry{seq, ts_ns, stream, static_cast<uint32_t>(keys_.size()),
                           static_cast<uint32_t>(key.size())});
  keys_.append(key);
}

void IndexBatch::clear() {
  entries_.clear();
  positions_.clear();
  keys_.clear();
  names_.clear();
}

Result<std::unique_ptr<Index>> Index::open(const std::string& dir, bool read_only,
                                           uint64_t map_bytes, wal::IoEnv* io) {
  std::unique_ptr<Index> index(new Index());
  index->io_ = io;
  auto env = LmdbEnv::acquire(dir, !read_only, map_bytes, 10, io);
  if (!env) return env.status();
  index->env_ = std::move(*env);
  Status s = index->open_dbs(read_only);
  if (!s) return s;
  return index;
}

Status Index::open_dbs(bool read_only) {
  std::lock_guard<std::mutex> guard(env_->dbi_mutex());
  LmdbTxn txn;
  Status s = txn.begin(env_->get(), read_only);
  if (!s) return s;
  const unsigned create = read_only ? 0 : MDB_CREATE;
  struct Db {
    const char* name;
    unsigned flags;
    MDB_dbi* dbi;
  } dbs[] = {{format::kMetaDb, 0, &meta_},
             {format::kSeqPosDb, 0, &seqpos_},
             {format::kTimeDb, MDB_DUPSORT | MDB_DUPFIXED, &time_},
             {format::kKeyDb, MDB_DUPSORT | MDB_DUPFIXED, &key_},
             {format::kStreamsDb, 0, &streams_},
             {format::kNamesDb, 0, &names_},
             {format::kLateDb, MDB_DUPSORT | MDB_DUPFIXED, &late_},
             {format::kTimeStateDb, 0, &time_state_}};
  for (const Db& db : dbs) {
    int rc = mdb_dbi_open(txn.get(), db.name, db.flags | create, db.dbi);
    if (rc != 0) return lmdb_status(rc, std::string("index: open database ") + db.name);
  }
  return txn.commit(io_);
}

Status Index::put_meta_u64(MDB_txn* txn, const char* name, uint64_t value) {
  uint8_t buf[8];
  encode_fixed64(buf, value);
  MDB_val k = to_val(name, std::strlen(name)), v = to_val(buf, 8);
  return lmdb_status(mdb_put(txn, meta_, &k, &v, 0), std::string("index: put meta ") + name);
}

Result<std::unique_ptr<Snapshot>> Index::snapshot() const {
  std::unique_ptr<Snapshot> snap(new Snapshot(this));
  Status s = snap->txn_.begin(env_->get(), true);
  if (!s) return s;
  return snap;
}

Result<uint64_t> Snapshot::meta_u64(const char* name) const {
  MDB_val k = to_val(name, std::strlen(name)), v;
  int rc = mdb_get(txn_.get(), index_->meta_, &k, &v);
  if (rc == MDB_NOTFOUND) return uint64_t{0};
  if (rc != 0) return lmdb_status(rc, std::string("index: get meta ") + name);
  if (v.mv_size != 8) return Status::corruption(std::string("index: meta ") + name + " malformed");
  return decode_fixed64(static_cast<const uint8_t*>(v.mv_data));
}

Result<uint64_t> Snapshot::indexed_seq() const {
  return meta_u64(format::kMetaIndexedSeq);
}

Result<uint64_t> Index::indexed_seq() const {
  auto snap = snapshot();
  if (!snap) return snap.status();
  return (*snap)->indexed_seq();
}

Result<uint64_t> Index::store_id() const {
  auto snap = snapshot();
  if (!snap) return snap.status();
  return (*snap)->meta_u64(format::kMetaStoreId);
}

Result<uint64_t> Index::format() const {
  auto snap = snapshot();
  if (!snap) return snap.status();
  return (*snap)->format();
}

Result<std::optional<SeqPosition>> Index::floor_position(uint64_t seq) const {
  auto snap = snapshot();
  if (!snap) return snap.status();
  return (*snap)->floor_position(seq);
}

Status Index::streams(std::vector<StreamInfo>* out) const {
  auto snap = snapshot();
  if (!snap) return snap.status();
  return (*snap)->streams(out);
}

Status Index::set_store_id(uint64_t store_id) {
  LmdbTxn txn;
  Status s = txn.begin(env_->get(), false);
  if (s) s = put_meta_u64(txn.get(), format::kMetaStoreId, store_id);
  if (s) s = txn.commit(io_);
  return s;
}

// A stream's stats and time-index state while a batch is applied.
struct Index::StreamState {
  StreamInfo info;
  uint64_t next_checkpoint = 0;  // the count at which an in-order record is a checkpoint
};

Result<Index::StreamState*> Index::load_stream(MDB_txn* txn, uint32_t id,
                                               std::map<uint32_t, StreamState>* touched) {
  auto it = touched->find(id);
  if (it != touched->end()) return &it->second;
  uint8_t kb[4];
  encode_big32(kb, id);
  MDB_val k = to_val(kb, 4), v;
  StreamState st;
  st.info.id = id;
  int rc = mdb_get(txn, streams_, &k, &v);
  if (rc == 0) {
    st.info = decode_stream(id, v);
  } else if (rc != MDB_NOTFOUND) {
    return lmdb_status(rc, "index: read stream " + std::to_string(id));
  }
  rc = mdb_get(txn, time_state_, &k, &v);
  if (rc == 0 && v.mv_size == 8) {
    st.next_checkpoint = decode_fixed64(static_cast<const uint8_t*>(v.mv_data));
  } else if (rc != 0 && rc != MDB_NOTFOUND) {
    return lmdb_status(rc, "index: read time state of stream " + std::to_string(id));
  }
  return &touched->emplace(id, std::move(st)).first->second;
}

Status Index::store_streams(MDB_txn* txn, const IndexBatch& batch,
                            std::map<uint32_t, StreamState>* touched) {
  for (const auto& [id, name] : batch.names_) {
    auto st = load_stream(txn, id, touched);
    if (!st) return st.status();
    (*st)->info.name = name;
    MDB_val k = to_val(name.data(), name.size());
    uint8_t vb[4];
    encode_fixed32(vb, id);
    MDB_val v = to_val(vb, 4);
    Status s = lmdb_status(mdb_put(txn, names_, &k, &v, 0), "index: put stream name " + name);
    if (!s) return s;
  }
  for (auto& [id, st] : *touched) {
    if (st.info.name.empty()) st.info.name = "stream-" + std::to_string(id);
    uint8_t kb[4], cb[8];
    encode_big32(kb, id);
    encode_fixed64(cb, st.next_checkpoint);
    std::string value = encode_stream_value(st.info);
    MDB_val k = to_val(kb, 4), v = to_val(value.data(), value.size()), c = to_val(cb, 8);
    int rc = mdb_put(txn, streams_, &k, &v, 0);
    if (rc == 0) rc = mdb_put(txn, time_state_, &k, &c, 0);
    if (rc != 0) return lmdb_status(rc, "index: put stream");
  }
  return Status::ok();
}

// One record: its time entry (time_index.h), its key entry, its stream's stats.
Status Index::add_entry(MDB_txn* txn, const IndexBatch& batch, const IndexBatch::Entry& e,
                        StreamState* st, TimeIndexWriter* time) {
  StreamInfo& si = st->info;
  Status s;
  if (si.count == 0 || e.ts_ns >= si.last_ts_ns) {
    if (si.count >= st->next_checkpoint) {
      s = time->put_checkpoint(e.stream, e.ts_ns, e.seq);
      st->next_checkpoint = si.count + kTimeCheckpointEvery;
    }
  } else {
    s = time->put_late(e.stream, e.ts_ns, e.seq);
  }
  if (!s) return s;
  if (e.key_bytes > 0) {
    uint8_t sv[8];
    encode_big64(sv, e.seq);
    std::string kk =
        encode_key_key(e.stream, std::string_view(batch.keys_).substr(e.key_offset, e.key_bytes));
    MDB_val k = to_val(kk.data(), kk.size()), v = to_val(sv, 8);
    s = lmdb_status(mdb_put(txn, key_, &k, &v, 0),
                    "index: put key of seq " + std::to_string(e.seq));
    if (!s) return s;
  }
  if (si.count == 0) {
    si.first_seq = e.seq;
    si.first_ts_ns = si.last_ts_ns = e.ts_ns;
  }
  ++si.count;
  si.last_seq = e.seq;
  si.first_ts_ns = std::min(si.first_ts_ns, e.ts_ns);
  si.last_ts_ns = std::max(si.last_ts_ns, e.ts_ns);
  return Status::ok();
}

Status Index::apply(const IndexBatch& batch) {
  if (batch.entries_.empty()) return Status::ok();
  LmdbTxn txn;
  Status s = txn.begin(env_->get(), false);
  if (!s) return s;
  for (const SeqPosition& pos : batch.positions_) {
    uint8_t kb[format::kSeqPosKeyBytes], vb[format::kSeqPosValueBytes];
    format::encode_seqpos(kb, vb, pos.seq, pos.segment_first_seq, pos.offset);
    MDB_val k = to_val(kb, 8), v = to_val(vb, 16);
    int rc = mdb_put(txn.get(), seqpos_, &k, &v, MDB_APPEND);
    if (rc != 0) return lmdb_status(rc, "index: put position of seq " + std::to_string(pos.seq));
  }
  std::map<uint32_t, StreamState> touched;
  {
    TimeIndexWriter time(txn.get(), time_, late_);  // its cursors close before the commit
    for (const auto& e : batch.entries_) {
      auto st = load_stream(txn.get(), e.stream, &touched);
      if (!st) return st.status();
      s = add_entry(txn.get(), batch, e, *st, &time);
      if (!s) return s;
    }
  }
  s = store_streams(txn.get(), batch, &touched);
  if (s) s = put_meta_u64(txn.get(), format::kMetaIndexedSeq, batch.last_seq());
  if (s) s = put_meta_u64(txn.get(), format::kMetaFormat, kIndexFormat);
  if (!s) return s;
  return txn.commit(io_);
}

Status Index::clear() {
  LmdbTxn txn;
  Status s = txn.begin(env_->get(), false);
  if (!s) return s;
  for (MDB_dbi dbi : {meta_, seqpos_, time_, key_, streams_, names_, late_, time_state_}) {
    int rc = mdb_drop(txn.get(), dbi, 0);
    if (rc != 0) return lmdb_status(rc, "index: clear");
  }
  return txn.commit(io_);
}

Status Index::sync() {
  auto call = [&] { return mdb_env_sync(env_->get(), 1); };
  return lmdb_status(io_ != nullptr ? io_->index_call(call, "index: sync") : call(), "index: sync");
}

Result<std::optional<SeqPosition>> Snapshot::floor_position(uint64_t seq) const {
  LmdbCursor cursor;
  Status s = cursor.open(txn_.get(), index_->seqpos_);
  if (!s) return s;
  uint8_t kb[8];
  encode_big64(kb, seq);
  MDB_val k = to_val(kb, 8), v;
  int rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_SET_RANGE);
  if (rc == 0 && decode_big64(static_cast<const uint8_t*>(k.mv_data)) != seq) {
    rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_PREV);
  } else if (rc == MDB_NOTFOUND) {
    rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_LAST);
  }
  if (rc == MDB_NOTFOUND) return std::optional<SeqPosition>();
  if (rc != 0) return lmdb_status(rc, "index: position lookup");
  if (k.mv_size != 8 || v.mv_size != 16) return Status::corruption("index: malformed position");
  SeqPosition pos;
  pos.seq = decode_big64(static_cast<const uint8_t*>(k.mv_data));
  pos.segment_first_seq = decode_fixed64(static_cast<const uint8_t*>(v.mv_data));
  pos.offset = decode_fixed64(static_cast<const uint8_t*>(v.mv_data) + 8);
  if (pos.seq > seq) return std::optional<SeqPosition>();
  return std::optional<SeqPosition>(pos);
}

Result<uint64_t> Snapshot::format() const {
  return meta_u64(format::kMetaFormat);
}

Result<std::optional<Snapshot::TimeStart>> Snapshot::time_start(uint32_t stream,
                                                                uint64_t t0) const {
  LmdbCursor cursor;
  Status s = cursor.open(txn_.get(), index_->time_);
  if (!s) return s;
  uint8_t kb[12];
  encode_time_key(kb, stream, t0);
  MDB_val k = to_val(kb, 12), v;
  int rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_SET_RANGE);
  rc = rc == MDB_NOTFOUND ? mdb_cursor_get(cursor.get(), &k, &v, MDB_LAST)
                          : (rc == 0 ? mdb_cursor_get(cursor.get(), &k, &v, MDB_PREV) : rc);
  const auto* kp = static_cast<const uint8_t*>(k.mv_data);
  if (rc == 0 && k.mv_size == 12 && decode_big32(kp) == stream && decode_big64(kp + 4) < t0) {
    return std::optional<TimeStart>(TimeStart{decode_big64(static_cast<const uint8_t*>(v.mv_data)),
                                              decode_big64(kp + 4), true});
  }
  if (rc != 0 && rc != MDB_NOTFOUND) return lmdb_status(rc, "index: time checkpoint");
  // No checkpoint before t0: the stream's first record (always a checkpoint).
  encode_time_key(kb, stream, 0);
  k = to_val(kb, 12);
  rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_SET_RANGE);
  if (rc == MDB_NOTFOUND) return std::optional<TimeStart>();
  if (rc != 0) return lmdb_status(rc, "index: time checkpoint");
  if (k.mv_size != 12 || decode_big32(static_cast<const uint8_t*>(k.mv_data)) != stream) {
    return std::optional<TimeStart>();
  }
  return std::optional<TimeStart>(
      TimeStart{decode_big64(static_cast<const uint8_t*>(v.mv_data)), 0, false});
}

Result<std::optional<uint64_t>> Snapshot::time_end(uint32_t stream, uint64_t t1) const {
  if (t1 == UINT64_MAX) return std::optional<uint64_t>();
  LmdbCursor cursor;
  Status s = cursor.open(txn_.get(), index_->time_);
  if (!s) return s;
  uint8_t kb[12];
  encode_time_key(kb, stream, t1 + 1);
  MDB_val k = to_val(kb, 12), v;
  const int rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_SET_RANGE);
  if (rc == MDB_NOTFOUND) return std::optional<uint64_t>();
  if (rc != 0) return lmdb_status(rc, "index: time checkpoint");
  if (k.mv_size != 12 || decode_big32(static_cast<const uint8_t*>(k.mv_data)) != stream) {
    return std::optional<uint64_t>();
  }
  return std::optional<uint64_t>(decode_big64(static_cast<const uint8_t*>(v.mv_data)));
}

Status Snapshot::late_by_time(uint32_t stream, uint64_t t0, uint64_t t1,
                              std::vector<std::pair<uint64_t, uint64_t>>* out) const {
  LmdbCursor cursor;
  Status s = cursor.open(txn_.get(), index_->late_);
  if (!s) return s;
  uint8_t kb[12], end[12];
  encode_time_key(kb, stream, t0);
  encode_time_key(end, stream, t1);
  MDB_val k = to_val(kb, 12), v;
  int rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_SET_RANGE);
  while (rc == 0) {
    if (k.mv_size != 12 || std::memcmp(k.mv_data, end, 12) > 0) break;
    out->emplace_back(decode_big64(static_cast<const uint8_t*>(k.mv_data) + 4),
                      decode_big64(static_cast<const uint8_t*>(v.mv_data)));
    rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_NEXT);
  }
  if (rc != 0 && rc != MDB_NOTFOUND) return lmdb_status(rc, "index: late time range");
  return Status::ok();
}

Status Snapshot::seqs_by_key(uint32_t stream, std::string_view key,
                             std::vector<uint64_t>* out) const {
  LmdbCursor cursor;
  Status s = cursor.open(txn_.get(), index_->key_);
  if (!s) return s;
  std::string kk = encode_key_key(stream, key);
  MDB_val k = to_val(kk.data(), kk.size()), v;
  int rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_SET_KEY);
  while (rc == 0) {
    out->push_back(decode_big64(static_cast<const uint8_t*>(v.mv_data)));
    rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_NEXT_DUP);
  }
  if (rc != MDB_NOTFOUND) return lmdb_status(rc, "index: key lookup");
  return Status::ok();
}

Status Snapshot::walk(MDB_dbi dbi, const char* what,
                      const std::function<Result<bool>(const MDB_val&, const MDB_val&)>& fn,
                      const MDB_val* from) const {
  LmdbCursor cursor;
  Status s = cursor.open(txn_.get(), dbi);
  if (!s) return s;
  MDB_val k, v;
  if (from != nullptr) k = *from;
  int rc = mdb_cursor_get(cursor.get(), &k, &v, from != nullptr ? MDB_SET_RANGE : MDB_FIRST);
  while (rc == 0) {
    auto more = fn(k, v);
    if (!more) return more.status();
    if (!*more) return Status::ok();
    rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_NEXT);
  }
  if (rc != MDB_NOTFOUND) return lmdb_status(rc, std::string("index: walk ") + what);
  return Status::ok();
}

Result<std::optional<uint32_t>> Snapshot::stream_id(std::string_view name) const {
  MDB_val k = to_val(name.data(), name.size()), v;
  int rc = mdb_get(txn_.get(), index_->names_, &k, &v);
  if (rc == MDB_NOTFOUND) return std::optional<uint32_t>();
  if (rc != 0) return lmdb_status(rc, "index: stream name lookup");
  if (v.mv_size != 4) return Status::corruption("index: malformed stream name entry");
  return std::optional<uint32_t>(decode_fixed32(static_cast<const uint8_t*>(v.mv_data)));
}

Status Snapshot::streams(std::vector<StreamInfo>* out) const {
  return walk(index_->streams_, "streams", [&](const MDB_val& k, const MDB_val& v) -> Result<bool> {
    if (k.mv_size == 4) {
      out->push_back(decode_stream(decode_big32(static_cast<const uint8_t*>(k.mv_data)), v));
    }
    return true;
  });
}

Status Snapshot::for_each_position(const std::function<bool(const SeqPosition&)>& fn) const {
  return for_each_position_from(0, fn);
}

Status Snapshot::for_each_position_from(uint64_t from,
                                        const std::function<bool(const SeqPosition&)>& fn) const {
  uint8_t kb[8];
  encode_big64(kb, from);
  const MDB_val start = to_val(kb, 8);
  return walk(
      index_->seqpos_, "positions",
      [&](const MDB_val& k, const MDB_val& v) -> Result<bool> {
        if (k.mv_size != 8 || v.mv_size != 16)
          return Status::corruption("index: malformed position");
        const auto* vp = static_cast<const uint8_t*>(v.mv_data);
        return fn({decode_big64(static_cast<const uint8_t*>(k.mv_data)), decode_fixed64(vp),
                   decode_fixed64(vp + 8)});
      },
      &start);
}

Status Snapshot::for_each_time(bool late,
                               const std::function<bool(uint32_t, uint64_t, uint64_t)>& fn) const {
  return walk(late ? index_->late_ : index_->time_, "time entries",
              [&](const MDB_val& k, const MDB_val& v) -> Result<bool> {
                if (k.mv_size != 12 || v.mv_size != 8)
                  return Status::corruption("index: malformed time entry");
                const auto* kp = static_cast<const uint8_t*>(k.mv_data);
                return fn(decode_big32(kp), decode_big64(kp + 4),
                          decode_big64(static_cast<const uint8_t*>(v.mv_data)));
              });
}

Status Snapshot::for_each_key(
    const std::function<bool(uint32_t, std::string_view, uint64_t)>& fn) const {
  return walk(index_->key_, "key entries", [&](const MDB_val& k, const MDB_val& v) -> Result<bool> {
    if (k.mv_size < 4 || v.mv_size != 8) return Status::corruption("index: malformed key entry");
    return fn(decode_big32(static_cast<const uint8_t*>(k.mv_data)), as_view(k).substr(4),
              decode_big64(static_cast<const uint8_t*>(v.mv_data)));
  });
}

}  // namespace reel::index
