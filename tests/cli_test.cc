// End-to-end: the real `reel` binary against real stores.
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "cli_util.h"
#include "reel/reel.h"
#include "test_util.h"

namespace reel {
namespace {

using testing::TempDir;

// `reel tail -f` in one process shows lines that `reel append` adds from
// another, as they arrive.
TEST(Cli, TailFollowShowsAppendedLinesAsTheyArrive) {
  TempDir dir;
  const std::string S = dir / "S";
  ASSERT_EQ(reel("append " + S, "before\n").exit_code, 0);
  int out[2];
  ASSERT_EQ(::pipe(out), 0);
  const pid_t tail = ::fork();
  ASSERT_GE(tail, 0);
  if (tail == 0) {
    ::dup2(out[1], STDOUT_FILENO);
    ::close(out[0]);
    ::execl(REEL_BINARY, "reel", "tail", S.c_str(), "-f", "-n", "1", "--format", "payload",
            static_cast<char*>(nullptr));
    _exit(127);
  }
  ::close(out[1]);
  // Reads what tail prints until `want` has arrived or 10 s pass.
  std::string seen;
  auto read_until = [&](const std::string& want) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (seen.find(want) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      pollfd p{out[0], POLLIN, 0};
      if (::poll(&p, 1, 100) == 1) {
        char buf[4096];
        const ssize_t n = ::read(out[0], buf, sizeof buf);
        if (n <= 0) break;
        seen.append(buf, static_cast<size_t>(n));
      }
    }
    return seen.find(want) != std::string::npos;
  };
  EXPECT_TRUE(read_until("before\n")) << seen;
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(reel("append " + S, "hello\nworld\n").exit_code, 0);
  EXPECT_TRUE(read_until("before\nhello\nworld\n")) << seen;
  std::printf(
      "tail -f showed the lines %.1f ms after reel append started\n",
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  ::kill(tail, SIGTERM);
  int status = 0;
  ::waitpid(tail, &status, 0);
  ::close(out[0]);
}

TEST(Cli, TailPrintsTheLastRecordsAndRejectsBadFlags) {
  TempDir dir;
  const std::string S = dir / "S";
  ASSERT_EQ(reel("append " + S, lines(1, 100)).exit_code, 0);
  CliRun r = reel("tail " + S + " -n 3 --format payload");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, lines(98, 100));
  r = reel("tail " + S + " --from 99 --format payload");
  EXPECT_EQ(r.out, lines(99, 100));
  r = reel("tail " + S + " --from yesterday");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("bad --from 'yesterday'"), std::string::npos) << r.err;
  r = reel("tail " + (dir / "missing"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no reel store here"), std::string::npos) << r.err;
  r = reel("tail " + S + " --stream nope");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no stream named 'nope'"), std::string::npos) << r.err;
}

TEST(Cli, AMillionLinesThenATornTailAndAFlippedByte) {
  TempDir dir;
  const std::string S = dir / "S";
  CliRun r = reel("append " + S, lines(1, 1000000));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "1000000\n");

  r = reel("stat " + S);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("records     1000000 (seq 1..1000000)"), std::string::npos) << r.out;

  r = reel("get " + S + " 777777 --format payload");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "777777\n");

  // Cut the last segment in the middle of its last frame.
  r = reel("stat " + S + " --json");
  ASSERT_EQ(r.exit_code, 0);
  const auto pos = r.out.find("\"wal_bytes\":");
  const uint64_t end = std::stoull(r.out.substr(pos + 12)) + 64;
  testing::truncate_file(testing::segment_path(S, 1), end - 30);
  // Readers read it as it is: the torn frame is the end of the log.
  r = reel("get " + S + " 1000000 --format payload");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no record with seq 1000000"), std::string::npos) << r.err;
  // Only a writer recovers: an append of nothing cuts the torn tail.
  r = reel("append " + S, "");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = reel("stat " + S);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("records     999999 (seq 1..999999)"), std::string::npos) << r.out;
  r = reel("get " + S + " 999999 --format payload");
  EXPECT_EQ(r.out, "999999\n");

  // Flip one byte inside a frame in the middle.
  testing::flip_bit(testing::segment_path(S, 1), 50'000'000, 2);
  r = reel("verify " + S);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find("FAULT wal/00000000000000000001.seg: bad checksum at offset"),
            std::string::npos)
      << r.out;
  // The named seq is the one whose frame holds byte 50,000,000.
  auto reader = Reader::open(S);
  ASSERT_TRUE(reader);
  const auto seq_pos = r.out.find("(seq ");
  ASSERT_NE(seq_pos, std::string::npos);
  const uint64_t seq = std::stoull(r.out.substr(seq_pos + 5));
  EXPECT_EQ((*reader)->get(seq).status().code(), Code::kCorruption);
  EXPECT_TRUE((*reader)->get(seq - 1));
  EXPECT_TRUE((*reader)->get(seq + 1));
}

