// reel append: records from stdin into a store.
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>

#include "reel/commands.h"
#include "reel/store.h"
#include "util/time_format.h"

namespace reel::cli {
namespace {

bool stdin_has_more_now() {
  pollfd pfd{STDIN_FILENO, POLLIN, 0};
  return ::poll(&pfd, 1, 0) > 0 && (pfd.revents & POLLIN) != 0;
}

class Progress {
 public:
  explicit Progress(bool enabled) : enabled_(enabled), start_(Clock::now()), last_(start_) {}
  void tick(uint64_t records, uint64_t bytes) {
    if (!enabled_) return;
    auto now = Clock::now();
    if (now - last_ < std::chrono::milliseconds(500)) return;
    last_ = now;
    double secs = std::chrono::duration<double>(now - start_).count();
    std::fprintf(stderr, "\rreel append: %llu records, %.1f MiB, %.0f records/s   ",
                 static_cast<unsigned long long>(records), bytes / 1048576.0,
                 secs > 0 ? records / secs : 0.0);
    shown_ = true;
  }
  void done() {
    if (shown_) std::fprintf(stderr, "\n");
  }

 private:
  using Clock = std::chrono::steady_clock;
  bool enabled_, shown_ = false;
  Clock::time_point start_, last_;
};

int run_append(const Args& args) {
  const std::string dir = args.positional(0);
  const std::string format = args.get("--format");
  if (format != "lines" && format != "lp") {
    return usage_error("append", "unknown --format '" + format + "' (lines or lp)");
  }
  StoreOptions options;
  auto sync = SyncPolicy::parse(args.get("--sync"));
  if (!sync) return usage_error("append", sync.status().message());
  options.sync = *sync;
  auto segment = parse_size_bytes(args.get("--segment-size"));
  if (!segment || *segment < 4096) {
    return usage_error("append", "bad --segment-size '" + args.get("--segment-size") +
                                     "' (e.g. 64MiB, 1GiB; at least 4096)");
  }
  options.segment_bytes_max = *segment;
  auto max_record = parse_size_bytes(args.get("--max-record"));
  if (!max_record || *max_record == 0) {
    return usage_error("append", "bad --max-record '" + args.get("--max-record") + "'");
  }
  options.max_record_bytes = *max_record;
  const std::string stream = args.get("--stream");

  auto opened = Store::open(dir, options);
  if (!opened) return fail("append", opened.status());
  Store& store = **opened;

  Progress progress(stderr_is_terminal());
  std::vector<char> buf(1 << 20);
  std::string carry;  // a record split across reads
  uint64_t records = 0, bytes = 0, input_offset = 0;
  auto append_one = [&](std::string_view payload) -> bool {
    auto seq = store.append(stream, payload);
    if (!seq) {
      fail("append", seq.status().message() + "; last record written before it: seq " +
                         std::to_string(store.last_seq()));
      return false;
    }
    ++records;
    bytes += payload.size();
    return true;
  };
  bool ok = true;
  for (;;) {
    ssize_t n = ::read(STDIN_FILENO, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ok = false;
      fail("append", std::string("stdin: ") + std::strerror(errno));
      break;
    }
    if (n == 0) break;
    carry.append(buf.data(), static_cast<size_t>(n));
    input_offset += static_cast<uint64_t>(n);
    size_t pos = 0;
    if (format == "lines") {
      for (size_t nl; ok && (nl = carry.find('\n', pos)) != std::string::npos; pos = nl + 1) {
        ok = append_one(std::string_view(carry).substr(pos, nl - pos));
      }
    } else {
      while (ok && carry.size() - pos >= 4) {
        uint32_t len = static_cast<uint32_t>(static_cast<uint8_t>(carry[pos])) |
                       static_cast<uint32_t>(static_cast<uint8_t>(carry[pos + 1])) << 8 |
                       static_cast<uint32_t>(static_cast<uint8_t>(carry[pos + 2])) << 16 |
                       static_cast<uint32_t>(static_cast<uint8_t>(carry[pos + 3])) << 24;
        if (len > options.max_record_bytes) {
          ok = false;
          fail("append", "stdin: record at byte offset " +
                             std::to_string(input_offset - carry.size() + pos) + " claims " +
                             std::to_string(len) + " bytes, more than --max-record");
          break;
        }
        if (carry.size() - pos - 4 < len) break;
        ok = append_one(std::string_view(carry).substr(pos + 4, len));
        pos += 4 + len;
      }
    }
    carry.erase(0, pos);
    if (!ok) break;
    progress.tick(records, bytes);
    if (!stdin_has_more_now()) {
      // Input is idle: make what we have visible now (and durable, with
      // --sync always) instead of waiting for the flush interval.
      Status s = store.flush();
      if (!s) {
        ok = false;
        fail("append", s);
        break;
      }
    }
  }
  if (ok && !carry.empty()) {
    if (format == "lines") {
      ok = append_one(carry);  // a last line without a newline
    } else {
      ok = false;
      fail("append", "stdin: truncated record at byte offset " +
                         std::to_string(input_offset - carry.size()) + " (" +
                         std::to_string(carry.size()) +
                         " bytes left); records before it were "
                         "appended");
    }
  }
  progress.done();
  Status s = store.close();
  if (!s) return fail("append", s);
  std::printf("%llu\n", static_cast<unsigned long long>(store.last_seq()));
  return ok ? kExitOk : kExitFailure;
}

}  // namespace

const Command kAppendCommand{
    {"append",
     "Append records read from stdin; print the last seq written.",
     {"STORE"},
     {{"--stream", "NAME", "stream to append to", "default"},
      {"--format", "FMT",
       "lines: one record per line, newline stripped; lp: 4-byte "
       "little-endian length, then the bytes",
       "lines"},
      {"--sync", "POLICY", "always | interval:DURATION | none", "interval:10ms"},
      {"--segment-size", "SIZE", "size of new segment files", "1GiB"},
      {"--max-record", "SIZE", "largest record accepted", "1MiB"}},
     "The store is created if it does not exist, and recovered first if it was not closed\n"
     "cleanly, so 'reel append STORE < /dev/null' recovers a store and appends nothing.\n"
     "Records become visible to readers as soon as stdin pauses."},
    run_append};

}  // namespace reel::cli
