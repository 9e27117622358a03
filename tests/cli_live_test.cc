// End-to-end: read commands of the real `reel` binary beside a live
// `reel append`, and on a store they must not touch.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "cli_util.h"
#include "reel/reel.h"
#include "test_util.h"

namespace reel {
namespace {

using namespace std::chrono_literals;
using testing::TempDir;
namespace fs = std::filesystem;

// Every file under `dir` with a hash of its bytes and its modification
// time; index/lock.mdb aside (LMDB's reader table: readers register there).
std::map<std::string, std::string> snapshot_files(const std::string& dir) {
  std::map<std::string, std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file() || entry.path().filename() == "lock.mdb") continue;
    const auto mtime = entry.last_write_time().time_since_epoch().count();
    files[entry.path().string()] =
        std::to_string(mtime) + ":" +
        std::to_string(std::hash<std::string>()(testing::read_all(entry.path())));
  }
  return files;
}

// Read commands never take LOCK, never write and never recover: an unclean
// store (a torn tail the next writer would cut) is read as it is and left
// byte for byte as it was.
TEST(CliLive, ReadCommandsNeverLockNorWriteAnUncleanStore) {
  TempDir dir;
  const std::string S = dir / "S";
  ASSERT_EQ(reel("append " + S + " --segment-size 64KiB", lines(1, 5000)).exit_code, 0);
  // Tear the last frame: cut the last segment 30 bytes before its last
  // non-zero byte, as a crash in the middle of a write would.
  std::string last;
  for (const auto& e : fs::directory_iterator(S + "/wal")) last = std::max(last, e.path().string());
  const std::string bytes = testing::read_all(last);
  const size_t end = bytes.find_last_not_of('\0');
  ASSERT_NE(end, std::string::npos);
  testing::truncate_file(last, end - 30);
  CliRun r = reel("get " + S + " 5000");
  EXPECT_EQ(r.exit_code, 1) << "the torn record is past the end of the log";
  EXPECT_NE(r.err.find("no record with seq 5000"), std::string::npos) << r.err;
  const auto before = snapshot_files(S);
  for (const std::string& cmd :
       {"get " + S + " 10", "cat " + S + " --from 4990 --format payload",
        "cat " + S + " --from @0 --format payload", "stat " + S, "stat " + S + " --json",
        "verify " + S, "tail " + S + " -n 5 --format payload"}) {
    r = reel(cmd);
    EXPECT_EQ(r.exit_code, cmd.starts_with("verify") ? 1 : 0) << cmd << ": " << r.err;
  }
  const auto after = snapshot_files(S);
  for (const auto& [path, state] : before) {
    EXPECT_EQ(after.count(path) ? after.at(path) : "gone", state) << path << " changed";
  }
  EXPECT_EQ(after.size(), before.size()) << "a read command created a file";
}

// A writer's liveness is its session lock on the head file, not its pid: a
// reader in another pid namespace (a sidecar container) sees it live, and
// sees it gone once it closed (checked: with the old pid test the reader in
// the new namespace saw no writer).
TEST(CliLive, AWriterIsLiveForAReaderInAnotherPidNamespace) {
  TempDir dir;
  const std::string S = dir / "S";
  auto store = Store::open(S);
  ASSERT_TRUE(store);
  ASSERT_TRUE((*store)->append("s", "x"));
  ASSERT_TRUE((*store)->flush());
  CliRun r = reel("stat " + S + " --json", "", "unshare --pid --fork ");
  if (r.exit_code != 0 && r.err.find("unshare") != std::string::npos) {
    GTEST_SKIP() << "cannot make a pid namespace here: " << r.err;
  }
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\"writer_live\":true"), std::string::npos) << r.out;
  ASSERT_TRUE((*store)->close());
  r = reel("stat " + S + " --json", "", "unshare --pid --fork ");
  EXPECT_NE(r.out.find("\"writer_live\":false"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"clean_shutdown\":true"), std::string::npos) << r.out;
}

// A writer killed with SIGKILL leaves no live session behind.
TEST(CliLive, AKilledWriterIsNotLive) {
  TempDir dir;
  const std::string S = dir / "S";
  const pid_t child = ::fork();
  if (child == 0) {
    auto store = Store::open(S);
    if (!store || !(*store)->append("s", "x") || !(*store)->flush()) ::_exit(1);
    ::kill(::getpid(), SIGKILL);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status));
  CliRun r = reel("stat " + S + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\"writer_live\":false"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"clean_shutdown\":false"), std::string::npos) << r.out;
}

