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
#include "net/metrics_server.h"
#include "net/tcp_receiver.h"
#include "net/udp_receiver.h"
#include "reel/commands.h"
#include "reel/serve_report.h"
#include "reel/store.h"
#include "reel/store_flags.h"
#include "replay/replay_server.h"
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

// One record into the store, its source seq observed for gaps; returns its
// seq.
Result<uint64_t> store_record(Store* store, const feed::Endpoint& e,
                              std::span<const uint8_t> payload, uint64_t ts_ns, EndpointStats* st) {
  AppendOptions ao;
  ao.ts_ns = ts_ns;
  auto s = feed::extract_source_seq(e.seq, payload);
  if (s) {
    ao.source_seq = s->seq;
  } else if (e.seq.kind != feed::SeqSpec::Kind::kNone) {
    ++st->no_seq;
  }
  auto seq =
      store->append(e.stream, {reinterpret_cast<const char*>(payload.data()), payload.size()}, ao);
  if (!seq) return seq.status();
  if (s) (void)st->gaps.observe(*s, *seq, ao.ts_ns);
  ++st->records;
  st->bytes += payload.size();
  return *seq;
}

// One received datagram into the store. A truncated one (over --max-record)
// is counted and not stored: it is not what was sent.
Status take(Store* store, const feed::Endpoint& e, const net::Datagram& d, EndpointStats* st) {
  if (d.truncated) {
    if (st->truncated++ == 0) {
      std::fprintf(stderr, "reel serve: %s: a datagram over --max-record was not stored\n",
                   feed::endpoint_name(e).c_str());
    }
    return Status::ok();
  }
  return store_record(store, e, d.payload, d.ts_ns, st).status();
}

// Every receiver of one `reel serve`, and what each endpoint got.
struct Ingest {
  Store* store = nullptr;
  std::vector<feed::Endpoint> udp_eps, tcp_eps;
  std::unique_ptr<net::UdpReceiver> udp;
  std::unique_ptr<net::TcpReceiver> tcp;
  std::vector<EndpointStats> udp_stats, tcp_stats;
  std::chrono::steady_clock::duration idle_timeout{};
  std::unique_ptr<net::MetricsServer> metrics;
  std::chrono::steady_clock::time_point last_metrics{};
  uint64_t ring_peak = 0;
  Status failure;

  // One round over the receivers, waiting up to `wait` in all; returns how
  // many records it took.
  size_t round(std::chrono::milliseconds wait) {
    size_t taken = 0;
    // Both receivers get a share; never a zero wait when one was asked (a
    // 1 ms budget halved must not become a busy loop).
    auto each = udp && tcp ? wait / 2 : wait;
    if (wait.count() > 0 && each.count() == 0) each = std::chrono::milliseconds(1);
    if (udp && failure) {
      auto n = udp->poll(each, [&](const net::Datagram& d) {
        if (failure) failure = take(store, udp_eps[d.endpoint], d, &udp_stats[d.endpoint]);
      });
      if (!n) failure = n.status();
      taken += n ? *n : 0;
    }
    if (tcp && failure) {
      auto n = tcp->poll(each, [&](const net::TcpRecord& r) -> uint64_t {
        if (!failure) return 0;
        auto seq =
            store_record(store, tcp_eps[r.endpoint], r.payload, r.ts_ns, &tcp_stats[r.endpoint]);
        if (!seq) failure = seq.status();
        return seq ? *seq : 0;
      });
      if (!n) failure = n.status();
      taken += n ? *n : 0;
      acknowledge();
      tcp->expire_idle(idle_timeout);
    }
    return taken;
  }

