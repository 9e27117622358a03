// reel serve: the one writer of a store, fed by network endpoints.
// UDP, multicast and TCP endpoints, acknowledged producers, idle timeout.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <map>
#include <thread>
#include <vector>

#include "feed/endpoint.h"
#include "ingest/network_ingest.h"
#include "reel/commands.h"
#include "reel/serve_report.h"
#include "reel/store.h"
#include "reel/store_flags.h"
#include "replay/replay_server.h"
#include "util/fd_limit.h"
#include "util/time_format.h"

namespace reel::cli {
namespace {

std::atomic<bool> g_stop{false};

void on_signal(int) {
  g_stop.store(true);
}

// The --udp and --mcast endpoints (datagrams), or the --tcp ones.
Result<std::vector<feed::Endpoint>> endpoints_from(const Args& args, bool tcp) {
  std::vector<feed::Endpoint> out;
  const std::vector<std::pair<const char*, feed::Endpoint::Kind>> flags =
      tcp ? std::vector<std::pair<const char*, feed::Endpoint::Kind>>{{"--tcp",
                                                                       feed::Endpoint::Kind::kTcp}}
          : std::vector<std::pair<const char*, feed::Endpoint::Kind>>{
                {"--udp", feed::Endpoint::Kind::kUdp},
                {"--mcast", feed::Endpoint::Kind::kMulticast}};
  for (const auto& [flag, kind] : flags) {
    for (const auto& text : args.all(flag)) {
      auto e = feed::parse_endpoint(kind, text);
      if (!e) return e.status();
      out.push_back(*e);
    }
  }
  return out;
}

// A reading port's address (--replay, --metrics): "PORT" alone is
// 127.0.0.1:PORT, so that nothing is readable from other machines unless an
// address is given.
Result<feed::Endpoint> service_address(const Args& args, const char* flag) {
  std::string text = args.get(flag);
  if (text.find(':') == std::string::npos) text = "127.0.0.1:" + text;
  auto at = feed::parse_endpoint(feed::Endpoint::Kind::kTcp, text);
  if (!at) {
    return Status::invalid_argument(std::string("bad ") + flag + " '" + args.get(flag) +
                                    "': " + at.status().message());
  }
  return *at;
}

// Every --allow CIDR; empty when none was given (any peer).
Result<net::AllowList> allow_list(const Args& args) {
  net::AllowList allow;
  for (const auto& cidr : args.all("--allow")) {
    if (Status s = allow.add(cidr); !s) return s;
  }
  return allow;
}

// Descriptors kept for the store's own files (segments, index, head,
// io_uring) and the metrics port, and per replay subscriber (its socket, a
// Reader's index and head, a send ring), when sizing --max-connections.
constexpr uint64_t kFdReserve = 64;
constexpr uint64_t kFdsPerSubscriber = 8;

// --max-connections within the descriptor limit (raised to the hard limit
// first), less what the store and the replay server need.
size_t size_connections(size_t wanted, bool replay) {
  const uint64_t limit = raise_fd_limit();
  const uint64_t reserve =
      kFdReserve + (replay ? replay::ReplayServerOptions{}.max_subscribers * kFdsPerSubscriber : 0);
  if (limit == 0 || wanted + reserve <= limit) return wanted;
  const size_t fits = limit > reserve + 16 ? static_cast<size_t>(limit - reserve)
                                           : static_cast<size_t>(std::max<uint64_t>(limit / 4, 1));
  std::fprintf(stderr,
               "reel serve: --max-connections %zu lowered to %zu: the descriptor limit is %" PRIu64
               " (ulimit -n), %" PRIu64 " kept for the store%s\n",
               wanted, fits, limit, reserve, replay ? " and replay subscribers" : "");
  return fits;
}

// The ingest's options from the flags; kInvalidArgument names the bad one.
Result<ingest::IngestOptions> ingest_options(const Args& args, const StoreOptions& o) {
  auto udp = endpoints_from(args, false);
  if (!udp) return udp.status();
  auto tcp = endpoints_from(args, true);
  if (!tcp) return tcp.status();
  if (udp->empty() && tcp->empty()) {
    return Status::invalid_argument("give at least one --udp, --mcast, --tcp or --replay endpoint");
  }
  auto max_conns = parse_u64(args.get("--max-connections"));
  if (!max_conns || *max_conns == 0) {
    return Status::invalid_argument("bad --max-connections '" + args.get("--max-connections") +
                                    "'");
  }
  const std::string idle_text = args.get("--idle-timeout");
  auto idle = idle_text == "0" ? std::optional<uint64_t>(0) : parse_duration_ns(idle_text);
  if (!idle) {
    return Status::invalid_argument("bad --idle-timeout '" + args.get("--idle-timeout") +
                                    "' (e.g. 30s, 5m; 0 for none)");
  }
  auto buffered = parse_size_bytes(args.get("--max-buffered"));
  // A record arriving in pieces may hold up to twice its size while it grows.
  if (!buffered || *buffered < 2 * o.max_record_bytes) {
    return Status::invalid_argument("bad --max-buffered '" + args.get("--max-buffered") +
                                    "' (a size, at least twice --max-record: " +
                                    std::to_string(2 * o.max_record_bytes) + " bytes)");
  }
  auto allow = allow_list(args);
  if (!allow) return allow.status();
  ingest::IngestOptions io;
  io.allow = std::move(*allow);
  io.max_buffered = *buffered;
  io.durable_acks = o.sync.mode != SyncPolicy::Mode::kNone;
  io.udp = std::move(*udp);
  io.tcp = std::move(*tcp);
  io.max_record = o.max_record_bytes;
  io.max_connections = size_connections(*max_conns, args.has("--replay"));
  io.idle_timeout = std::chrono::nanoseconds(*idle);
  if (args.has("--metrics")) {
    auto at = service_address(args, "--metrics");
    if (!at) return at.status();
    io.metrics = *at;
  }
  io.warn = [](const std::string& what) { std::fprintf(stderr, "reel serve: %s\n", what.c_str()); };
  io.keep_waiting = [] { return !g_stop.load(); };
  return io;
}

// Every bound address, what it serves and who may use it.
void announce(const ingest::NetworkIngest& in, size_t max_connections,
              const std::string& metrics_address, const std::string& peers) {
  if (const auto* udp = in.udp()) {
    for (size_t i = 0; i < udp->endpoints().size(); ++i) {
      const auto& e = udp->endpoints()[i];
      std::fprintf(stderr,
                   "reel serve: %s: listening on port %u at %s, stream %s, source seq %s; "
                   "records from any sender (no credential)\n",
                   feed::endpoint_name(e).c_str(), udp->receiver()->port(i), e.address.c_str(),
                   e.stream.c_str(), feed::seq_spec_name(e.seq).c_str());
    }
  }
  if (const auto* tcp = in.tcp()) {
    for (size_t i = 0; i < tcp->endpoints().size(); ++i) {
      const auto& e = tcp->endpoints()[i];
      std::fprintf(stderr,
                   "reel serve: %s: listening on port %u at %s, stream %s, framing %s, source "
                   "seq %s; records from %s (no credential), up to %zu connections\n",
                   feed::endpoint_name(e).c_str(), tcp->receiver()->port(i), e.address.c_str(),
                   e.stream.c_str(), feed::framing_name(e.framing),
                   feed::seq_spec_name(e.seq).c_str(), peers.c_str(), max_connections);
    }
  }
  if (in.metrics()) {
    std::fprintf(stderr,
                 "reel serve: metrics on port %u at %s (GET /metrics: counts and seqs, no "
                 "records), to %s (no credential)\n",
                 in.metrics()->port(), metrics_address.c_str(), peers.c_str());
  }
  std::fflush(stderr);
}

Result<std::unique_ptr<replay::ReplayServer>> start_replay(const Args& args,
                                                           const std::string& dir) {
  auto at = service_address(args, "--replay");
  if (!at) return at.status();
  replay::ReplayServerOptions o;
  o.address = at->address;
  o.port = at->port;
  auto send = replay::parse_send_mode(args.get("--replay-send"));
  if (!send) return Status::invalid_argument("bad --replay-send: " + send.status().message());
  o.send_mode = *send;
  auto lag = parse_u64(args.get("--replay-max-lag"));
  if (!lag) {
    return Status::invalid_argument("bad --replay-max-lag '" + args.get("--replay-max-lag") +
                                    "' (a record count; 0: never)");
  }
  o.max_lag_records = *lag;
  auto allow = allow_list(args);
  if (!allow) return allow.status();
  o.allow = std::move(*allow);
  auto server = replay::ReplayServer::start(dir, o);
  if (server) {
    std::fprintf(
        stderr,
        "reel serve: replay on port %u at %s: every record of every stream, to %s "
        "(no credential)\n",
        (*server)->port(), o.address.c_str(),
        o.allow.empty() ? "any peer that reaches it" : ("peers in " + o.allow.describe()).c_str());
    std::fflush(stderr);
  }
  return server;
}

void print_replay(const replay::ReplayServer& r, FILE* out) {
  const auto c = r.counts();
  std::fprintf(out,
               "reel serve: replay: %" PRIu64 " subscribers (%" PRIu64 " open, %" PRIu64
               " refused, %" PRIu64 " bad requests, %" PRIu64 " dropped for lag, %" PRIu64
               " peers not allowed), %" PRIu64 " frames, %" PRIu64 " bytes sent\n",
               c.subscribers, c.open, c.refused, c.bad_requests, c.lagging, c.refused_peers,
               c.frames, c.bytes);
}

void catch_stop_signals() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
}

// --replay with no ingest endpoint: read-only, beside a writer in any
// process (no lock taken, nothing written).
int run_replay_only(const Args& args, const std::string& dir) {
  auto server = start_replay(args, dir);
  if (!server) {
    return server.status().code() == Code::kInvalidArgument
               ? usage_error("serve", server.status().message())
               : fail("serve", server.status());
  }
  catch_stop_signals();
  while (!g_stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  print_replay(**server, stdout);
  server->reset();  // ends every subscriber
  return kExitOk;
}

bool has_ingest(const Args& args) {
  return !args.all("--udp").empty() || !args.all("--mcast").empty() || !args.all("--tcp").empty();
}

int run_serve(const Args& args) {
  const std::string dir = args.positional(0);
  if (!has_ingest(args) && args.has("--replay")) return run_replay_only(args, dir);
  auto options = parse_store_flags(args, kMaxRecordFlag);
  if (!options) return usage_error("serve", options.status().message());
  auto io = ingest_options(args, *options);
  if (!io) return usage_error("serve", io.status().message());
  const size_t max_connections = io->max_connections;
  const std::string metrics_address = io->metrics ? io->metrics->address : "";
  const std::string peers = io->allow.empty() ? "any peer" : "peers in " + io->allow.describe();
  auto store = Store::open(dir, *options);
  if (!store) return fail("serve", store.status());
  auto opened = ingest::NetworkIngest::open(store->get(), std::move(*io));
  if (!opened) {
    (void)(*store)->close();
    return opened.status().code() == Code::kInvalidArgument
               ? usage_error("serve", opened.status().message())
               : fail("serve", opened.status());
  }
  ingest::NetworkIngest& in = **opened;
  std::unique_ptr<replay::ReplayServer> replay;
  if (args.has("--replay")) {
    auto r = start_replay(args, dir);
    if (!r) {
      (void)(*store)->close();
      return r.status().code() == Code::kInvalidArgument
                 ? usage_error("serve", r.status().message())
                 : fail("serve", r.status());
    }
    replay = std::move(*r);
  }
  catch_stop_signals();
  in.observe(true);
  announce(in, max_connections, metrics_address, peers);
  const bool show = args.has("--stats");
  auto last_report = std::chrono::steady_clock::now();
  while (!g_stop.load() && in.failure()) {
    (void)in.round(in.wait_budget());
    in.observe(false);
    if (show && std::chrono::steady_clock::now() - last_report >= std::chrono::seconds(5)) {
      print_endpoints(in.view(), stderr);
      print_store(in.view(), stderr);
      last_report = std::chrono::steady_clock::now();
    }
  }
  // Stop receiving: take what already arrived, then write, index and sync
  // it, and close.
  const Status closed = in.finish();
  print_endpoints(in.view(), stdout);
  print_store(in.view(), stdout);
  const Status failure = in.failure();
  opened->reset();
  if (replay) print_replay(*replay, stdout);
  if (!failure) return fail("serve", failure);
  if (!closed) return fail("serve", closed);
  return kExitOk;
}

}  // namespace

const Command kServeCommand{
    {"serve",
     "Hold a store open for writing and record network feeds into it.",
     {"STORE"},
     {{"--udp", "[ADDR:]PORT[,stream=NAME][,seq=SPEC]", "a UDP endpoint: one datagram, one record",
       "", true},
      {"--mcast", "GROUP:PORT,iface=ADDR[,source=ADDR][,stream=NAME][,seq=SPEC]",
       "a multicast group joined on an interface (source: SSM)", "", true},
      {"--tcp", "[ADDR:]PORT[,framing=lp|u16be|lines][,stream=NAME][,seq=SPEC]",
       "a TCP endpoint taking many connections; framing lp (u32 LE length, the default), "
       "u16be or lines",
       "", true},
      {"--max-connections", "N",
       "open TCP connections allowed in all; a new one past it closes the one idle longest "
       "(lowered to fit the descriptor limit)",
       "1024"},
      {"--max-buffered", "SIZE",
       "memory for unfinished TCP records, all connections together; a connection that "
       "takes it past this is closed",
       "256MiB"},
      {"--idle-timeout", "DURATION",
       "close a TCP connection that sent nothing for this long (0: never)", "5m"},
      sync_flag(),
      segment_size_flag(),
      zero_ahead_flag(),
      {"--max-record", "SIZE",
       "largest record: a longer datagram is not stored, a longer TCP "
       "record closes its connection",
       "65535"},
      {"--stats", "",
       "print each endpoint's counts, the ring's fill and the store's seqs every 5 s on stderr",
       ""},
      {"--replay", "[ADDR:]PORT",
       "serve the store's records to subscribers (reel::Subscriber, reel tail tcp://); "
       "alone, read-only beside a writer in any process. ADDR defaults to 127.0.0.1",
       ""},
      {"--replay-send", "copy|uring|zc",
       "how frames leave the mapping: sendmsg, io_uring send, or io_uring zero-copy send", "uring"},
      {"--replay-max-lag", "N",
       "disconnect a live follower whose socket stays full while N records behind (0: never)",
       "50000000"},
      {"--allow", "CIDR",
       "accept TCP connections (ingest, replay, metrics) only from peers in this IPv4 network "
       "(A.B.C.D/N or an address); others are closed at once, counted and logged",
       "", true},
      {"--metrics", "[ADDR:]PORT",
       "serve the same as Prometheus text at GET /metrics; ADDR defaults to 127.0.0.1", ""}},
     "SPEC (where the feed's own sequence number is, kept as the record's source_seq): none,\n"
     "moldudp64, or OFFSET:u32be|u64be|u32le|u64le. The stream defaults to the endpoint's\n"
     "name (udp:9000). ts_ns is the kernel's receive time (TCP: the time the bytes were taken).\n"
     "An lp TCP connection may ask for acknowledgements at the written, indexed or durable\n"
     "level (schemas/format.md; reel append --to, reel::Publisher); durable ones come with\n"
     "the --sync policy's syncs (with --sync none they are refused).\n"
     "SIGINT or SIGTERM stops receiving, writes and syncs what was received (per --sync),\n"
     "sends the last acks, closes the store cleanly and prints each endpoint's records,\n"
     "bytes, gaps, duplicates, kernel drops and truncated datagrams."},
    run_serve};

}  // namespace reel::cli