pid_t spawn_shell(const std::string& command) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return pid;
}

bool running(pid_t pid, int* exit_code) {
  int status = 0;
  if (::waitpid(pid, &status, WNOHANG) == 0) return true;
  *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return false;
}

uint64_t json_u64(const std::string& json, const std::string& field) {
  const auto pos = json.find("\"" + field + "\":");
  return pos == std::string::npos ? 0 : std::stoull(json.substr(pos + field.size() + 3));
}

// Checks `reel cat --from X --format payload` output: lines X, X+1, ... with
// at least `at_least` of them.
std::string check_cat(const std::string& out, uint64_t from, uint64_t at_least) {
  std::istringstream in(out);
  std::string line;
  uint64_t expect = from;
  while (std::getline(in, line)) {
    if (line != std::to_string(expect))
      return "line '" + line + "' where " + std::to_string(expect);
    ++expect;
  }
  if (expect - from < at_least) return "only " + std::to_string(expect - from) + " lines";
  return "";
}

// The scenario, shortened for CI: `reel append` on 1 MiB segments in
// one process; get, cat near the end, stat and verify in a loop, and `reel
// tail -f` in other processes. No error on either side, no lost line.
TEST(CliLive, ReadCommandsBesideALiveAppendNeverFail) {
  TempDir dir;
  const std::string S = dir / "S", reel_bin = REEL_BINARY;
  const uint64_t kLines = 2'000'000;
  const pid_t writer =
      spawn_shell("seq 1 " + std::to_string(kLines) + " | " + reel_bin + " append " + S +
                  " --segment-size 1MiB > " + (dir / "append.out") + " 2> " + (dir / "append.err"));
  while (!fs::exists(S + "/head")) std::this_thread::sleep_for(1ms);
  // exec: the pid is reel's own, so the SIGTERM below reaches it (a shell
  // left in between would die and leave `reel tail -f` running).
  const pid_t tail =
      spawn_shell("exec " + reel_bin + " tail " + S + " -f --from 1 --format payload > " +
                  (dir / "tail.out") + " 2> " + (dir / "tail.err"));
  int writer_exit = -1, rounds = 0;
  std::vector<std::string> failures;
  while (running(writer, &writer_exit)) {
    CliRun r = reel("stat " + S + " --json");
    if (r.exit_code != 0) failures.push_back("stat: " + r.err);
    const uint64_t written = json_u64(r.out, "written_seq");
    if (written == 0) continue;
    r = reel("get " + S + " " + std::to_string(written) + " --format payload");
    if (r.exit_code != 0 || r.out != std::to_string(written) + "\n") {
      failures.push_back("get " + std::to_string(written) + ": " + r.out + r.err);
    }
    const uint64_t from = written > 200 ? written - 200 : 1;
    r = reel("cat " + S + " --from " + std::to_string(from) + " --format payload");
    if (auto e = check_cat(r.out, from, written - from + 1); r.exit_code != 0 || !e.empty()) {
      failures.push_back("cat --from " + std::to_string(from) + ": " + e + " " + r.err);
    }
    r = reel("verify " + S);
    if (r.exit_code != 0) failures.push_back("verify: " + r.out.substr(0, 300) + r.err);
    ++rounds;
  }
  EXPECT_EQ(writer_exit, 0) << testing::read_all(dir / "append.err");
  EXPECT_EQ(testing::read_all(dir / "append.out"), std::to_string(kLines) + "\n");
  for (const auto& f : failures) ADD_FAILURE() << f;
  std::printf("%d rounds of stat, get, cat and verify beside the append\n", rounds);
  // tail -f saw every line once, in order.
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (fs::file_size(dir / "tail.out") < testing::read_all(dir / "tail.out").size() ||
         count_lines(testing::read_all(dir / "tail.out")) < static_cast<int>(kLines)) {
    if (std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(50ms);
  }
  ::kill(tail, SIGTERM);
  int status = 0;
  ::waitpid(tail, &status, 0);
  EXPECT_EQ(check_cat(testing::read_all(dir / "tail.out"), 1, kLines), "")
      << testing::read_all(dir / "tail.err");
}

}  // namespace
}  // namespace reel
