// reel append: records from stdin into a store, or to a reel serve.
#include <chrono>
#include <cstdio>

#include "reel/commands.h"
#include "reel/publisher.h"
#include "reel/stdin_records.h"
#include "reel/store.h"
#include "reel/store_flags.h"
#include "util/time_format.h"

namespace reel::cli {
namespace {

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

// Appends stdin's records to the store in `dir`.
int append_to_store(const Args& args, const std::string& dir, bool lines) {
  auto options = parse_store_flags(args, kMaxRecordFlag);
  if (!options) return usage_error("append", options.status().message());
  const std::string stream = args.get("--stream");
  auto opened = Store::open(dir, *options);
  if (!opened) return fail("append", opened.status());
  Store& store = **opened;
  Progress progress(stderr_is_terminal());
  StdinRecords input(lines, options->max_record_bytes);
  Status s = input.run(
      [&](std::string_view payload) {
        progress.tick(input.records(), input.bytes());
        auto seq = store.append(stream, payload);
        if (!seq) {
          fail("append", seq.status().message() + "; last record written before it: seq " +
                             std::to_string(store.last_seq()));
        }
        return static_cast<bool>(seq);
      },
      [&] {
        // Input is idle: make what we have visible now (and durable, with
        // --sync always) instead of waiting for the flush interval.
        Status f = store.flush();
        if (!f) fail("append", f);
        return static_cast<bool>(f);
      });
  if (!s && !s.message().empty()) fail("append", s);
  progress.done();
  Status closed = store.close();
  if (!closed) return fail("append", closed);
  std::printf("%llu\n", static_cast<unsigned long long>(store.last_seq()));
  return s ? kExitOk : kExitFailure;
}

// Sends stdin's records to a `reel serve` lp TCP endpoint and waits for
// every acknowledgement.
int append_to_server(const Args& args, bool lines) {
  const std::string level_name = args.get("--ack");
  Publisher::Options po;
  if (level_name == "written") {
    po.level = Level::kWritten;
  } else if (level_name == "indexed") {
    po.level = Level::kIndexed;
  } else if (level_name != "durable") {
    return usage_error("append", "unknown --ack '" + level_name + "' (written, indexed, durable)");
  }
  auto max_record = parse_size_bytes(args.get("--max-record"));
  if (!max_record || *max_record == 0) {
    return usage_error("append", "bad --max-record '" + args.get("--max-record") + "'");
  }
  for (const char* store_only : {"--stream", "--sync", "--segment-size", "--zero-ahead"}) {
    if (args.has(store_only)) {
      return usage_error("append", std::string(store_only) +
                                       " is for a STORE; with --to the server's endpoint decides");
    }
  }
  auto pub = Publisher::connect(args.get("--to"), po);
  if (!pub) return fail("append", pub.status());
  Progress progress(stderr_is_terminal());
  StdinRecords input(lines, *max_record);
  Status failed;
  Status s = input.run(
      [&](std::string_view payload) {
        progress.tick(input.records(), input.bytes());
        failed = (*pub)->publish(payload);
        return static_cast<bool>(failed);
      },
      [&] {
        // Input is idle: send what is buffered now (acks come when they come).
        failed = (*pub)->flush(std::chrono::nanoseconds(0));
        if (failed.code() == Code::kBusy) failed = Status::ok();
        return static_cast<bool>(failed);
      });
  progress.done();
  // Bad input still sends, and waits for, the records before it.
  if (!s && !s.message().empty()) fail("append", s);
  Status closed = failed ? (*pub)->close() : failed;
  if (!closed) return fail("append", closed);
  if (!s) return kExitFailure;
  std::printf("%llu\n", static_cast<unsigned long long>((*pub)->last_acknowledged_seq()));
  std::fprintf(stderr, "reel append: %llu records acknowledged (%s) by %s\n",
               static_cast<unsigned long long>((*pub)->acknowledged()), level_name.c_str(),
               args.get("--to").c_str());
  return kExitOk;
}

int run_append(const Args& args) {
  const std::string format = args.get("--format");
  if (format != "lines" && format != "lp") {
    return usage_error("append", "unknown --format '" + format + "' (lines or lp)");
  }
  const bool to_server = args.has("--to");
  if (to_server == (args.positional_count() == 1)) {
    return usage_error("append", "give either STORE or --to HOST:PORT");
  }
  if (to_server) return append_to_server(args, format == "lines");
  return append_to_store(args, args.positional(0), format == "lines");
}

}  // namespace

const Command kAppendCommand{
    {"append",
     "Append records read from stdin; print the last seq written.",
     {"[STORE]"},
     {{"--stream", "NAME", "stream to append to", "default"},
      {"--to", "HOST:PORT",
       "send to a reel serve TCP endpoint (lp framing) instead of a STORE, "
       "and wait for every acknowledgement",
       ""},
      {"--ack", "LEVEL", "with --to: written | indexed | durable", "durable"},
      {"--format", "FMT",
       "lines: one record per line, newline stripped; lp: 4-byte "
       "little-endian length, then the bytes",
       "lines"},
      sync_flag(),
      segment_size_flag(),
      zero_ahead_flag(),
      {"--max-record", "SIZE", "largest record accepted", "1MiB"}},
     "The store is created if it does not exist, and recovered first if it was not closed\n"
     "cleanly, so 'reel append STORE < /dev/null' recovers a store and appends nothing.\n"
     "Records become visible to readers as soon as stdin pauses.\n"
     "With --to, the server's endpoint decides the stream; reel append exits 0 only once\n"
     "the server acknowledged every record at --ack, and prints the last record's seq."},
    run_append};

}  // namespace reel::cli
