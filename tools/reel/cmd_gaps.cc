// reel gaps: where a feed's own sequence numbers skipped.
#include <cinttypes>
#include <cstdio>
#include <map>
#include <string>

#include "feed/gap_tracker.h"
#include "feed/source_seq.h"
#include "ingest/seq_rules.h"
#include "reel/commands.h"
#include "reel/reader.h"
#include "util/time_format.h"

namespace reel::cli {
namespace {

// How one stream's feed numbers are read: from the payload by a rule, or
// what the store kept (each stored source_seq one number; 0 means none).
struct Reading {
  bool stored = true;
  feed::SeqSpec spec;
};

struct StreamGaps {
  std::string name;
  Reading reading;
  feed::GapTracker tracker;
};

std::optional<feed::SourceSeq> source_seq_of(const RecordView& v, const Reading& r) {
  if (r.stored) {
    if (v.source_seq() == 0) return std::nullopt;
    return feed::SourceSeq{v.source_seq(), v.source_seq() + 1};
  }
  const std::string_view p = v.payload();
  return feed::extract_source_seq(r.spec, {reinterpret_cast<const uint8_t*>(p.data()), p.size()});
}

int run_gaps(const Args& args) {
  const std::string dir = args.positional(0);
  uint64_t from = 1, to = UINT64_MAX;
  if (args.has("--from") && !parse_u64(args.get("--from"))) {
    return usage_error("gaps", "bad --from '" + args.get("--from") + "' (a seq)");
  }
  if (args.has("--to") && !parse_u64(args.get("--to"))) {
    return usage_error("gaps", "bad --to '" + args.get("--to") + "' (a seq)");
  }
  if (args.has("--from")) from = *parse_u64(args.get("--from"));
  if (args.has("--to")) to = *parse_u64(args.get("--to"));
  // No --seq: each stream as it was recorded (STORE/seq_rules), else stored.
  std::optional<Reading> given;
  if (args.has("--seq")) {
    given.emplace();
    given->stored = args.get("--seq") == "stored";
    if (!given->stored) {
      auto parsed = feed::parse_seq_spec(args.get("--seq"));
      if (!parsed) return usage_error("gaps", parsed.status().message());
      given->spec = *parsed;
    }
  }
  auto reader = Reader::open(dir);
  if (!reader) return fail("gaps", reader.status());
  std::optional<uint32_t> only;
  if (args.has("--stream")) {
    auto id = (*reader)->stream_id(args.get("--stream"));
    if (!id) return fail("gaps", id.status());
    if (!*id) return fail("gaps", dir + ": no stream named '" + args.get("--stream") + "'");
    only = **id;
  }
  auto streams = (*reader)->streams();
  if (!streams) return fail("gaps", streams.status());
  auto rules = given ? Result<ingest::SeqRules>(ingest::SeqRules{}) : ingest::load_seq_rules(dir);
  if (!rules) return fail("gaps", rules.status());
  std::map<uint32_t, StreamGaps> by_stream;
  for (const auto& info : *streams) {
    StreamGaps& g = by_stream[info.id];
    g.name = info.name;
    if (given) {
      g.reading = *given;
    } else if (auto it = rules->find(info.name); it != rules->end()) {
      g.reading = Reading{false, it->second};
    }
  }
  Cursor c = (*reader)->range(from, to);
  RecordView v;
  while (c.next(&v)) {
    if (only && v.stream() != *only) continue;
    StreamGaps& g = by_stream[v.stream()];
    auto s = source_seq_of(v, g.reading);
    if (!s) continue;
    if (auto gap = g.tracker.observe(*s, v.seq(), v.ts_ns())) {
      std::printf("%s: source seq %" PRIu64 "..%" PRIu64 " missing (%" PRIu64
                  "), found at seq %" PRIu64 ", %s\n",
                  g.name.c_str(), gap->first_missing, gap->last_missing, gap->missing(), gap->seq,
                  format_time_ns(gap->ts_ns).c_str());
    }
  }
  if (!c.status()) return fail("gaps", c.status());
  for (const auto& [id, g] : by_stream) {
    if (g.tracker.records() == 0) continue;
    std::printf("%s: %" PRIu64 " records with a source seq, %" PRIu64 " gaps (%" PRIu64
                " source seqs missing), %" PRIu64 " duplicates\n",
                g.name.c_str(), g.tracker.records(), g.tracker.gaps(), g.tracker.missing(),
                g.tracker.duplicates());
  }
  return kExitOk;
}

}  // namespace

const Command kGapsCommand{
    {"gaps",
     "List where each stream's feed sequence numbers skipped.",
     {"STORE"},
     {{"--stream", "NAME", "only this stream", ""},
      {"--from", "SEQ", "first seq to look at", ""},
      {"--to", "SEQ", "last seq to look at", ""},
      {"--seq", "SPEC",
       "where the feed's number is: stored (the record's source_seq, one number per record), "
       "moldudp64 (re-read from the payload: seq and message count), or OFFSET:u32be|u64be|"
       "u32le|u64le; by default each stream's rule from when it was recorded (serve, import), "
       "else stored",
       ""}},
     "Prints one line per gap: the first and last missing source seq, and the seq and time of\n"
     "the record that revealed it; then per stream the records, gaps, missing numbers and\n"
     "duplicates (retransmissions, which are stored like any record). Read-only, safe beside a\n"
     "live writer. Exit status 0 whether or not there are gaps."},
    run_gaps};

}  // namespace reel::cli
