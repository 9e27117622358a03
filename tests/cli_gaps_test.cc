// `reel gaps` against a real store holding a feed with gaps left on purpose.
#include <string>

#include <gtest/gtest.h>

#include "cli_util.h"
#include "feed/source_seq.h"
#include "ingest/seq_rules.h"
#include "ingest/source_recorder.h"
#include "reel/reel.h"
#include "test_util.h"

namespace reel {
namespace {

std::string mold(uint64_t seq, uint16_t count) {
  std::string p = "SESSION001";
  for (int i = 7; i >= 0; --i) p += static_cast<char>(seq >> (8 * i));
  p += static_cast<char>(count >> 8);
  p += static_cast<char>(count & 0xff);
  return p + std::string(count * 4u, 'm');
}

// itch: MoldUDP64 packets of 2 messages, 1..10 then 15.. (11..14 lost), and a
// retransmission of 5; orders: one number per record, 1..5 then 9 (6..8 lost).
void write_feed(const std::string& dir) {
  auto store = Store::open(dir);
  ASSERT_TRUE(store);
  const uint64_t itch[] = {1, 3, 5, 7, 9, 15, 5, 17};
  uint64_t ts = 1'795'000'000'000'000'000ull;
  for (uint64_t s : itch) {
    AppendOptions ao;
    ao.source_seq = s;
    ao.ts_ns = ts += 1000;
    ASSERT_TRUE((*store)->append("itch", mold(s, 2), ao));
  }
  for (uint64_t s : {1, 2, 3, 4, 5, 9, 10}) {
    AppendOptions ao;
    ao.source_seq = s;
    ao.ts_ns = ts += 1000;
    ASSERT_TRUE((*store)->append("orders", "order " + std::to_string(s), ao));
  }
  ASSERT_TRUE((*store)->close());
}

TEST(CliGaps, ListsTheGapsAFeedLeftOnPurpose) {
  testing::TempDir dir;
  const std::string S = dir.path() + "/S";
  write_feed(S);
  // MoldUDP64: the message count says 11 comes after 9; 11..14 are missing.
  auto r = reel("gaps " + S + " --stream itch --seq moldudp64");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("itch: source seq 11..14 missing (4), found at seq 6, "), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("itch: 8 records with a source seq, 1 gaps (4 source seqs missing), "
                       "1 duplicates"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find("orders"), std::string::npos) << r.out;
  // Stored source seqs, one number per record: orders lost 6..8.
  r = reel("gaps " + S + " --stream orders");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("orders: source seq 6..8 missing (3), found at seq 14, "), std::string::npos)
      << r.out;
  // --from/--to bound the seqs looked at: no gap before seq 14.
  r = reel("gaps " + S + " --stream orders --to 13");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("orders: 5 records with a source seq, 0 gaps"), std::string::npos) << r.out;
  r = reel("gaps " + S + " --seq 3:u48be");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("bad source seq spec"), std::string::npos) << r.err;
}

// A stream recorded through the path reel serve and reel import share
// (ingest::SourceRecorder) keeps its rule in STORE/seq_rules: reel gaps
// reads MoldUDP64 counts without being told, and --seq stored still reads
// the one number per record that was stored.
TEST(CliGaps, AStreamsRecordedRuleIsUsedWithoutAFlag) {
  testing::TempDir dir;
  const std::string S = dir.path() + "/S";
  {
    auto store = Store::open(S);
    ASSERT_TRUE(store);
    ingest::SourceRecorder recorder(store->get());
    ingest::SourceCounts counts;
    const auto rule = *feed::parse_seq_spec("moldudp64");
    for (uint64_t s : {1, 3, 5, 7, 9, 15, 17}) {  // 2 messages each: 11..14 lost
      const std::string p = mold(s, 2);
      ASSERT_TRUE(recorder.record(
          "itch", rule, {reinterpret_cast<const uint8_t*>(p.data()), p.size()}, 0, &counts));
    }
    EXPECT_EQ(counts.gaps.gaps(), 1u);
    // Beside the live writer (another process reads the WAL and the rule).
    ASSERT_TRUE((*store)->flush());
    const CliRun live = reel("gaps " + S);
    ASSERT_EQ(live.exit_code, 0) << live.err;
    EXPECT_NE(live.out.find("itch: source seq 11..14 missing (4)"), std::string::npos) << live.out;
    ASSERT_TRUE((*store)->close());
  }
  auto r = reel("gaps " + S);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("itch: source seq 11..14 missing (4)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("itch: 7 records with a source seq, 1 gaps (4 source seqs missing)"),
            std::string::npos)
      << r.out;
  r = reel("gaps " + S + " --seq stored");  // 1, 3, 5, ...: every other number missing
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("itch: 7 records with a source seq, 6 gaps"), std::string::npos) << r.out;
}

TEST(SeqRules, NamesOfAnyBytesRoundTripAndABadLineIsNamed) {
  ingest::SeqRules rules;
  rules["itch"] = *feed::parse_seq_spec("moldudp64");
  rules[std::string("a b%c\n\x01\xff", 8)] = *feed::parse_seq_spec("4:u32le");
  auto back = ingest::parse_seq_rules(ingest::format_seq_rules(rules), "S/seq_rules");
  ASSERT_TRUE(back) << back.status().to_string();
  ASSERT_EQ(back->size(), 2u);
  for (const auto& [name, spec] : rules) {
    ASSERT_EQ(back->count(name), 1u) << name;
    EXPECT_EQ(feed::seq_spec_name(back->at(name)), feed::seq_spec_name(spec));
  }
  auto bad = ingest::parse_seq_rules("moldudp64 itch\nnot-a-spec x\n", "S/seq_rules");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.status().message().find("S/seq_rules: line 2"), std::string::npos)
      << bad.status().to_string();
  bad = ingest::parse_seq_rules("moldudp64 it%zzch\n", "S/seq_rules");
  EXPECT_FALSE(bad);
}

}  // namespace
}  // namespace reel
