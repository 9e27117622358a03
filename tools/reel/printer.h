// Shared by the reading commands (cat, get, tail): record output formats and
// --from/--to bounds.
#pragma once

#include <cinttypes>
#include <cstdio>
#include <optional>
#include <string>

#include "json/record_json.h"
#include "reel/args.h"
#include "reel/record_view.h"
#include "reel/status.h"
#include "util/coding.h"
#include "util/embedded_schema.h"
#include "util/time_format.h"

namespace reel::cli {

inline constexpr const char* kFormatHelp = "json | hex | payload (payload + newline) | raw | lp";

// Prints records in one of the output formats.
class Printer {
 public:
  explicit Printer(std::string format) : format_(std::move(format)) {}

  // Validates the format and loads what it needs; "" on success.
  // `dir` is a store directory, or a tcp:// source (the schema compiled in
  // is used: records on the wire are format version 1 too).
  std::string init(const std::string& dir) {
    if (format_ == "json") {
      Status s =
          dir.rfind("tcp://", 0) == 0
              ? json_.load_bytes(std::string(reinterpret_cast<const char*>(embedded::kRecordBfbs),
                                             embedded::kRecordBfbsSize),
                                 "the built-in record.bfbs")
              : json_.load(dir + "/schemas/record.bfbs");
      return s ? "" : s.message();
    }
    if (format_ == "hex" || format_ == "payload" || format_ == "raw" || format_ == "lp") return "";
    return "unknown --format '" + format_ + "' (json, hex, payload, raw or lp)";
  }

  Status print(const RecordView& v) {
    if (format_ == "json") {
      const std::string text = json_.render(v);
      std::fwrite(text.data(), 1, text.size(), stdout);
      std::fputc('\n', stdout);
    } else if (format_ == "payload" || format_ == "raw") {
      std::fwrite(v.payload().data(), 1, v.payload().size(), stdout);
      if (format_ == "payload") std::fputc('\n', stdout);
    } else if (format_ == "lp") {
      const uint32_t n = static_cast<uint32_t>(v.payload().size());
      uint8_t len[4];
      encode_fixed32(len, n);
      std::fwrite(len, 1, 4, stdout);
      std::fwrite(v.payload().data(), 1, n, stdout);
    } else {
      std::printf("seq=%" PRIu64 " ts=%s stream=%u source_seq=%" PRIu64 " key=%s payload=%s\n",
                  v.seq(), format_time_ns(v.ts_ns()).c_str(), v.stream(), v.source_seq(),
                  hex(v.key()).c_str(), hex(v.payload()).c_str());
    }
    return Status::ok();
  }

 private:
  static std::string hex(std::string_view bytes) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (unsigned char c : bytes) {
      out.push_back(digits[c >> 4]);
      out.push_back(digits[c & 15]);
    }
    return out;
  }
  std::string format_;
  json::RecordJson json_;
};

// A --from/--to bound: a seq when it is an integer, a time otherwise.
struct Bound {
  bool is_time = false;
  uint64_t value = 0;
};

inline std::optional<Bound> parse_bound(const std::string& text) {
  if (auto seq = parse_u64(text)) return Bound{false, *seq};
  if (auto ts = parse_time_ns(text)) return Bound{true, *ts};
  return std::nullopt;
}

}  // namespace reel::cli