TEST(Cli, EveryCommandHasHelp) {
  for (const char* cmd : {"append", "cat", "get", "stat", "verify", "reindex"}) {
    CliRun r = reel(std::string(cmd) + " --help");
    EXPECT_EQ(r.exit_code, 0) << cmd;
    EXPECT_EQ(r.out.rfind(std::string("usage: reel ") + cmd, 0), 0u) << r.out;
  }
  CliRun r = reel("--help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("commands:"), std::string::npos);
}

// --zero-ahead reaches the store: by default the space just past a new
// segment's data is written with zeros; with 0 it stays only preallocated.
TEST(Cli, ZeroAheadFlagReachesTheStore) {
  TempDir dir;
  for (const std::string flag : {"", " --zero-ahead 0"}) {
    const std::string S = dir / (flag.empty() ? "on" : "off");
    ASSERT_EQ(reel("append " + S + " --sync always" + flag, "a\nb\n").exit_code, 0);
    const auto unwritten = testing::unwritten_at(testing::segment_path(S, 1), 512 << 10);
    if (!unwritten) GTEST_SKIP() << "FIEMAP cannot tell written from preallocated here";
    EXPECT_EQ(*unwritten, !flag.empty()) << "append" << flag;
  }
}

TEST(Cli, BadInputGivesOneClearLineAndANonZeroExit) {
  TempDir dir;
  const std::string S = dir / "S";
  ASSERT_EQ(reel("append " + S, "a\nb\n").exit_code, 0);
  struct Case {
    std::string args;
    int exit_code;
    std::string needle;
  } cases[] = {
      {"frobnicate " + S, 2, "unknown command 'frobnicate'"},
      {"cat " + S + " --colour", 2, "unknown option '--colour'"},
      {"cat", 2, "missing STORE"},
      {"get " + S, 2, "missing SEQ"},
      {"get " + S + " abc", 2, "bad SEQ 'abc'"},
      {"get " + S + " 0", 2, "bad SEQ '0'"},
      {"get " + S + " 3", 1, "no record with seq 3"},
      {"cat " + S + " --from yesterday", 2, "bad --from 'yesterday'"},
      {"cat " + S + " --from 2026-02-30T00:00:00Z", 2, "bad --from"},
      {"cat " + S + " --format xml", 2, "unknown --format 'xml'"},
      {"cat " + S + " --limit -1", 2, "bad --limit"},
      {"cat " + S + " --stream nope", 1, "no stream named 'nope'"},
      {"cat " + (dir / "missing"), 1, "no reel store here"},
      {"stat " + (dir / "missing"), 1, "no reel store here"},
      {"verify " + (dir / "missing"), 1, "no reel store here"},
      {"append " + S + " --sync sometimes", 2, "bad sync policy 'sometimes'"},
      {"append " + S + " --format csv", 2, "unknown --format 'csv'"},
      {"append " + S + " --segment-size 12XB", 2, "bad --segment-size"},
      {"append " + S + " --zero-ahead 12XB", 2, "bad --zero-ahead '12XB'"},
      {"append " + S + " --max-record 65MiB", 2, "bad --max-record '65MiB'"},
      {"cat " + S + " --format", 2, "needs a value"},
  };
  for (const auto& c : cases) {
    CliRun r = reel(c.args);
    EXPECT_EQ(r.exit_code, c.exit_code) << c.args << "\n" << r.err;
    EXPECT_NE(r.err.find(c.needle), std::string::npos) << c.args << "\n" << r.err;
    EXPECT_EQ(count_lines(r.err), 1) << c.args << "\n" << r.err;
  }
}

TEST(Cli, LengthPrefixedInputRoundTripsAndATruncatedRecordLosesNothingBefore) {
  TempDir dir;
  const std::string S = dir / "S";
  std::string input;
  auto add = [&](const std::string& rec) {
    uint32_t n = static_cast<uint32_t>(rec.size());
    input.append(reinterpret_cast<const char*>(&n), 4);
    input += rec;
  };
  add(std::string("bin\0ary\n", 8));
  add("");
  add(std::string(5000, 'z'));
  CliRun r = reel("append " + S + " --format lp --stream bin", input);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "3\n");
  r = reel("cat " + S + " --format lp");
  EXPECT_EQ(r.out, input);

  std::string torn = input.substr(0, 12 + 5);  // next record's header promises more than is there
  uint32_t n = 100;
  torn.append(reinterpret_cast<const char*>(&n), 4);
  torn += "short";
  std::string prefix;
  uint32_t one = 1;
  prefix.append(reinterpret_cast<const char*>(&one), 4);
  prefix += "A";
  r = reel("append " + S + " --format lp",
           prefix + std::string(reinterpret_cast<const char*>(&n), 4) + "short");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("truncated record at byte offset 5"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "4\n");  // the whole record before it was appended
  EXPECT_EQ(reel("get " + S + " 4 --format payload").out, "A\n");
}