  // Sends the acks the watermarks allow; asks for a sync when a connection
  // waits for the durable level (whatever the --sync policy), and for the
  // index now (not after the index thread's batching delay) when one waits
  // for the indexed level.
  void acknowledge() {
    if (!tcp->acks_pending()) return;
    const Watermarks w = store->watermarks();
    if (const uint64_t want = tcp->pending_seq(Level::kDurable); want > w.durable_seq) {
      (void)store->request(want, Level::kDurable);
    }
    if (const uint64_t want = tcp->pending_seq(Level::kIndexed); want > w.indexed_seq) {
      (void)store->request(want, Level::kIndexed);
    }
    tcp->acknowledge(w);
  }
  // How long one round may wait for input: short while acks are owed.
  std::chrono::milliseconds wait_budget() const {
    return tcp && tcp->acks_pending() ? std::chrono::milliseconds(1)
                                      : std::chrono::milliseconds(100);
  }

  ServeView view() {
    ServeView v;
    v.udp_eps = &udp_eps;
    v.udp_stats = &udp_stats;
    v.udp = udp.get();
    v.tcp_eps = &tcp_eps;
    v.tcp_stats = &tcp_stats;
    v.tcp = tcp.get();
    v.store = store;
    v.ring_peak_bytes = ring_peak;
    return v;
  }
  void print(FILE* out) {
    print_endpoints(view(), out);
    print_store(view(), out);
  }
  // Every round: the ring's peak; now and then, the metrics page.
  void observe(bool force) {
    ring_peak = std::max(ring_peak, store->ring_fill().used_bytes);
    const auto now = std::chrono::steady_clock::now();
    if (metrics && (force || now - last_metrics >= std::chrono::milliseconds(500))) {
      metrics->publish(prometheus_text(view()));
      last_metrics = now;
    }
  }
};

Status open_receivers(const Args& args, const StoreOptions& o, Ingest* in) {
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
  in->idle_timeout = std::chrono::nanoseconds(*idle);
  if (args.has("--metrics")) {
    auto at = feed::parse_endpoint(feed::Endpoint::Kind::kTcp, args.get("--metrics"));
    if (!at) return Status::invalid_argument("bad --metrics '" + args.get("--metrics") + "'");
    auto m = net::MetricsServer::start(at->address, at->port);
    if (!m) return m.status();
    in->metrics = std::move(*m);
  }
  in->udp_eps = *udp;
  in->tcp_eps = *tcp;
  in->udp_stats.resize(udp->size());
  in->tcp_stats.resize(tcp->size());
  if (!udp->empty()) {
    auto rx = net::UdpReceiver::open(*udp, std::min<uint64_t>(o.max_record_bytes, 65535));
    if (!rx) return rx.status();
    in->udp = std::move(*rx);
  }
  if (!tcp->empty()) {
    auto rx = net::TcpReceiver::open(*tcp, o.max_record_bytes, *max_conns);
    if (!rx) return rx.status();
    in->tcp = std::move(*rx);
  }
  return Status::ok();
}

void announce(const Ingest& in) {
  for (size_t i = 0; i < in.udp_eps.size(); ++i) {
    std::fprintf(stderr, "reel serve: %s: listening on port %u, stream %s, source seq %s\n",
                 feed::endpoint_name(in.udp_eps[i]).c_str(), in.udp->port(i),
                 in.udp_eps[i].stream.c_str(), feed::seq_spec_name(in.udp_eps[i].seq).c_str());
  }
  for (size_t i = 0; i < in.tcp_eps.size(); ++i) {
    std::fprintf(
        stderr, "reel serve: %s: listening on port %u, stream %s, framing %s, source seq %s\n",
        feed::endpoint_name(in.tcp_eps[i]).c_str(), in.tcp->port(i), in.tcp_eps[i].stream.c_str(),
        feed::framing_name(in.tcp_eps[i].framing), feed::seq_spec_name(in.tcp_eps[i].seq).c_str());
  }
  if (in.metrics) {
    std::fprintf(stderr, "reel serve: metrics on port %u (GET /metrics)\n", in.metrics->port());
  }
  std::fflush(stderr);
}

