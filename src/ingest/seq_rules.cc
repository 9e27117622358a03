#include "ingest/seq_rules.h"

#include <cstdio>

#include "util/read_file.h"
#include "wal/store_files.h"

namespace reel::ingest {
namespace {

constexpr const char* kHeader =
    "# reel seq rules 1: SPEC STREAM (stream bytes as %XX outside ! to ~)";

std::string file_of(const std::string& dir) {
  return dir + "/seq_rules";
}

std::string escape(const std::string& name) {
  std::string out;
  for (unsigned char c : name) {
    if (c > ' ' && c <= '~' && c != '%') {
      out += static_cast<char>(c);
    } else {
      char hex[4];
      std::snprintf(hex, sizeof hex, "%%%02X", c);
      out += hex;
    }
  }
  return out;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

bool unescape(const std::string& text, std::string* out) {
  out->clear();
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      *out += text[i];
      continue;
    }
    const int hi = i + 1 < text.size() ? hex_digit(text[i + 1]) : -1;
    const int lo = i + 2 < text.size() ? hex_digit(text[i + 2]) : -1;
    if (hi < 0 || lo < 0) return false;
    *out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return !out->empty();
}

}  // namespace

std::string format_seq_rules(const SeqRules& rules) {
  std::string out = std::string(kHeader) + "\n";
  for (const auto& [name, spec] : rules) {
    out += feed::seq_spec_name(spec) + " " + escape(name) + "\n";
  }
  return out;
}

Result<SeqRules> parse_seq_rules(const std::string& text, const std::string& path) {
  SeqRules rules;
  size_t line_no = 0;
  for (size_t at = 0; at < text.size();) {
    size_t nl = text.find('\n', at);
    if (nl == std::string::npos) nl = text.size();
    const std::string line = text.substr(at, nl - at);
    at = nl + 1;
    ++line_no;
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.find(' ');
    std::string name;
    auto spec = feed::parse_seq_spec(line.substr(0, space));
    if (space == std::string::npos || !spec || !unescape(line.substr(space + 1), &name)) {
      return Status::corruption(path + ": line " + std::to_string(line_no) +
                                " is not 'SPEC STREAM': " + line.substr(0, 80));
    }
    rules[name] = *spec;
  }
  return rules;
}

Result<SeqRules> load_seq_rules(const std::string& store_dir) {
  const std::string path = file_of(store_dir);
  auto text = read_file(path);
  if (!text) {
    if (text.status().code() == Code::kNotFound) return SeqRules{};
    return text.status();
  }
  return parse_seq_rules(*text, path);
}

Status save_seq_rules(const std::string& store_dir, const SeqRules& rules) {
  return wal::write_file_atomic(file_of(store_dir), format_seq_rules(rules));
}

}  // namespace reel::ingest
