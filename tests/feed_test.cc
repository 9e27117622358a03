// The feed pieces of `reel serve` and `reel import`: framings, source seq
// specs and the gap tracker.
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "feed/endpoint.h"
#include "feed/gap_tracker.h"
#include "feed/source_seq.h"
#include "test_util.h"
#include "wire/framing.h"

namespace reel::feed {
namespace {

std::span<const uint8_t> bytes_of(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

std::string lp(const std::string& r) {
  std::string out(4, '\0');
  const uint32_t n = static_cast<uint32_t>(r.size());
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>(n >> (8 * i));
  return out + r;
}

std::string u16be(const std::string& r) {
  return std::string{static_cast<char>(r.size() >> 8), static_cast<char>(r.size() & 0xff)} + r;
}

// Feeds `stream` in chunks cut at random places; returns the records.
std::vector<std::string> deframe(Framing f, const std::string& stream, std::mt19937_64& rng,
                                 Status* status, size_t max_record = 1 << 20) {
  Deframer d(f, max_record);
  std::vector<std::string> out;
  size_t at = 0;
  while (at < stream.size()) {
    const size_t n = std::min<size_t>(stream.size() - at, 1 + rng() % 40);
    *status = d.feed(bytes_of(stream.substr(at, n)), [&](std::span<const uint8_t> r) {
      out.emplace_back(reinterpret_cast<const char*>(r.data()), r.size());
    });
    if (!*status) break;
    at += n;
  }
  return out;
}

std::vector<std::string> sample_records(std::mt19937_64& rng, bool lines) {
  std::vector<std::string> records;
  for (int i = 0; i < 200; ++i) {
    std::string r(rng() % 90, '\0');
    for (auto& c : r) c = static_cast<char>(lines ? 'a' + rng() % 26 : rng());
    records.push_back(r);
  }
  return records;
}

TEST(Framing, EveryFramingGivesBackTheRecordsWhateverTheChunks) {
  const uint64_t seed = testing::test_seed();
  std::mt19937_64 rng(seed);
  for (Framing f : {Framing::kLengthPrefixed, Framing::kU16BigEndian, Framing::kLines}) {
    const auto records = sample_records(rng, f == Framing::kLines);
    std::string stream;
    for (const auto& r : records) {
      stream += f == Framing::kLengthPrefixed ? lp(r)
                : f == Framing::kU16BigEndian ? u16be(r)
                                              : r + "\n";
    }
    Status s;
    EXPECT_EQ(deframe(f, stream, rng, &s), records) << framing_name(f);
    EXPECT_TRUE(s) << s.to_string();
  }
}

TEST(Framing, AnUnfinishedRecordWaitsForItsBytes) {
  Deframer d(Framing::kLengthPrefixed, 100);
  std::vector<std::string> out;
  auto sink = [&](std::span<const uint8_t> r) { out.emplace_back(r.begin(), r.end()); };
  const std::string stream = lp("hello") + lp("");
  ASSERT_TRUE(d.feed(bytes_of(stream.substr(0, 6)), sink));
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(d.buffered(), 6u);
  ASSERT_TRUE(d.feed(bytes_of(stream.substr(6)), sink));
  EXPECT_EQ(out, (std::vector<std::string>{"hello", ""}));
  EXPECT_EQ(d.buffered(), 0u);
  EXPECT_EQ(d.bytes_consumed(), stream.size());
}

TEST(Framing, OversizeRecordIsAnErrorNamingItsOffsetAndStays) {
  for (Framing f : {Framing::kLengthPrefixed, Framing::kU16BigEndian, Framing::kLines}) {
    const std::string big(300, 'x');
    const std::string first = f == Framing::kLengthPrefixed ? lp("ok")
                              : f == Framing::kU16BigEndian ? u16be("ok")
                                                            : std::string("ok\n");
    const std::string second = f == Framing::kLengthPrefixed ? lp(big)
                               : f == Framing::kU16BigEndian ? u16be(big)
                                                             : big;  // no newline in sight
    std::mt19937_64 rng(7);
    Status s;
    const auto out = deframe(f, first + second, rng, &s, 100);
    EXPECT_EQ(out, std::vector<std::string>{"ok"}) << framing_name(f);
    ASSERT_FALSE(s) << framing_name(f);
    EXPECT_NE(s.message().find(f == Framing::kLines ? "longer than the limit of 100" : "300 bytes"),
              std::string::npos)
        << s.message();
    EXPECT_NE(s.message().find("offset " + std::to_string(first.size())), std::string::npos)
        << s.message();
  }
}

TEST(Framing, NamesParse) {
  EXPECT_EQ(*parse_framing("u16be"), Framing::kU16BigEndian);
  EXPECT_FALSE(parse_framing("json"));
}

std::string mold(uint64_t seq, uint16_t count) {
  std::string p = "SESSION001";
  for (int i = 7; i >= 0; --i) p += static_cast<char>(seq >> (8 * i));
  p += static_cast<char>(count >> 8);
  p += static_cast<char>(count & 0xff);
  return p + std::string(count == 0xFFFF ? 0 : count * 3u, 'm');
}

TEST(SourceSeq, MoldUdp64CarriesSeqAndCount) {
  const auto spec = *parse_seq_spec("moldudp64");
  auto s = extract_source_seq(spec, bytes_of(mold(1000, 3)));
  ASSERT_TRUE(s);
  EXPECT_EQ(s->seq, 1000u);
  EXPECT_EQ(s->next, 1003u);
  EXPECT_EQ(extract_source_seq(spec, bytes_of(mold(1003, 0)))->next, 1003u);       // heartbeat
  EXPECT_EQ(extract_source_seq(spec, bytes_of(mold(1003, 0xFFFF)))->next, 1003u);  // end
  EXPECT_FALSE(extract_source_seq(spec, bytes_of(std::string(19, 'x'))));
}

TEST(SourceSeq, OffsetSpecsReadTheirInteger) {
  const std::string p("\x01\x02\x03\x04\x05\x06\x07\x08\x09", 9);
  EXPECT_EQ(extract_source_seq(*parse_seq_spec("1:u32be"), bytes_of(p))->seq, 0x02030405u);
  EXPECT_EQ(extract_source_seq(*parse_seq_spec("1:u32le"), bytes_of(p))->seq, 0x05040302u);
  EXPECT_EQ(extract_source_seq(*parse_seq_spec("0:u64be"), bytes_of(p))->seq, 0x0102030405060708u);
  EXPECT_EQ(extract_source_seq(*parse_seq_spec("1:u64le"), bytes_of(p))->next,
            0x0908070605040302u + 1);
  EXPECT_FALSE(extract_source_seq(*parse_seq_spec("2:u64be"), bytes_of(p)));
  EXPECT_FALSE(parse_seq_spec("4:u48be"));
  EXPECT_FALSE(parse_seq_spec("x:u32be"));
  EXPECT_EQ(seq_spec_name(*parse_seq_spec("12:u32le")), "12:u32le");
}

// A MoldUDP64 feed that starts a new session restarts its numbers: not a
// run of duplicates, and a gap in the new session is still found.
TEST(GapTracker, ANewMoldUdp64SessionRestartsTheExpectation) {
  const auto spec = *parse_seq_spec("moldudp64");
  GapTracker t;
  std::string next_day = mold(1, 2);
  next_day.replace(0, 10, "SESSION002");
  EXPECT_FALSE(t.observe(*extract_source_seq(spec, bytes_of(mold(5000, 2))), 1, 0));
  EXPECT_FALSE(t.observe(*extract_source_seq(spec, bytes_of(next_day)), 2, 0));
  std::string later = mold(7, 1);
  later.replace(0, 10, "SESSION002");
  auto gap = t.observe(*extract_source_seq(spec, bytes_of(later)), 3, 0);
  ASSERT_TRUE(gap);
  EXPECT_EQ(gap->first_missing, 3u);
  EXPECT_EQ(gap->last_missing, 6u);
  EXPECT_EQ(t.duplicates(), 0u);
  EXPECT_EQ(t.sessions(), 2u);
}

TEST(GapTracker, GapsAndDuplicatesAreCountedNeverDropped) {
  GapTracker t;
  EXPECT_FALSE(t.observe({100, 103}, 1, 10));  // the first sets the expectation
  EXPECT_FALSE(t.observe({103, 105}, 2, 20));
  auto gap = t.observe({110, 111}, 3, 30);  // 105..109 never came
  ASSERT_TRUE(gap);
  EXPECT_EQ(gap->first_missing, 105u);
  EXPECT_EQ(gap->last_missing, 109u);
  EXPECT_EQ(gap->seq, 3u);
  EXPECT_EQ(gap->ts_ns, 30u);
  EXPECT_FALSE(t.observe({105, 110}, 4, 40));  // a late retransmission
  EXPECT_FALSE(t.observe({111, 112}, 5, 50));
  EXPECT_EQ(t.records(), 5u);
  EXPECT_EQ(t.gaps(), 1u);
  EXPECT_EQ(t.missing(), 5u);
  EXPECT_EQ(t.duplicates(), 1u);
  EXPECT_EQ(t.expected(), 112u);
}

}  // namespace
}  // namespace reel::feed

namespace reel::feed {
namespace {

TEST(Endpoint, TheDocumentedExamplesParse) {
  auto udp = parse_endpoint(Endpoint::Kind::kUdp, "127.0.0.1:9000,stream=itch,seq=moldudp64");
  ASSERT_TRUE(udp) << udp.status().to_string();
  EXPECT_EQ(udp->address, "127.0.0.1");
  EXPECT_EQ(udp->port, 9000);
  EXPECT_EQ(udp->stream, "itch");
  EXPECT_EQ(udp->seq.kind, SeqSpec::Kind::kMoldUdp64);
  auto tcp = parse_endpoint(Endpoint::Kind::kTcp, "9001,framing=u16be,stream=orders");
  ASSERT_TRUE(tcp) << tcp.status().to_string();
  EXPECT_EQ(tcp->address, "0.0.0.0");
  EXPECT_EQ(tcp->framing, Framing::kU16BigEndian);
  auto plain = parse_endpoint(Endpoint::Kind::kUdp, "9000");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->stream, "udp:9000");
  EXPECT_EQ(plain->seq.kind, SeqSpec::Kind::kNone);
  auto mc = parse_endpoint(Endpoint::Kind::kMulticast,
                           "239.1.1.1:5000,iface=10.0.0.2,source=10.0.0.1,seq=0:u64be");
  ASSERT_TRUE(mc) << mc.status().to_string();
  EXPECT_EQ(mc->stream, "mcast:239.1.1.1:5000");
  EXPECT_EQ(mc->source, "10.0.0.1");
}

TEST(Endpoint, BadSpecsSayWhatIsWrong) {
  struct Case {
    Endpoint::Kind kind;
    const char* text;
    const char* says;
  } cases[] = {
      {Endpoint::Kind::kUdp, "70000", "bad port '70000'"},
      {Endpoint::Kind::kUdp, "1.2.3:9000", "bad address '1.2.3'"},
      {Endpoint::Kind::kUdp, "9000,framing=lp", "unknown option 'framing=lp' for a udp"},
      {Endpoint::Kind::kTcp, "9001,framing=xml", "unknown framing 'xml'"},
      {Endpoint::Kind::kTcp, "9001,stream", "needs KEY=VALUE"},
      {Endpoint::Kind::kMulticast, "10.1.1.1:5000,iface=10.0.0.2", "not a multicast group"},
      {Endpoint::Kind::kMulticast, "239.1.1.1:5000", "needs iface=ADDR"},
      {Endpoint::Kind::kMulticast, "5000", "needs GROUP:PORT"},
  };
  for (const auto& c : cases) {
    auto e = parse_endpoint(c.kind, c.text);
    ASSERT_FALSE(e) << c.text;
    EXPECT_NE(e.status().message().find(c.says), std::string::npos)
        << c.text << ": " << e.status().message();
  }
}

}  // namespace
}  // namespace reel::feed
