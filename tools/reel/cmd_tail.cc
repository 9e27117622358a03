// reel tail: print the last records of a store, then (with -f) follow it.
#include <chrono>
#include <cstdio>
#include <string>

#include "reel/commands.h"
#include "reel/printer.h"
#include "reel/reader.h"
#include "reel/subscriber.h"
#include "reel/tailer.h"

namespace reel::cli {
namespace {

// tail of a remote store: tcp://HOST:PORT (reel serve --replay).
int run_remote_tail(const Args& args, const Tailer::Options& t, uint64_t limit) {
  const std::string url = args.positional(0);
  if (!args.has("--from")) {
    return usage_error("tail",
                       "give --from with a tcp:// source (a seq, 'end' is not known "
                       "remotely, or a time)");
  }
  if (t.from_end) return usage_error("tail", "--from end needs a store directory");
  SubscribeOptions o;
  o.from_seq = t.from_seq;
  o.from_ts_ns = t.from_ts_ns;
  o.follow = args.has("-f");
  o.level = t.follow;
  if (!t.stream.empty()) o.streams = {t.stream};
  Printer printer(args.get("--format"));
  if (auto err = printer.init(url); !err.empty()) return usage_error("tail", err);
  auto sub = Subscriber::connect(url.substr(6), o);
  if (!sub) return fail("tail", sub.status());
  RecordView v;
  for (uint64_t printed = 0; printed < limit;) {
    if (!(*sub)->next(&v, std::chrono::nanoseconds(0))) {
      if ((*sub)->done() || !(*sub)->status()) break;
      std::fflush(stdout);
      if (!(*sub)->next(&v, std::chrono::seconds(1))) continue;
    }
    if (Status s = printer.print(v); !s) return fail("tail", s);
    ++printed;
  }
  std::fflush(stdout);
  if (!(*sub)->status()) return fail("tail", (*sub)->status());
  return kExitOk;
}

int run_tail(const Args& args) {
  const std::string dir = args.positional(0);
  const bool follow = args.has("-f");
  Tailer::Options options;
  options.stream = args.get("--stream");
  options.follow = args.has("--durable") ? Level::kDurable : Level::kWritten;
  uint64_t last_n = 10;
  if (args.has("-n")) {
    auto n = parse_u64(args.get("-n"));
    if (!n) return usage_error("tail", "bad -n '" + args.get("-n") + "' (a number of records)");
    last_n = *n;
  }
  if (args.has("--from")) {
    const std::string from = args.get("--from");
    if (from == "end") {
      options.from_end = true;
    } else if (auto bound = parse_bound(from)) {
      if (bound->is_time) {
        options.from_ts_ns = std::max<uint64_t>(bound->value, 1);
      } else {
        options.from_seq = std::max<uint64_t>(bound->value, 1);
      }
    } else {
      return usage_error("tail", "bad --from '" + from +
                                     "' (a seq, 'end', an ISO-8601 time such as "
                                     "2026-11-21T09:30:00.123Z, or @unix-seconds)");
    }
  }
  uint64_t limit = UINT64_MAX;
  if (args.has("--limit")) {
    auto n = parse_u64(args.get("--limit"));
    if (!n) return usage_error("tail", "bad --limit '" + args.get("--limit") + "'");
    limit = *n;
  }
  if (dir.rfind("tcp://", 0) == 0) return run_remote_tail(args, options, limit);
  auto reader = Reader::open(dir);
  if (!reader) return fail("tail", reader.status());
  Printer printer(args.get("--format"));
  if (auto err = printer.init(dir); !err.empty()) return usage_error("tail", err);
  if (!args.has("--from")) {
    // The last N seqs of the store (a --stream filter applies to them).
    const Watermarks w = (*reader)->watermarks();
    const uint64_t end = options.follow == Level::kDurable ? w.durable_seq : w.written_seq;
    options.from_seq = end > last_n ? end - last_n + 1 : 1;
  }
  auto tailer = Tailer::open(dir, options);
  if (!tailer) return fail("tail", tailer.status());
  if (!follow && !options.stream.empty()) {
    auto id = (*reader)->stream_id(options.stream);
    if (!id) return fail("tail", id.status());
    if (!id->has_value()) return fail("tail", dir + ": no stream named '" + options.stream + "'");
  }
  uint64_t printed = 0;
  RecordView v;
  while (printed < limit) {
    // Print what is there without waiting; flush before sleeping, so that a
    // follower sees each record as soon as it arrives.
    if (!(*tailer)->next(&v, std::chrono::nanoseconds(0))) {
      if (!(*tailer)->status()) break;
      if (!follow) break;
      std::fflush(stdout);
      if (!(*tailer)->next(&v, std::chrono::nanoseconds(-1))) break;
    }
    Status s = printer.print(v);
    if (!s) return fail("tail", s);
    ++printed;
  }
  std::fflush(stdout);
  if (!(*tailer)->status()) return fail("tail", (*tailer)->status());
  return kExitOk;
}

}  // namespace

const Command kTailCommand{
    {"tail",
     "Print the last records, and with -f follow new ones as they are written.",
     {"STORE"},
     {{"-f", "", "follow: keep printing records as the writer appends them", ""},
      {"-n", "N", "start N seqs before the end (ignored with --from)", "10"},
      {"--from", "X", "first seq, 'end', or a time: 2026-11-21T09:30:00.123Z or @unix-seconds", ""},
      {"--stream", "NAME", "only this stream (with -f it may not exist yet)", ""},
      {"--durable", "", "only records that are durable (fdatasync'd), not merely written", ""},
      {"--format", "FMT", kFormatHelp, "json"},
      {"--limit", "N", "stop after N records", ""}},
     "tail needs only read access. It sleeps on the store's head file and wakes within "
     "microseconds of a write; records arrive in seq order with no gap and no duplicate.\n"
     "STORE may be tcp://HOST:PORT, a `reel serve --replay` endpoint (give --from); a\n"
     "follower reconnects after a server restart and goes on after the last record shown."},
    run_tail};

}  // namespace reel::cli
