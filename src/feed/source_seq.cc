#include "feed/source_seq.h"

#include "util/coding.h"
#include "util/time_format.h"

namespace reel::feed {

Result<SeqSpec> parse_seq_spec(std::string_view text) {
  SeqSpec spec;
  if (text == "none" || text.empty()) return spec;
  if (text == "moldudp64") {
    spec.kind = SeqSpec::Kind::kMoldUdp64;
    return spec;
  }
  const size_t colon = text.find(':');
  const auto offset =
      colon == std::string_view::npos ? std::nullopt : parse_u64(text.substr(0, colon));
  const std::string_view type = colon == std::string_view::npos ? "" : text.substr(colon + 1);
  if (!offset || *offset > (1u << 20) ||
      (type != "u32be" && type != "u64be" && type != "u32le" && type != "u64le")) {
    return Status::invalid_argument(
        "bad source seq spec '" + std::string(text) +
        "' (expected none, moldudp64 or OFFSET:u32be|u64be|u32le|u64le, e.g. 0:u64be)");
  }
  spec.kind = SeqSpec::Kind::kOffset;
  spec.offset = static_cast<size_t>(*offset);
  spec.width = type.substr(1, 2) == "32" ? 4 : 8;
  spec.big_endian = type.substr(3) == "be";
  return spec;
}

std::string seq_spec_name(const SeqSpec& spec) {
  switch (spec.kind) {
    case SeqSpec::Kind::kNone:
      return "none";
    case SeqSpec::Kind::kMoldUdp64:
      return "moldudp64";
    case SeqSpec::Kind::kOffset:
      return std::to_string(spec.offset) + ":u" + (spec.width == 4 ? "32" : "64") +
             (spec.big_endian ? "be" : "le");
  }
  return "?";
}

std::optional<SourceSeq> extract_source_seq(const SeqSpec& spec, std::span<const uint8_t> payload) {
  const uint8_t* p = payload.data();
  switch (spec.kind) {
    case SeqSpec::Kind::kNone:
      return std::nullopt;
    case SeqSpec::Kind::kMoldUdp64: {
      if (payload.size() < kMoldUdp64HeaderBytes) return std::nullopt;
      const uint64_t seq = decode_big64(p + 10);
      const uint16_t count = decode_big16(p + 18);
      // The session, folded to 64 bits (FNV-1a), only to tell sessions apart.
      uint64_t session = 0xcbf29ce484222325ull;
      for (int i = 0; i < 10; ++i) session = (session ^ p[i]) * 0x100000001b3ull;
      return SourceSeq{seq, seq + (count == 0xFFFF ? 0 : count), session};
    }
    case SeqSpec::Kind::kOffset: {
      if (payload.size() < spec.offset + spec.width) return std::nullopt;
      p += spec.offset;
      uint64_t v;
      if (spec.width == 4) {
        v = spec.big_endian ? decode_big32(p) : decode_fixed32(p);
      } else {
        v = spec.big_endian ? decode_big64(p) : decode_fixed64(p);
      }
      return SourceSeq{v, v + 1};
    }
  }
  return std::nullopt;
}

}  // namespace reel::feed