Result<std::unique_ptr<replay::ReplayServer>> start_replay(const Args& args,
                                                           const std::string& dir) {
  auto at = feed::parse_endpoint(feed::Endpoint::Kind::kTcp, args.get("--replay"));
  if (!at) return Status::invalid_argument("bad --replay '" + args.get("--replay") + "'");
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
  auto server = replay::ReplayServer::start(dir, o);
  if (server) {
    std::fprintf(stderr, "reel serve: replay on port %u\n", (*server)->port());
    std::fflush(stderr);
  }
  return server;
}

void print_replay(const replay::ReplayServer& r, FILE* out) {
  const auto c = r.counts();
  std::fprintf(out,
               "reel serve: replay: %" PRIu64 " subscribers (%" PRIu64 " open, %" PRIu64
               " refused, %" PRIu64 " bad requests, %" PRIu64 " dropped for lag), %" PRIu64
               " frames, %" PRIu64 " bytes sent\n",
               c.subscribers, c.open, c.refused, c.bad_requests, c.lagging, c.frames, c.bytes);
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
  auto store = Store::open(dir, *options);
  if (!store) return fail("serve", store.status());
  Ingest in;
  in.store = store->get();
  if (Status s = open_receivers(args, *options, &in); !s) {
    (void)(*store)->close();
    return s.code() == Code::kInvalidArgument ? usage_error("serve", s.message())
                                              : fail("serve", s);
  }
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
  announce(in);
  const bool show = args.has("--stats");
  auto last_report = std::chrono::steady_clock::now();
  while (!g_stop.load() && in.failure) {
    (void)in.round(in.wait_budget());
    in.observe(false);
    if (show && std::chrono::steady_clock::now() - last_report >= std::chrono::seconds(5)) {
      in.print(stderr);
      last_report = std::chrono::steady_clock::now();
    }
  }
  // Stop receiving: take what already arrived, then write, index and sync
  // it, and close.
  while (in.failure && in.round(std::chrono::milliseconds(0)) > 0) {
  }
  for (size_t i = 0; i < in.udp_eps.size(); ++i) {
    in.udp_stats[i].kernel_drops = in.udp->kernel_drops(i);
  }
  in.udp.reset();
  if (in.tcp && in.failure && in.tcp->pending_seq(Level::kDurable) != 0) {
    in.failure = (*store)->sync();  // owed durable acks, whatever --sync says
  }
  Status closed = (*store)->close();
  if (in.tcp) in.tcp->acknowledge((*store)->watermarks());  // the last acks
  in.observe(true);
  in.print(stdout);
  in.tcp.reset();
  if (replay) print_replay(*replay, stdout);
  if (!in.failure) return fail("serve", in.failure);
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
      {"--max-connections", "N", "open TCP connections allowed in all", "1024"},
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
       "alone, read-only beside a writer in any process",
       ""},
      {"--replay-send", "copy|uring|zc",
       "how frames leave the mapping: sendmsg, io_uring send, or io_uring zero-copy send", "uring"},
      {"--replay-max-lag", "N",
       "disconnect a live follower whose socket stays full while N records behind (0: never)",
       "50000000"},
      {"--metrics", "[ADDR:]PORT", "serve the same as Prometheus text at GET /metrics", ""}},
     "SPEC (where the feed's own sequence number is, kept as the record's source_seq): none,\n"
     "moldudp64, or OFFSET:u32be|u64be|u32le|u64le. The stream defaults to the endpoint's\n"
     "name (udp:9000). ts_ns is the kernel's receive time (TCP: the time the bytes were taken).\n"
     "An lp TCP connection may ask for acknowledgements at the written, indexed or durable\n"
     "level (schemas/format.md; reel append --to, reel::Publisher).\n"
     "SIGINT or SIGTERM stops receiving, writes and syncs what was received (per --sync),\n"
     "sends the last acks, closes the store cleanly and prints each endpoint's records,\n"
     "bytes, gaps, duplicates, kernel drops and truncated datagrams."},
    run_serve};

}  // namespace reel::cli
