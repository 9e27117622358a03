// reel import: pcap and pcapng captures into a store.
#include <cinttypes>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "capture/importer.h"
#include "capture/pcap_merge.h"
#include "reel/commands.h"
#include "reel/store.h"
#include "reel/store_flags.h"
#include "util/time_format.h"

namespace reel::cli {
namespace {

struct ImportOptions {
  StoreOptions store;
  capture::ImportOptions import;
  std::string filter;
};

Result<ImportOptions> import_options(const Args& args) {
  ImportOptions o;
  auto store = parse_store_flags(args, kMaxRecordFlag);
  if (!store) return store.status();
  o.store = *store;
  o.import.max_record = o.store.max_record_bytes;
  const std::string layer = args.get("--layer");
  if (layer == "ip") {
    o.import.layer = capture::Layer::kIp;
  } else if (layer == "eth") {
    o.import.layer = capture::Layer::kEth;
  } else if (layer != "udp") {
    return Status::invalid_argument("unknown --layer '" + layer + "' (udp, ip or eth)");
  }
  if (args.has("--stream-by")) {
    if (args.get("--stream-by") != "dst") {
      return Status::invalid_argument("unknown --stream-by '" + args.get("--stream-by") +
                                      "' (dst)");
    }
    if (args.has("--stream")) return Status::invalid_argument("give --stream or --stream-by");
    o.import.by_dst = true;
  }
  o.import.stream = args.get("--stream");
  auto seq = feed::parse_seq_spec(args.get("--seq"));
  if (!seq) return seq.status();
  o.import.seq = *seq;
  o.filter = args.get("--filter");
  return o;
}

class Progress {
 public:
  explicit Progress(bool on) : on_(on) {}
  void tick(const capture::PcapMerge& in, uint64_t records) {
    if (!on_ || ++calls_ % 4096 != 0) return;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_ < std::chrono::milliseconds(250)) return;
    last_ = now;
    const double total = static_cast<double>(in.total_bytes());
    const double done = total > 0 ? static_cast<double>(in.bytes_read()) / total : 0;
    const int bar = static_cast<int>(done * 30);
    std::fprintf(stderr, "\rreel import: [%-30s] %5.1f%%  %" PRIu64 " records   ",
                 std::string(static_cast<size_t>(bar), '#').c_str(), done * 100, records);
    shown_ = true;
  }
  void done() {
    if (shown_) std::fprintf(stderr, "\n");
  }

 private:
  bool on_, shown_ = false;
  uint64_t calls_ = 0;
  std::chrono::steady_clock::time_point last_{};
};

void print_counts(const capture::ImportCounts& c, const capture::PcapMerge& in, FILE* out) {
  std::fprintf(out,
               "reel import: %" PRIu64 " packets read, %" PRIu64 " imported, %" PRIu64
               " rejected by --filter",
               c.packets + in.filtered(), c.imported, in.filtered());
  for (const auto& [why, n] : c.skipped) {
    std::fprintf(out, ", %" PRIu64 " skipped (%s)", n, capture::skip_name(why));
  }
  if (c.oversize != 0) std::fprintf(out, ", %" PRIu64 " over --max-record", c.oversize);
  std::fprintf(out, "\n");
  for (const auto& [name, s] : c.streams) {
    std::fprintf(out,
                 "reel import: %s: %" PRIu64 " records, %" PRIu64 " bytes, %" PRIu64
                 " gaps (%" PRIu64 " missing), %" PRIu64 " duplicates\n",
                 name.c_str(), s.records, s.bytes, s.gaps.gaps(), s.gaps.missing(),
                 s.gaps.duplicates());
  }
}

int run_import(const Args& args) {
  auto o = import_options(args);
  if (!o) return usage_error("import", o.status().message());
  std::vector<std::string> files;
  for (size_t i = 1; i < args.positional_count(); ++i) files.push_back(args.positional(i));
  auto in = capture::PcapMerge::open(files, o->filter);
  if (!in) {
    return in.status().code() == Code::kInvalidArgument && in.status().message().rfind("--", 0) == 0
               ? usage_error("import", in.status().message())
               : fail("import", in.status());
  }
  auto store = Store::open(args.positional(0), o->store);
  if (!store) return fail("import", store.status());
  capture::Importer importer(store->get(), o->import);
  Progress progress(stderr_is_terminal());
  capture::Packet pk;
  Status s;
  for (;;) {
    auto more = (*in)->next(&pk);
    if (!more) s = more.status();
    if (!more || !*more) break;
    s = importer.take(pk);
    if (!s) break;
    progress.tick(**in, importer.counts().imported);
  }
  progress.done();
  for (const auto& w : (*in)->warnings())
    std::fprintf(stderr, "reel import: warning: %s\n", w.c_str());
  Status closed = (*store)->close();
  print_counts(importer.counts(), **in, stdout);
  if (!s) return fail("import", s.message() + "; the records before it were imported");
  if (!closed) return fail("import", closed);
  return kExitOk;
}

}  // namespace

const Command kImportCommand{
    {"import",
     "Import pcap or pcapng captures into a store, merged in capture-time order.",
     {"STORE", "FILE..."},
     {{"--filter", "BPF", "a tcpdump filter expression, e.g. 'udp and dst port 5000'", ""},
      {"--layer", "LAYER",
       "what becomes the payload: udp (the UDP payload), ip (the IP packet) or eth (the "
       "captured frame)",
       "udp"},
      {"--stream", "NAME", "the stream to import into", "import"},
      {"--stream-by", "KEY", "dst: one stream per destination, named like 239.1.1.1:5000", ""},
      {"--seq", "SPEC", "none | moldudp64 | OFFSET:u32be|u64be|u32le|u64le", "none"},
      sync_flag(),
      segment_size_flag(),
      zero_ahead_flag(),
      {"--max-record", "SIZE", "larger payloads are skipped and counted", "256KiB"}},
     "ts_ns is the capture time at the file's precision (nanosecond files keep every\n"
     "digit). Ethernet (with VLAN tags), Linux cooked (tcpdump -i any), raw IP and\n"
     "loopback captures are read. Packets the layer cannot use (not IP, not UDP, IPv4\n"
     "fragments, cut by the snap length) are skipped and counted; the summary names\n"
     "each reason and each stream's records, gaps and duplicates. A capture whose last\n"
     "packet is cut short is imported up to it, with a warning."},
    run_import};

}  // namespace reel::cli
