#include "capture/pcap_merge.h"

#include <pcap/pcap.h>
#include <sys/stat.h>

#include <cstdio>
#include <optional>
#include <queue>

#include "capture/packet_parser.h"

namespace reel::capture {
namespace {

struct Source {
  std::string path;
  pcap_t* pcap = nullptr;
  bpf_program filter{};
  bool has_filter = false;
  uint64_t number = 0;
  pcap_pkthdr* header = nullptr;
  const u_char* data = nullptr;
};

struct Head {
  uint64_t ts_ns;
  size_t file;
  bool operator>(const Head& o) const { return ts_ns != o.ts_ns ? ts_ns > o.ts_ns : file > o.file; }
};

}  // namespace

struct PcapMerge::Impl {
  std::vector<Source> sources;
  std::priority_queue<Head, std::vector<Head>, std::greater<Head>> heads;
  uint64_t filtered = 0, total = 0;
  std::vector<std::string> warnings;
  std::optional<size_t> handed_out;  // the file of the packet next() gave last

  ~Impl() {
    for (auto& s : sources) {
      if (s.has_filter) pcap_freecode(&s.filter);
      if (s.pcap != nullptr) pcap_close(s.pcap);
    }
  }
  Status open_one(const std::string& path, const std::string& filter);
  // Reads the file's next accepted packet into the heap (or ends the file).
  Status advance(size_t i);
};

Status PcapMerge::Impl::open_one(const std::string& path, const std::string& filter) {
  char err[PCAP_ERRBUF_SIZE] = "";
  Source s;
  s.path = path;
  s.pcap = pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, err);
  if (s.pcap == nullptr) return Status::invalid_argument(path + ": " + err);
  sources.push_back(s);  // closed by ~Impl from here on
  Source& in = sources.back();
  if (!known_linktype(pcap_datalink(in.pcap))) {
    return Status::invalid_argument(
        path + ": link type " +
        std::string(pcap_datalink_val_to_name(pcap_datalink(in.pcap)) ?: "unknown") +
        " is not supported (Ethernet, Linux cooked, raw IP, loopback)");
  }
  if (!filter.empty()) {
    if (pcap_compile(in.pcap, &in.filter, filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
      return Status::invalid_argument("--filter '" + filter + "': " + pcap_geterr(in.pcap));
    }
    in.has_filter = true;
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) total += static_cast<uint64_t>(st.st_size);
  return Status::ok();
}

Status PcapMerge::Impl::advance(size_t i) {
  Source& s = sources[i];
  for (;;) {
    const int rc = pcap_next_ex(s.pcap, &s.header, &s.data);
    if (rc == PCAP_ERROR_BREAK) return Status::ok();  // the end of the file
    if (rc != 1) {
      const std::string why = pcap_geterr(s.pcap);
      if (why.find("truncated") != std::string::npos) {
        warnings.push_back(s.path + ": the packet after packet " + std::to_string(s.number) +
                           " is cut short (" + why + "); the file ends there");
        return Status::ok();
      }
      return Status::corruption(s.path + ": after packet " + std::to_string(s.number) + ": " + why);
    }
    ++s.number;
    if (s.has_filter && pcap_offline_filter(&s.filter, s.header, s.data) == 0) {
      ++filtered;
      continue;
    }
    const uint64_t ts = static_cast<uint64_t>(s.header->ts.tv_sec) * 1'000'000'000ull +
                        static_cast<uint64_t>(s.header->ts.tv_usec);  // ns: nano precision
    heads.push({ts, i});
    return Status::ok();
  }
}

PcapMerge::PcapMerge(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PcapMerge::~PcapMerge() = default;

Result<std::unique_ptr<PcapMerge>> PcapMerge::open(const std::vector<std::string>& files,
                                                   const std::string& filter) {
  auto impl = std::make_unique<Impl>();
  for (const auto& f : files) {
    if (Status s = impl->open_one(f, filter); !s) return s;
  }
  for (size_t i = 0; i < impl->sources.size(); ++i) {
    if (Status s = impl->advance(i); !s) return s;
  }
  return std::unique_ptr<PcapMerge>(new PcapMerge(std::move(impl)));
}

Result<bool> PcapMerge::next(Packet* p) {
  auto& heads = impl_->heads;
  if (impl_->handed_out) {
    // The packet handed out last is used: its file moves on.
    const size_t f = *impl_->handed_out;
    impl_->handed_out.reset();
    if (Status s = impl_->advance(f); !s) return s;
  }
  if (heads.empty()) return false;
  const Head h = heads.top();
  heads.pop();
  const Source& s = impl_->sources[h.file];
  p->file = h.file;
  p->number = s.number;
  p->ts_ns = h.ts_ns;
  p->wire_len = s.header->len;
  p->linktype = pcap_datalink(s.pcap);
  p->bytes = {s.data, s.header->caplen};
  impl_->handed_out = h.file;
  return true;
}

uint64_t PcapMerge::filtered() const {
  return impl_->filtered;
}
uint64_t PcapMerge::bytes_read() const {
  uint64_t n = 0;
  for (const auto& s : impl_->sources) {
    const long at = std::ftell(pcap_file(s.pcap));
    if (at > 0) n += static_cast<uint64_t>(at);
  }
  return n;
}
uint64_t PcapMerge::total_bytes() const {
  return impl_->total;
}
int PcapMerge::linktype(size_t file) const {
  return pcap_datalink(impl_->sources[file].pcap);
}
const std::vector<std::string>& PcapMerge::warnings() const {
  return impl_->warnings;
}

}  // namespace reel::capture
