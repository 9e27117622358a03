// Pins the head file's bytes (store/head_format.h): a head file written
// through HeadFile, with every field set, must equal this image byte for byte.
#include <cstring>
#include <string>

#include <gtest/gtest.h>

#include "store/head_file.h"
#include "test_util.h"
#include "wal/io_env.h"

namespace reel {
namespace {

TEST(HeadFormat, EveryFieldSitsAtItsPinnedOffset) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/head";
  {
    auto env = wal::make_uring_env();
    ASSERT_TRUE(env) << env.status().to_string();
    store::HeadFile head;
    ASSERT_TRUE(head.open_for_write(path, 0x1122334455667788ull, env->get()));
    ASSERT_TRUE(head.begin_writer_session(4242));  // pid, generation 1, clean 0
    head.set_written_seq(1001);
    head.set_durable_seq(1000);
    head.set_indexed_seq(999);
    ASSERT_TRUE(head.mark_index_dirty("0f9e8d7c-6b5a-4938-2716-05f4e3d2c1b0"));
    head.notify();  // epoch 1
    ASSERT_TRUE(head.mark_clean_shutdown());
    head.end_writer_session();
  }
  const std::string bytes = testing::read_all(path);
  ASSERT_EQ(bytes.size(), 4096u);
  std::string expected(4096, '\0');
  auto put = [&](size_t at, const std::string& b) { expected.replace(at, b.size(), b); };
  put(0, "REELHEAD");
  put(8, std::string("\x01\x00\x00\x00", 4));                    // version
  put(16, std::string("\x88\x77\x66\x55\x44\x33\x22\x11", 8));   // store_id
  put(24, std::string("\xe9\x03\x00\x00\x00\x00\x00\x00", 8));   // written_seq 1001
  put(32, std::string("\xe8\x03\x00\x00\x00\x00\x00\x00", 8));   // durable_seq 1000
  put(40, std::string("\xe7\x03\x00\x00\x00\x00\x00\x00", 8));   // indexed_seq 999
  put(48, std::string("\x92\x10\x00\x00\x00\x00\x00\x00", 8));   // writer_pid 4242
  put(56, std::string("\x01\x00\x00\x00\x00\x00\x00\x00", 8));   // generation 1
  put(64, std::string("\x01\x00\x00\x00\x00\x00\x00\x00", 8));   // index_dirty
  put(72, "0f9e8d7c-6b5a-4938-2716-05f4e3d2c1b0");               // boot_id
  put(112, std::string("\x01\x00\x00\x00\x00\x00\x00\x00", 8));  // clean_shutdown
  put(128, std::string("\x01\x00\x00\x00", 4));                  // notify_epoch
  for (size_t i = 0; i < expected.size(); ++i) {
    ASSERT_EQ(static_cast<unsigned>(static_cast<uint8_t>(bytes[i])),
              static_cast<unsigned>(static_cast<uint8_t>(expected[i])))
        << "head file byte " << i;
  }
}

}  // namespace
}  // namespace reel
