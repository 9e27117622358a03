// JSON rendering through the store's own reflection schema.
#include <gtest/gtest.h>

#include "json/record_json.h"
#include "reel/reel.h"
#include "test_util.h"

namespace reel {
namespace {

std::string render_one(const std::string& payload, const std::string& key = "") {
  testing::TempDir dir;
  {
    auto store = Store::open(dir.path());
    AppendOptions ao;
    ao.key = key;
    ao.ts_ns = 5;
    ao.source_seq = 9;
    EXPECT_TRUE((*store)->append("s\"q", payload, ao));
  }
  json::RecordJson renderer;
  EXPECT_TRUE(renderer.load(dir / "schemas/record.bfbs"));
  auto reader = Reader::open(dir.path());
  auto v = (*reader)->get(1);
  EXPECT_TRUE(v);
  return renderer.render(*v);
}

TEST(RecordJson, TextPayloadIsAStringWithEscapes) {
  EXPECT_EQ(render_one("a\"b\\c\nd\t"),
            "{\"seq\":1,\"ts_ns\":5,\"stream\":1,\"source_seq\":9,"
            "\"payload\":\"a\\\"b\\\\c\\nd\\t\",\"stream_name\":\"s\\\"q\"}");
}

TEST(RecordJson, KeyAppearsOnlyWhenSet) {
  EXPECT_NE(render_one("x", "AAPL").find("\"key\":\"AAPL\""), std::string::npos);
  EXPECT_EQ(render_one("x").find("\"key\""), std::string::npos);
}

TEST(RecordJson, BinaryPayloadIsBase64WithPadding) {
  EXPECT_NE(render_one("\xff").find("\"payload_base64\":\"/w==\""), std::string::npos);
  EXPECT_NE(render_one("\xff\xfe").find("\"payload_base64\":\"//4=\""), std::string::npos);
  EXPECT_NE(render_one("\xff\xfe\xfd").find("\"payload_base64\":\"//79\""), std::string::npos);
  EXPECT_NE(render_one(std::string("a\0b", 3)).find("\"payload_base64\":\"YQBi\""),
            std::string::npos);
}

TEST(RecordJson, Utf8TextStaysText) {
  EXPECT_NE(render_one("caf\xc3\xa9 \xe2\x82\xac").find("\"payload\":\"caf\xc3\xa9 \xe2\x82\xac\""),
            std::string::npos);
  // A truncated multi-byte sequence is not text.
  EXPECT_NE(render_one("caf\xc3").find("payload_base64"), std::string::npos);
}

TEST(RecordJson, EmptyPayloadIsAnEmptyString) {
  EXPECT_NE(render_one("").find("\"payload\":\"\""), std::string::npos);
}

TEST(RecordJson, GarbageSchemaIsRejectedByName) {
  testing::TempDir dir;
  testing::write_all(dir / "bad.bfbs", "not a schema at all");
  json::RecordJson renderer;
  Status s = renderer.load(dir / "bad.bfbs");
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_NE(s.message().find("bad.bfbs"), std::string::npos);
}

}  // namespace
}  // namespace reel
