// The stores reel is measured against on the durable write path,
// each behind one small interface so every workload runs them the same way
// on the same data and disk: LMDB (one write transaction per commit),
// SQLite (WAL, synchronous=FULL, one transaction per commit), RocksDB (one
// WriteBatch per commit, sync=true), a raw file (write + fdatasync), and
// reel itself (append, then wait(last, kDurable)).
//
// Benchmark code only: SQLite and RocksDB are never linked into libreel.
#pragma once

#include <fcntl.h>
#include <lmdb.h>
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "reel/reel.h"

namespace reel::bench {

[[noreturn]] inline void peer_die(const std::string& what) {
  std::fprintf(stderr, "durable_bench: %s\n", what.c_str());
  std::exit(1);
}

// A log: put() records in key order, commit() makes every one put so far
// durable (returns once it is on disk).
class Peer {
 public:
  virtual ~Peer() = default;
  virtual void put(uint64_t key, std::string_view payload) = 0;
  virtual void commit() = 0;
};

inline std::string be_key(uint64_t k) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>(k >> (56 - 8 * i));
  return s;
}

class ReelPeer final : public Peer {
 public:
  explicit ReelPeer(const std::string& dir, const StoreOptions& options = {}) {
    auto s = Store::open(dir, options);
    if (!s) peer_die(s.status().to_string());
    store_ = std::move(*s);
  }
  ~ReelPeer() override { (void)store_->close(); }
  void put(uint64_t, std::string_view payload) override {
    auto seq = store_->append("log", payload);
    if (!seq) peer_die(seq.status().to_string());
    last_ = *seq;
  }
  void commit() override {
    if (Status s = store_->wait(last_, Level::kDurable); !s) peer_die(s.to_string());
  }

 private:
  std::unique_ptr<Store> store_;
  uint64_t last_ = 0;
};

class LmdbPeer final : public Peer {
 public:
  explicit LmdbPeer(const std::string& dir) {
    if (mdb_env_create(&env_) != 0 || mdb_env_set_mapsize(env_, size_t{8} << 30) != 0 ||
        mdb_env_open(env_, dir.c_str(), 0, 0644) != 0) {
      peer_die("lmdb open " + dir);
    }
  }
  ~LmdbPeer() override {
    if (txn_ != nullptr) mdb_txn_abort(txn_);
    mdb_env_close(env_);
  }
  void put(uint64_t key, std::string_view payload) override {
    if (txn_ == nullptr) {
      if (mdb_txn_begin(env_, nullptr, 0, &txn_) != 0 ||
          mdb_dbi_open(txn_, nullptr, 0, &dbi_) != 0) {
        peer_die("lmdb txn");
      }
    }
    const std::string k = be_key(key);
    MDB_val kv{k.size(), const_cast<char*>(k.data())};
    MDB_val vv{payload.size(), const_cast<char*>(payload.data())};
    if (mdb_put(txn_, dbi_, &kv, &vv, MDB_APPEND) != 0) peer_die("lmdb put");
  }
  void commit() override {
    if (txn_ != nullptr && mdb_txn_commit(txn_) != 0) peer_die("lmdb commit");
    txn_ = nullptr;
  }

 private:
  MDB_env* env_ = nullptr;
  MDB_txn* txn_ = nullptr;
  MDB_dbi dbi_ = 0;
};

class SqlitePeer final : public Peer {
 public:
  explicit SqlitePeer(const std::string& dir) {
    if (sqlite3_open((dir + "/log.db").c_str(), &db_) != SQLITE_OK) peer_die("sqlite open");
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=FULL");
    exec("CREATE TABLE log (seq INTEGER PRIMARY KEY, payload BLOB)");
    if (sqlite3_prepare_v2(db_, "INSERT INTO log VALUES (?, ?)", -1, &insert_, nullptr) !=
        SQLITE_OK) {
      peer_die("sqlite prepare");
    }
  }
  ~SqlitePeer() override {
    sqlite3_finalize(insert_);
    sqlite3_close(db_);
  }
  void put(uint64_t key, std::string_view payload) override {
    if (!open_) {
      exec("BEGIN");
      open_ = true;
    }
    sqlite3_bind_int64(insert_, 1, static_cast<sqlite3_int64>(key));
    sqlite3_bind_blob(insert_, 2, payload.data(), static_cast<int>(payload.size()), SQLITE_STATIC);
    if (sqlite3_step(insert_) != SQLITE_DONE) peer_die("sqlite insert");
    sqlite3_reset(insert_);
  }
  void commit() override {
    if (open_) exec("COMMIT");
    open_ = false;
  }

 private:
  void exec(const char* sql) {
    if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK) {
      peer_die(std::string("sqlite: ") + sql + ": " + sqlite3_errmsg(db_));
    }
  }
  sqlite3* db_ = nullptr;
  sqlite3_stmt* insert_ = nullptr;
  bool open_ = false;
};

class RocksPeer final : public Peer {
 public:
  explicit RocksPeer(const std::string& dir) {
    rocksdb::Options o;
    o.create_if_missing = true;
    rocksdb::DB* db = nullptr;
    if (!rocksdb::DB::Open(o, dir, &db).ok()) peer_die("rocksdb open " + dir);
    db_.reset(db);
  }
  void put(uint64_t key, std::string_view payload) override {
    batch_.Put(be_key(key), rocksdb::Slice(payload.data(), payload.size()));
  }
  void commit() override {
    rocksdb::WriteOptions w;
    w.sync = true;
    if (!db_->Write(w, &batch_).ok()) peer_die("rocksdb write");
    batch_.Clear();
  }

 private:
  std::unique_ptr<rocksdb::DB> db_;
  rocksdb::WriteBatch batch_;
};

// The floor: the records' bytes appended to one file, write() + fdatasync
// per commit.
class RawPeer final : public Peer {
 public:
  explicit RawPeer(const std::string& dir) {
    fd_ = ::open((dir + "/raw.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd_ < 0) peer_die("open raw.log");
  }
  ~RawPeer() override { ::close(fd_); }
  void put(uint64_t, std::string_view payload) override { buf_.append(payload); }
  void commit() override {
    if (::write(fd_, buf_.data(), buf_.size()) != static_cast<ssize_t>(buf_.size()) ||
        ::fdatasync(fd_) != 0) {
      peer_die("raw write");
    }
    buf_.clear();
  }

 private:
  int fd_ = -1;
  std::string buf_;
};

}  // namespace reel::bench
