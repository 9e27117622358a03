// reel replay: stored records back out at their pace, N times faster or flat
// out, streams merged by (ts_ns, seq), to UDP, TCP, pcap or stdout.
#include <pthread.h>
#include <signal.h>

#include <cerrno>

#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <map>
#include <memory>
#include <thread>
#include <vector>

#include "capture/pcap_sink.h"
#include "reel/commands.h"
#include "reel/printer.h"
#include "reel/reader.h"
#include "reel/replayer.h"
#include "util/time_format.h"

namespace reel::cli {
namespace {

std::atomic<Replayer*> g_replayer{nullptr};
std::atomic<bool> g_stopped{false};

void on_signal(int) {
  g_stopped.store(true);
  if (Replayer* r = g_replayer.load()) r->stop();
}

// Records to stdout in one of cat's formats.
class PrintSink final : public ReplaySink {
 public:
  explicit PrintSink(Printer* p) : printer_(p) {}
  Status send(const RecordView& r, uint64_t) override { return printer_->print(r); }
  Status flush() override {
    if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
      return Status::from_errno("stdout", errno);
    }
    return Status::ok();
  }

 private:
  Printer* printer_;
};

// Every --out: a sink for every stream (stream 0) or for one.
class Fanout final : public ReplaySink {
 public:
  void add(uint32_t stream, std::unique_ptr<ReplaySink> sink) {
    routes_.push_back({stream, std::move(sink)});
  }
  Status send(const RecordView& r, uint64_t due) override {
    for (auto& [stream, sink] : routes_) {
      if (stream != 0 && stream != r.stream()) continue;
      if (Status s = sink->send(r, due); !s) return s;
    }
    return Status::ok();
  }
  Status flush() override {
    for (auto& route : routes_) {
      if (Status s = route.second->flush(); !s) return s;
    }
    return Status::ok();
  }

 private:
  std::vector<std::pair<uint32_t, std::unique_ptr<ReplaySink>>> routes_;
};

bool has_scheme(const std::string& dest) {
  return dest == "-" || dest.rfind("udp://", 0) == 0 || dest.rfind("tcp://", 0) == 0 ||
         dest.rfind("pcap:", 0) == 0;
}

// Builds the sinks of every --out; a stream named in one must exist.
Status open_sinks(const Args& args, const std::string& dir,
                  const std::map<uint32_t, std::string>& names, Printer* printer, Fanout* out) {
  std::map<std::string, uint32_t> ids;
  for (const auto& [id, name] : names) ids[name] = id;
  for (std::string dest : args.all("--out")) {
    uint32_t stream = 0;
    if (!has_scheme(dest)) {
      const size_t eq = dest.find('=');
      if (eq == std::string::npos) {
        return Status::invalid_argument("bad --out '" + dest +
                                        "' (udp://, tcp://, pcap:FILE, -, or STREAM=DEST)");
      }
      const std::string name = dest.substr(0, eq);
      if (!ids.count(name)) return Status::not_found(dir + ": no stream '" + name + "'");
      stream = ids[name];
      dest = dest.substr(eq + 1);
    }
    if (dest == "-") {
      out->add(stream, std::make_unique<PrintSink>(printer));
    } else if (dest.rfind("pcap:", 0) == 0) {
      auto sink = capture::PcapSink::open(dest.substr(5), names);
      if (!sink) return sink.status();
      out->add(stream, std::move(*sink));
    } else {
      auto sink = open_network_sink(dest);
      if (!sink) return sink.status();
      out->add(stream, std::move(*sink));
    }
  }
  return Status::ok();
}

Result<ReplayOptions> replay_options(const Args& args) {
  ReplayOptions o;
  o.streams = args.all("--stream");
  if (args.has("--from")) {
    auto b = parse_bound(args.get("--from"));
    if (!b) return Status::invalid_argument("bad --from '" + args.get("--from") + "'");
    (b->is_time ? o.from_ts_ns : o.from_seq) = b->value;
  }
  if (args.has("--to")) {
    auto b = parse_bound(args.get("--to"));
    if (!b) return Status::invalid_argument("bad --to '" + args.get("--to") + "'");
    (b->is_time ? o.to_ts_ns : o.to_seq) = b->value;
  }
  o.max = args.has("--max");
  if (args.has("--speed")) {
    if (o.max) return Status::invalid_argument("give --speed or --max, not both");
    const std::string text = args.get("--speed");
    char* end = nullptr;
    o.speed = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0' || !(o.speed >= 1e-3) || o.speed > 1e9) {
      return Status::invalid_argument("bad --speed '" + text + "' (0.001 to 1e9, e.g. 10)");
    }
  }
  if (args.has("--max-gap")) {
    auto gap = parse_duration_ns(args.get("--max-gap"));
    if (!gap || *gap == 0) {
      return Status::invalid_argument("bad --max-gap '" + args.get("--max-gap") + "'");
    }
    o.max_gap_ns = *gap;
  }
  auto loops = parse_u64(args.get("--loop"));
  if (!loops || *loops == 0)
    return Status::invalid_argument("bad --loop '" + args.get("--loop") + "'");
  o.loops = *loops;
  if (args.has("--start-at")) {
    auto t = parse_time_ns(args.get("--start-at"));
    if (!t) return Status::invalid_argument("bad --start-at '" + args.get("--start-at") + "'");
    o.start_at_ns = *t;
  }
  return o;
}

