// reel serve: the one writer of a store, fed by network endpoints (issue 9).
// This step: UDP and multicast endpoints; TCP comes next.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <map>
#include <vector>

#include "feed/endpoint.h"
#include "feed/gap_tracker.h"
#include "net/udp_receiver.h"
#include "reel/commands.h"
#include "reel/store.h"
#include "util/time_format.h"

namespace reel::cli {
namespace {

std::atomic<bool> g_stop{false};

void on_signal(int) {
  g_stop.store(true);
}

struct EndpointStats {
  uint64_t records = 0, bytes = 0, truncated = 0, no_seq = 0, kernel_drops = 0;
  feed::GapTracker gaps;
};

Result<std::vector<feed::Endpoint>> endpoints_from(const Args& args) {
  std::vector<feed::Endpoint> out;
  for (const auto& [flag, kind] : {std::pair{"--udp", feed::Endpoint::Kind::kUdp},
                                   std::pair{"--mcast", feed::Endpoint::Kind::kMulticast}}) {
    for (const auto& text : args.all(flag)) {
      auto e = feed::parse_endpoint(kind, text);
      if (!e) return e.status();
      out.push_back(*e);
    }
  }
  if (out.empty()) return Status::invalid_argument("give at least one --udp or --mcast endpoint");
  return out;
}

Result<StoreOptions> store_options(const Args& args) {
  StoreOptions o;
  auto sync = SyncPolicy::parse(args.get("--sync"));
  if (!sync) return sync.status();
  o.sync = *sync;
  auto segment = parse_size_bytes(args.get("--segment-size"));
  if (!segment || *segment < 4096) {
    return Status::invalid_argument("bad --segment-size '" + args.get("--segment-size") + "'");
  }
  o.segment_bytes_max = *segment;
  auto max_record = parse_size_bytes(args.get("--max-record"));
  if (!max_record || *max_record == 0 || *max_record > 65535) {
    return Status::invalid_argument("bad --max-record '" + args.get("--max-record") +
                                    "' (1 to 65535 bytes: a UDP datagram)");
  }
  o.max_record_bytes = *max_record;
  return o;
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
  AppendOptions ao;
  ao.ts_ns = d.ts_ns;
  auto s = feed::extract_source_seq(e.seq, d.payload);
  if (s) {
    ao.source_seq = s->seq;
  } else if (e.seq.kind != feed::SeqSpec::Kind::kNone) {
    ++st->no_seq;
  }
  auto seq = store->append(e.stream,
                           {reinterpret_cast<const char*>(d.payload.data()), d.payload.size()}, ao);
  if (!seq) return seq.status();
  if (s) (void)st->gaps.observe(*s, *seq, ao.ts_ns);
  ++st->records;
  st->bytes += d.payload.size();
  return Status::ok();
}

void print_summary(const std::vector<feed::Endpoint>& eps, std::vector<EndpointStats>& st,
                   const net::UdpReceiver* rx, FILE* out) {
  for (size_t i = 0; i < eps.size(); ++i) {
    if (rx != nullptr) st[i].kernel_drops = rx->kernel_drops(i);
    std::fprintf(out,
                 "reel serve: %s -> %s: %" PRIu64 " records, %" PRIu64 " bytes, %" PRIu64
                 " gaps (%" PRIu64 " missing), %" PRIu64 " duplicates, %" PRIu64
                 " kernel drops, %" PRIu64 " truncated, %" PRIu64 " without a source seq\n",
                 feed::endpoint_name(eps[i]).c_str(), eps[i].stream.c_str(), st[i].records,
                 st[i].bytes, st[i].gaps.gaps(), st[i].gaps.missing(), st[i].gaps.duplicates(),
                 st[i].kernel_drops, st[i].truncated, st[i].no_seq);
  }
}

int run_serve(const Args& args) {
  const std::string dir = args.positional(0);
  auto eps = endpoints_from(args);
  if (!eps) return usage_error("serve", eps.status().message());
  auto options = store_options(args);
  if (!options) return usage_error("serve", options.status().message());
  auto store = Store::open(dir, *options);
  if (!store) return fail("serve", store.status());
  auto rx = net::UdpReceiver::open(*eps, options->max_record_bytes);
  if (!rx) return fail("serve", rx.status());
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  for (size_t i = 0; i < eps->size(); ++i) {
    std::fprintf(stderr, "reel serve: %s: listening on port %u, stream %s, source seq %s\n",
                 feed::endpoint_name((*eps)[i]).c_str(), (*rx)->port(i), (*eps)[i].stream.c_str(),
                 feed::seq_spec_name((*eps)[i].seq).c_str());
  }
  std::fflush(stderr);
  std::vector<EndpointStats> stats(eps->size());
  const bool show = args.has("--stats");
  auto last_report = std::chrono::steady_clock::now();
  Status failure;
  while (!g_stop.load() && failure) {
    auto n = (*rx)->poll(std::chrono::milliseconds(100), [&](const net::Datagram& d) {
      if (failure) failure = take(store->get(), (*eps)[d.endpoint], d, &stats[d.endpoint]);
    });
    if (!n) failure = n.status();
    if (show && std::chrono::steady_clock::now() - last_report >= std::chrono::seconds(5)) {
      print_summary(*eps, stats, rx->get(), stderr);
      last_report = std::chrono::steady_clock::now();
    }
  }
  // Stop receiving: take what already arrived, then write, index and sync
  // it, and close.
  while (failure) {
    auto n = (*rx)->poll(std::chrono::milliseconds(0), [&](const net::Datagram& d) {
      if (failure) failure = take(store->get(), (*eps)[d.endpoint], d, &stats[d.endpoint]);
    });
    if (!n) failure = n.status();
    if (!n || *n == 0) break;
  }
  for (size_t i = 0; i < eps->size(); ++i) stats[i].kernel_drops = (*rx)->kernel_drops(i);
  rx->reset();
  Status closed = (*store)->close();
  print_summary(*eps, stats, nullptr, stdout);
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
      {"--sync", "POLICY", "always | interval:DURATION | none", "interval:10ms"},
      {"--segment-size", "SIZE", "size of new segment files", "1GiB"},
      {"--max-record", "SIZE", "largest datagram stored whole", "65535"},
      {"--stats", "", "print each endpoint's counts every 5 s on stderr", ""}},
     "SPEC (where the feed's own sequence number is, kept as the record's source_seq): none,\n"
     "moldudp64, or OFFSET:u32be|u64be|u32le|u64le. The stream defaults to the endpoint's\n"
     "name (udp:9000). ts_ns is the kernel's receive time. SIGINT or SIGTERM stops receiving,\n"
     "writes and syncs what was received (per --sync), closes the store cleanly and prints\n"
     "each endpoint's records, bytes, gaps, duplicates, kernel drops and truncated datagrams."},
    run_serve};

}  // namespace reel::cli
