#include "capture/importer.h"

namespace reel::capture {

std::string dst_stream_name(const Parsed& p) {
  if (p.dst_addr_len == 0) return "non-ip";
  const std::string addr = dst_text(p);
  if (p.dst_port == 0) return addr;
  const std::string host = p.dst_addr_len == 16 ? "[" + addr + "]" : addr;
  return host + ":" + std::to_string(p.dst_port);
}

std::pair<const std::string*, StreamCounts*> Importer::stream_of(const Parsed& p) {
  if (!options_.by_dst) {  // one stream: its entry once, not a string lookup per packet
    if (!single_) single_ = counts_.streams.try_emplace(options_.stream).first;
    return {&(*single_)->first, &(*single_)->second};
  }
  std::string key(reinterpret_cast<const char*>(p.dst_addr), p.dst_addr_len);
  key += static_cast<char>(p.dst_port >> 8);
  key += static_cast<char>(p.dst_port & 0xff);
  auto cached = by_dst_.find(key);
  if (cached == by_dst_.end()) {
    const std::string name = dst_stream_name(p);
    auto it = counts_.streams.find(name);
    if (it == counts_.streams.end()) it = counts_.streams.emplace(name, StreamCounts{}).first;
    cached = by_dst_.emplace(std::move(key), it).first;
  }
  return {&cached->second->first, &cached->second->second};
}

Status Importer::take(const Packet& pk) {
  ++counts_.packets;
  const Parsed p = parse_frame(pk.linktype, pk.bytes, pk.wire_len, options_.layer);
  if (p.skip != Skip::kNone) {
    ++counts_.skipped[p.skip];
    return Status::ok();
  }
  if (p.payload.size() > options_.max_record) {
    ++counts_.oversize;
    return Status::ok();
  }
  auto [stream, sc] = stream_of(p);
  auto seq = recorder_.record(*stream, options_.seq, p.payload, pk.ts_ns, sc);
  if (!seq) return seq.status();
  ++counts_.imported;
  return Status::ok();
}

}  // namespace reel::capture