void print_stats(const ReplayStats& st, bool paced, FILE* out) {
  std::fprintf(out,
               "reel replay: %" PRIu64 " records, %" PRIu64 " bytes in %.3f s (%.0f records/s)",
               st.records, st.bytes, st.seconds, st.seconds > 0 ? st.records / st.seconds : 0.0);
  if (paced && st.records > 0) {
    std::fprintf(out, "; sent late by p50 %.1f us, p99 %.1f us, max %.1f us, last %.1f us",
                 st.late_p50_ns / 1e3, st.late_p99_ns / 1e3, st.late_max_ns / 1e3,
                 st.last_late_ns / 1e3);
  }
  std::fprintf(out, "\n");
}

// Shows records sent every half second on stderr, until `done`.
void show_progress(const Replayer& r, const std::atomic<bool>& done) {
  sigset_t block;  // signals go to the replaying thread
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &block, nullptr);
  while (!done.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    std::fprintf(stderr, "\rreel replay: %" PRIu64 " records sent   ", r.progress());
  }
  std::fprintf(stderr, "\n");
}

int run_replay(const Args& args) {
  const std::string dir = args.positional(0);
  auto o = replay_options(args);
  if (!o) return usage_error("replay", o.status().message());
  if (args.all("--out").empty()) return usage_error("replay", "give at least one --out");
  Printer printer(args.get("--format"));
  if (std::string why = printer.init(dir); !why.empty()) return usage_error("replay", why);
  auto replayer = Replayer::open(dir, *o);
  if (!replayer) return fail("replay", replayer.status());
  Fanout out;
  if (Status s = open_sinks(args, dir, (*replayer)->stream_names(), &printer, &out); !s) {
    return s.code() == Code::kInvalidArgument ? usage_error("replay", s.message())
                                              : fail("replay", s);
  }
  g_replayer.store(replayer->get());
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESETHAND;  // a second Ctrl-C ends the process
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  std::atomic<bool> done{false};
  std::thread progress;
  if (args.has("--progress")) progress = std::thread([&] { show_progress(**replayer, done); });
  Status s = (*replayer)->run(&out);
  done.store(true);
  if (progress.joinable()) progress.join();
  g_replayer.store(nullptr);
  const ReplayStats st = (*replayer)->stats();
  if (g_stopped.load()) {
    if (args.has("--stats")) print_stats(st, !o->max, stderr);
    std::fprintf(stderr, "reel replay: stopped after %" PRIu64 " records\n", st.records);
    return 130;
  }
  if (!s) return fail("replay", s);
  if (st.records == 0) return fail("replay", dir + ": no records in the range");
  if (args.has("--stats")) print_stats(st, !o->max, stderr);
  return kExitOk;
}

}  // namespace

const Command kReplayCommand{
    {"replay",
     "Replay records at their recorded pace, N times faster or flat out, to the network, "
     "a pcap or stdout.",
     {"STORE"},
     {{"--out", "DEST",
       "udp://HOST:PORT[?ttl=N&iface=NAME], tcp://HOST:PORT[?framing=raw|lp|u16be|frames], "
       "pcap:FILE[?dst=IP:PORT] or - (stdout); STREAM=DEST for one stream",
       "", true},
      {"--stream", "NAME", "replay this stream (streams are merged by time); default: all", "",
       true},
      {"--from", "X", "first record: a seq or a time", ""},
      {"--to", "Y", "last record: a seq or a time", ""},
      {"--speed", "N", "N times the recorded pace", "1"},
      {"--max", "", "flat out, no pacing", ""},
      {"--max-gap", "DURATION", "cut idle gaps longer than this to it (e.g. 1s)", ""},
      {"--loop", "N", "replay the range N times", "1"},
      {"--start-at", "TIME", "start at this wall-clock time (ISO-8601 or @unix-seconds)", ""},
      {"--format", "F", kFormatHelp, "payload"},
      {"--stats", "", "print records, rate and how late records were sent, at the end", ""},
      {"--progress", "", "show records sent every half second on stderr", ""}},
     "Record i is due at start + (ts_i - ts_first) / speed, scheduled against one absolute\n"
     "start (no drift over hours); the replayer sleeps until shortly before, then spins.\n"
     "Payloads go out byte for byte from the store's mapping. SIGINT stops the replay\n"
     "(exit 130; a second one ends the process at once).\n"
     "STORE may be tcp://HOST:PORT, a `reel serve --replay` endpoint: the range is read\n"
     "over the network in seq order (the order it was stored), each record still paced\n"
     "by its ts_ns here."},
    run_replay};

}  // namespace reel::cli
