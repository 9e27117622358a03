// reel cat / get / stat: reading a store.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "reel/commands.h"
#include "reel/printer.h"
#include "reel/reader.h"
#include "reel/subscriber.h"
#include "util/time_format.h"

namespace reel::cli {
namespace {

// Read commands never recover, lock or write: they read the store as it is,
// beside a live writer or after a crash (up to the last valid frame).
Result<std::unique_ptr<Reader>> open_reader(const std::string& dir) {
  return Reader::open(dir);
}

// cat of a remote store: tcp://HOST:PORT (reel serve --replay). The server
// sends the range in seq order; a time range is then put in (ts, seq)
// order here, as the local time indexes give it.
int run_remote_cat(const Args& args, Bound from, Bound to, bool by_time, uint64_t limit) {
  const std::string url = args.positional(0);
  // Empty: to_seq 0 would mean "no end" on the wire.
  if (by_time ? from.value > to.value : to.value < std::max<uint64_t>(from.value, 1)) {
    return kExitOk;
  }
  SubscribeOptions o;
  o.reconnect = false;  // a range: a broken connection is an error, not a wait
  if (by_time) {
    o.from_ts_ns = std::max<uint64_t>(from.value, 1);
    o.to_ts_ns = to.value == UINT64_MAX ? 0 : to.value;
  } else {
    o.from_seq = std::max<uint64_t>(from.value, 1);
    o.to_seq = to.value == UINT64_MAX ? 0 : to.value;
  }
  if (args.has("--stream")) o.streams = {args.get("--stream")};
  Printer printer(args.get("--format"));
  if (auto err = printer.init(url); !err.empty()) return usage_error("cat", err);
  auto sub = Subscriber::connect(url.substr(6), o);
  if (!sub) return fail("cat", sub.status());
  RecordView v;
  uint64_t printed = 0;
  struct Hit {  // by time: a copy, sorted before it is printed
    uint64_t ts, seq;
    RecordView view;
    std::unique_ptr<std::byte[]> frame;
  };
  std::vector<Hit> hits;
  while ((by_time || printed < limit) && (*sub)->next(&v, std::chrono::seconds(-1))) {
    if (by_time) {
      if (v.ts_ns() >= from.value && v.ts_ns() <= to.value) {
        Hit h{v.ts_ns(), v.seq(), {}, std::make_unique<std::byte[]>(v.frame().size())};
        std::memcpy(h.frame.get(), v.frame().data(), v.frame().size());
        h.view = v.rebased(h.frame.get());
        hits.push_back(std::move(h));
      }
      continue;
    }
    if (Status s = printer.print(v); !s) return fail("cat", s);
    ++printed;
  }
  if (!(*sub)->status()) return fail("cat", (*sub)->status());
  std::sort(hits.begin(), hits.end(),
            [](const Hit& a, const Hit& b) { return a.ts != b.ts ? a.ts < b.ts : a.seq < b.seq; });
  for (const auto& hit : hits) {
    if (printed++ >= limit) break;
    if (Status s = printer.print(hit.view); !s) return fail("cat", s);
  }
  return kExitOk;
}

int run_cat(const Args& args) {
  const std::string dir = args.positional(0);
  std::optional<Bound> from = Bound{false, 1}, to = Bound{false, UINT64_MAX};
  if (args.has("--from") && !(from = parse_bound(args.get("--from")))) {
    return usage_error("cat", "bad --from '" + args.get("--from") +
                                  "' (a seq, an ISO-8601 time such as 2026-11-21T09:30:00.123Z, "
                                  "or @unix-seconds)");
  }
  if (args.has("--to") && !(to = parse_bound(args.get("--to")))) {
    return usage_error("cat", "bad --to '" + args.get("--to") +
                                  "' (a seq, an ISO-8601 time or "
                                  "@unix-seconds)");
  }
  if (from->is_time != to->is_time && args.has("--from") && args.has("--to")) {
    return usage_error("cat", "--from and --to must both be seqs or both be times");
  }
  const bool by_time = from->is_time || to->is_time;
  if (by_time) {
    if (!from->is_time) from = Bound{true, 0};
    if (!to->is_time) to = Bound{true, UINT64_MAX};
  }
  uint64_t limit = UINT64_MAX;
  if (args.has("--limit")) {
    auto n = parse_u64(args.get("--limit"));
    if (!n) return usage_error("cat", "bad --limit '" + args.get("--limit") + "'");
    limit = *n;
  }
  if (dir.rfind("tcp://", 0) == 0) return run_remote_cat(args, *from, *to, by_time, limit);
  auto reader = open_reader(dir);
  if (!reader) return fail("cat", reader.status());
  Printer printer(args.get("--format"));
  if (auto err = printer.init(dir); !err.empty()) return usage_error("cat", err);

  std::optional<uint32_t> stream_id;
  std::vector<std::string> stream_names;
  if (args.has("--stream")) {
    auto id = (*reader)->stream_id(args.get("--stream"));
    if (!id) return fail("cat", id.status());
    if (!id->has_value())
      return fail("cat", dir + ": no stream named '" + args.get("--stream") + "'");
    stream_id = **id;
    stream_names.push_back(args.get("--stream"));
  }
  uint64_t printed = 0;
  if (!by_time) {
    Cursor cursor = (*reader)->range(from->value, to->value);
    RecordView v;
    while (printed < limit && cursor.next(&v)) {
      if (stream_id && v.stream() != *stream_id) continue;
      Status s = printer.print(v);
      if (!s) return fail("cat", s);
      ++printed;
    }
    if (!cursor.status()) return fail("cat", cursor.status());
    return kExitOk;
  }
  // Time range: each stream's time index, merged by (ts, seq).
  if (stream_names.empty()) {
    auto streams = (*reader)->streams();
    if (!streams) return fail("cat", streams.status());
    for (const auto& info : *streams) stream_names.push_back(info.name);
  }
  std::vector<RecordView> hits;
  for (const auto& name : stream_names) {
    Cursor cursor = (*reader)->by_time(name, from->value, to->value);
    RecordView v;
    while (cursor.next(&v)) hits.push_back(v);
    if (!cursor.status()) return fail("cat", cursor.status());
  }
  std::stable_sort(hits.begin(), hits.end(), [](const RecordView& a, const RecordView& b) {
    return a.ts_ns() != b.ts_ns() ? a.ts_ns() < b.ts_ns() : a.seq() < b.seq();
  });
  for (const auto& v : hits) {
    if (printed++ >= limit) break;
    Status s = printer.print(v);
    if (!s) return fail("cat", s);
  }
  return kExitOk;
}

int run_get(const Args& args) {
  const std::string dir = args.positional(0);
  auto seq = parse_u64(args.positional(1));
  if (!seq || *seq == 0)
    return usage_error("get", "bad SEQ '" + args.positional(1) + "' (1 or more)");
  auto reader = open_reader(dir);
  if (!reader) return fail("get", reader.status());
  Printer printer(args.get("--format"));
  if (auto err = printer.init(dir); !err.empty()) return usage_error("get", err);
  auto view = (*reader)->get(*seq);
  if (!view) return fail("get", view.status());
  Status s = printer.print(*view);
  return s ? kExitOk : fail("get", s);
}

std::string mib(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", bytes / 1048576.0);
  return buf;
}

// `s` as a quoted JSON string.
std::string json_string(const std::string& s) {
  std::string out;
  json::append_escaped(s, &out);
  return out;
}

std::string time_or_dash(uint64_t ns, uint64_t count) {
  return count == 0 ? "-" : format_time_ns(ns);
}

std::string store_state(const StoreStats& st) {
  if (st.writer_live) return "open: a writer is appending";
  if (st.clean_shutdown || st.segment_count == 0) return "closed cleanly";
  return "not closed cleanly: the next writer open recovers it (reads show it as it is)";
}

int run_stat(const Args& args) {
  const std::string dir = args.positional(0);
  auto reader = open_reader(dir);
  if (!reader) return fail("stat", reader.status());
  auto stats = (*reader)->stats();
  if (!stats) return fail("stat", stats.status());
  auto streams = (*reader)->streams();
  if (!streams) return fail("stat", streams.status());
  const StoreStats& st = *stats;
  if (args.has("--json")) {
    std::printf("{\"store\":%s,\"store_id\":%" PRIu64 ",\"records\":%" PRIu64
                ",\"first_seq\":%" PRIu64 ",\"last_seq\":%" PRIu64 ",\"first_ts_ns\":%" PRIu64
                ",\"last_ts_ns\":%" PRIu64 ",\"segments\":%" PRIu64 ",\"wal_bytes\":%" PRIu64
                ",\"wal_file_bytes\":%" PRIu64 ",\"written_seq\":%" PRIu64
                ",\"durable_seq\":%" PRIu64 ",\"indexed_seq\":%" PRIu64
                ",\"writer_live\":%s,\"clean_shutdown\":%s,\"streams\":[",
                json_string(dir).c_str(), st.store_id, st.record_count, st.first_seq, st.last_seq,
                st.first_ts_ns, st.last_ts_ns, st.segment_count, st.wal_bytes, st.wal_file_bytes,
                st.watermarks.written_seq, st.watermarks.durable_seq, st.watermarks.indexed_seq,
                st.writer_live ? "true" : "false", st.clean_shutdown ? "true" : "false");
    for (size_t i = 0; i < streams->size(); ++i) {
      const auto& s = (*streams)[i];
      std::printf("%s{\"id\":%u,\"name\":%s,\"records\":%" PRIu64 ",\"first_seq\":%" PRIu64
                  ",\"last_seq\":%" PRIu64 ",\"first_ts_ns\":%" PRIu64 ",\"last_ts_ns\":%" PRIu64
                  "}",
                  i ? "," : "", s.id, json_string(s.name).c_str(), s.count, s.first_seq, s.last_seq,
                  s.first_ts_ns, s.last_ts_ns);
    }
    std::printf("]}\n");
    return kExitOk;
  }
  std::printf("store       %s (id %016" PRIx64 ")\n", dir.c_str(), st.store_id);
  std::printf("records     %" PRIu64, st.record_count);
  if (st.record_count > 0)
    std::printf(" (seq %" PRIu64 "..%" PRIu64 ")", st.first_seq, st.last_seq);
  std::printf("\ntime        %s .. %s\n", time_or_dash(st.first_ts_ns, st.record_count).c_str(),
              time_or_dash(st.last_ts_ns, st.record_count).c_str());
  std::printf("segments    %" PRIu64 " (%s of frames, %s allocated)\n", st.segment_count,
              mib(st.wal_bytes).c_str(), mib(st.wal_file_bytes).c_str());
  std::printf("watermarks  written %" PRIu64 ", durable %" PRIu64 ", indexed %" PRIu64 "\n",
              st.watermarks.written_seq, st.watermarks.durable_seq, st.watermarks.indexed_seq);
  std::printf("state       %s\n", store_state(st).c_str());
  std::printf("streams     %zu\n", streams->size());
  if (!streams->empty()) {
    std::printf("  %4s  %-16s %12s %12s %12s  %-30s  %-30s\n", "id", "name", "records", "first seq",
                "last seq", "first time", "last time");
    for (const auto& s : *streams) {
      std::printf("  %4u  %-16s %12" PRIu64 " %12" PRIu64 " %12" PRIu64 "  %-30s  %-30s\n", s.id,
                  s.name.c_str(), s.count, s.first_seq, s.last_seq,
                  time_or_dash(s.first_ts_ns, s.count).c_str(),
                  time_or_dash(s.last_ts_ns, s.count).c_str());
    }
  }
  return kExitOk;
}

}  // namespace

const Command kCatCommand{
    {"cat",
     "Print records, in seq order (or time order for a time range).",
     {"STORE"},
     {{"--stream", "NAME", "only this stream", ""},
      {"--from", "X", "first seq, or a time: 2026-11-21T09:30:00.123Z or @unix-seconds", ""},
      {"--to", "Y", "last seq or time (inclusive)", ""},
      {"--format", "FMT", kFormatHelp, "json"},
      {"--limit", "N", "print at most N records", ""}},
     "json is rendered through the reflection schema kept in STORE/schemas/record.bfbs.\n"
     "STORE may be tcp://HOST:PORT, a `reel serve --replay` endpoint: the same range,\n"
     "read over the network. A time range is printed in time order; it starts at the seq\n"
     "of the earliest record at or after --from, so a record stored before that seq with\n"
     "a later time (out of time order) is not in it, where the local time index has it."},
    run_cat};

const Command kGetCommand{{"get",
                           "Print the record with this seq.",
                           {"STORE", "SEQ"},
                           {{"--format", "FMT", kFormatHelp, "json"}},
                           ""},
                          run_get};

const Command kStatCommand{{"stat",
                            "Show streams, counts, seq and time ranges, segments, watermarks.",
                            {"STORE"},
                            {{"--json", "", "machine-readable output", ""}},
                            ""},
                           run_stat};

}  // namespace reel::cli
