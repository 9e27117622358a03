// Pins every byte layout the index writes (index/index_format.h), and checks
// that a real index stores those bytes: the expected values below are
// written out by hand from the layout, never produced by reel's encoders.
#include <lmdb.h>

#include <string>

#include <gtest/gtest.h>

#include "index/index_format.h"
#include "reel/reel.h"
#include "test_util.h"

namespace reel {
namespace {

namespace fmt = index::format;

std::string bytes(const uint8_t* p, size_t n) {
  return std::string(reinterpret_cast<const char*>(p), n);
}

TEST(IndexFormat, SeqPositionBytesArePinned) {
  uint8_t k[fmt::kSeqPosKeyBytes], v[fmt::kSeqPosValueBytes];
  fmt::encode_seqpos(k, v, 0x0102030405060708ull, 1001, 4160);
  EXPECT_EQ(bytes(k, 8), std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8));
  EXPECT_EQ(bytes(v, 16), std::string("\xe9\x03\x00\x00\x00\x00\x00\x00"
                                      "\x40\x10\x00\x00\x00\x00\x00\x00",
                                      16));
}

TEST(IndexFormat, TimeKeyBytesArePinned) {
  uint8_t k[fmt::kTimeKeyBytes];
  fmt::encode_time_key(k, 7, 0x1122334455667788ull);
  EXPECT_EQ(bytes(k, 12), std::string("\x00\x00\x00\x07\x11\x22\x33\x44\x55\x66\x77\x88", 12));
}

TEST(IndexFormat, KeyKeyBytesArePinned) {
  EXPECT_EQ(fmt::encode_key_key(258, "AAPL"), std::string("\x00\x00\x01\x02"
                                                          "AAPL",
                                                          8));
}

TEST(IndexFormat, StreamValueBytesArePinnedAndRoundTrip) {
  StreamInfo info;
  info.count = 3;
  info.first_seq = 10;
  info.last_seq = 12;
  info.first_ts_ns = 256;
  info.last_ts_ns = 257;
  info.name = "ticks";
  const std::string v = fmt::encode_stream_value(info);
  EXPECT_EQ(v, std::string("\x03\x00\x00\x00\x00\x00\x00\x00"
                           "\x0a\x00\x00\x00\x00\x00\x00\x00"
                           "\x0c\x00\x00\x00\x00\x00\x00\x00"
                           "\x00\x01\x00\x00\x00\x00\x00\x00"
                           "\x01\x01\x00\x00\x00\x00\x00\x00"
                           "ticks",
                           45));
  const StreamInfo back =
      fmt::decode_stream_value(4, reinterpret_cast<const uint8_t*>(v.data()), v.size());
  EXPECT_EQ(back.count, 3u);
  EXPECT_EQ(back.last_ts_ns, 257u);
  EXPECT_EQ(back.name, "ticks");
}

// A real store's index holds exactly these layouts: read its databases with
// plain LMDB calls and compare with bytes written out by hand.
TEST(IndexFormat, ARealIndexStoresThePinnedBytes) {
  testing::TempDir dir;
  {
    auto store = Store::open(dir.path());
    ASSERT_TRUE(store);
    AppendOptions ao;
    ao.ts_ns = 0x0102;
    ao.key = "K";
    ASSERT_TRUE((*store)->append("s", "x", ao));
    ASSERT_TRUE((*store)->close());
  }
  MDB_env* env = nullptr;
  ASSERT_EQ(mdb_env_create(&env), 0);
  mdb_env_set_maxdbs(env, 16);
  ASSERT_EQ(mdb_env_open(env, (dir.path() + "/index").c_str(), MDB_RDONLY, 0644), 0);
  MDB_txn* txn = nullptr;
  ASSERT_EQ(mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn), 0);
  auto get = [&](const char* db, const std::string& key) {
    MDB_dbi dbi;
    EXPECT_EQ(mdb_dbi_open(txn, db, 0, &dbi), 0) << db;
    MDB_val k{key.size(), const_cast<char*>(key.data())}, v;
    EXPECT_EQ(mdb_get(txn, dbi, &k, &v), 0) << db;
    return std::string(static_cast<const char*>(v.mv_data), v.mv_size);
  };
  EXPECT_EQ(get("meta", "format"), std::string("\x02\x00\x00\x00\x00\x00\x00\x00", 8));
  EXPECT_EQ(get("meta", "indexed_seq"), std::string("\x01\x00\x00\x00\x00\x00\x00\x00", 8));
  // seq 1 is the first frame of segment 1, at offset 64.
  EXPECT_EQ(get("seqpos", std::string("\x00\x00\x00\x00\x00\x00\x00\x01", 8)),
            std::string("\x01\x00\x00\x00\x00\x00\x00\x00\x40\x00\x00\x00\x00\x00\x00\x00", 16));
  EXPECT_EQ(get("time", std::string("\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01\x02", 12)),
            std::string("\x00\x00\x00\x00\x00\x00\x00\x01", 8));
  EXPECT_EQ(get("key", std::string("\x00\x00\x00\x01"
                                   "K",
                                   5)),
            std::string("\x00\x00\x00\x00\x00\x00\x00\x01", 8));
  EXPECT_EQ(get("names", "s"), std::string("\x01\x00\x00\x00", 4));
  mdb_txn_abort(txn);
  mdb_env_close(env);
}

}  // namespace
}  // namespace reel