TEST(Cli, CatSelectsBySeqTimeStreamAndLimit) {
  TempDir dir;
  const std::string S = dir / "S";
  ASSERT_EQ(reel("append " + S + " --stream a", lines(1, 5)).exit_code, 0);
  ASSERT_EQ(reel("append " + S + " --stream b", lines(6, 10)).exit_code, 0);
  EXPECT_EQ(reel("cat " + S + " --from 3 --to 7 --format payload").out, lines(3, 7));
  EXPECT_EQ(reel("cat " + S + " --stream b --format payload").out, lines(6, 10));
  EXPECT_EQ(reel("cat " + S + " --limit 2 --format payload").out, lines(1, 2));
  EXPECT_EQ(reel("cat " + S + " --from @0 --format payload").out, lines(1, 10));
  EXPECT_EQ(reel("cat " + S + " --from 2000-01-01T00:00:00Z --to 2001-01-01T00:00:00Z").out, "");
  EXPECT_EQ(reel("cat " + S + " --stream a --from @0 --to @9999999999 --format payload").out,
            lines(1, 5));
  CliRun json = reel("get " + S + " 7");
  EXPECT_EQ(json.exit_code, 0);
  EXPECT_NE(json.out.find("\"seq\":7,"), std::string::npos) << json.out;
  EXPECT_NE(json.out.find("\"payload\":\"7\""), std::string::npos) << json.out;
  EXPECT_EQ(json.out.find("stream_name"), std::string::npos) << json.out;
  // The first record of stream b in the segment declares its name.
  EXPECT_NE(reel("get " + S + " 6").out.find("\"stream_name\":\"b\""), std::string::npos);
  CliRun hex = reel("get " + S + " 7 --format hex");
  EXPECT_NE(hex.out.find("payload=37"), std::string::npos) << hex.out;
  CliRun stat = reel("stat " + S + " --json");
  EXPECT_NE(stat.out.find("\"records\":10"), std::string::npos) << stat.out;
  EXPECT_NE(stat.out.find("\"name\":\"b\""), std::string::npos) << stat.out;
}

TEST(Cli, JsonWorksFromTheSchemaKeptInTheStore) {
  TempDir dir;
  const std::string S = dir / "S";
  ASSERT_EQ(reel("append " + S, "x\n").exit_code, 0);
  ASSERT_TRUE(std::filesystem::exists(S + "/schemas/record.bfbs"));
  EXPECT_EQ(reel("get " + S + " 1 --format json").exit_code, 0);
  // With a live writer holding the store (so nothing repairs it), the JSON
  // renderer must be reading the store's own copy of the schema.
  auto writer = Store::open(S);
  ASSERT_TRUE(writer);
  std::filesystem::remove(S + "/schemas/record.bfbs");
  CliRun r = reel("get " + S + " 1 --format json");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("schemas/record.bfbs"), std::string::npos) << r.err;
}

TEST(Cli, AppendFromEmptyStdinRecoversAndAppendsNothing) {
  TempDir dir;
  const std::string S = dir / "S";
  ASSERT_EQ(reel("append " + S, lines(1, 100)).exit_code, 0);
  CliRun r = reel("append " + S);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "100\n");
}

TEST(Cli, SecondWriterIsRefused) {
  TempDir dir;
  const std::string S = dir / "S";
  auto store = Store::open(S);
  ASSERT_TRUE(store);
  CliRun r = reel("append " + S, "x\n");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("open for writing by another writer"), std::string::npos) << r.err;
  // Readers are fine beside the writer.
  EXPECT_EQ(reel("stat " + S).exit_code, 0);
}

TEST(Cli, ReindexAndVerify) {
  TempDir dir;
  const std::string S = dir / "S";
  ASSERT_EQ(reel("append " + S + " --segment-size 16KiB", lines(1, 5000)).exit_code, 0);
  CliRun r = reel("reindex " + S);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("5000 records"), std::string::npos);
  r = reel("verify " + S);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("clean"), std::string::npos);
  std::filesystem::remove_all(S + "/index");
  r = reel("verify " + S);
  EXPECT_EQ(r.exit_code, 1);
  r = reel("get " + S + " 4321 --format payload");
  EXPECT_EQ(r.out, "4321\n");
}

}  // namespace
}  // namespace reel
