#include "wire/framing.h"

#include <algorithm>
#include <cstring>

#include "util/coding.h"

namespace reel::feed {

Result<Framing> parse_framing(std::string_view name) {
  if (name == "lp") return Framing::kLengthPrefixed;
  if (name == "u16be") return Framing::kU16BigEndian;
  if (name == "lines") return Framing::kLines;
  return Status::invalid_argument("unknown framing '" + std::string(name) +
                                  "' (expected lp, u16be or lines)");
}

const char* framing_name(Framing f) {
  switch (f) {
    case Framing::kLengthPrefixed:
      return "lp";
    case Framing::kU16BigEndian:
      return "u16be";
    case Framing::kLines:
      return "lines";
  }
  return "?";
}

size_t Deframer::header_bytes() const {
  return framing_ == Framing::kLengthPrefixed ? 4 : framing_ == Framing::kU16BigEndian ? 2 : 0;
}

uint64_t Deframer::length_of(const uint8_t* p) const {
  if (framing_ == Framing::kLengthPrefixed) return decode_fixed32(p);
  return decode_big16(p);
}

Status Deframer::oversize(uint64_t length, uint64_t at) {
  error_ = Status::invalid_argument("record of " + std::to_string(length) +
                                    " bytes at stream offset " + std::to_string(at) +
                                    " is over the limit of " + std::to_string(max_record_) +
                                    " bytes (" + framing_name(framing_) + " framing)");
  return error_;
}

// Length-prefixed records wholly inside `data`, handed out in place.
size_t Deframer::take_whole(std::span<const uint8_t> data, const RecordFn& on_record) {
  const size_t h = header_bytes();
  size_t used = 0;
  while (data.size() - used >= h) {
    const uint64_t n = length_of(data.data() + used);
    if (n > max_record_) {
      (void)oversize(n, consumed_ + used);
      return used;
    }
    if (data.size() - used - h < n) break;
    on_record(data.subspan(used + h, n));
    ++records_;
    used += h + n;
  }
  return used;
}

// Lines wholly inside `data`, handed out in place.
size_t Deframer::take_lines(std::span<const uint8_t> data, const RecordFn& on_record) {
  size_t used = 0;
  while (used < data.size()) {
    const auto* nl =
        static_cast<const uint8_t*>(std::memchr(data.data() + used, '\n', data.size() - used));
    if (nl == nullptr) break;
    const size_t n = static_cast<size_t>(nl - (data.data() + used));
    if (n > max_record_) {
      (void)oversize(n, consumed_ + used);
      return used;
    }
    on_record(data.subspan(used, n));
    ++records_;
    used += n + 1;
  }
  if (error_.is_ok() && data.size() - used > max_record_) {
    // No newline within the limit: the line is too long, however it ends.
    error_ = Status::invalid_argument(
        "line at stream offset " + std::to_string(consumed_ + used) +
        " is longer than the limit of " + std::to_string(max_record_) +
        " bytes (no newline in its first " + std::to_string(data.size() - used) + ")");
  }
  return used;
}

Status Deframer::feed(std::span<const uint8_t> bytes, const RecordFn& on_record) {
  if (!error_.is_ok()) return error_;
  auto take = [&](std::span<const uint8_t> d) {
    return framing_ == Framing::kLines ? take_lines(d, on_record) : take_whole(d, on_record);
  };
  while (!partial_.empty() && !bytes.empty()) {
    // Complete the held-back record first: append only as much as it needs.
    size_t want = 0;
    const size_t h = header_bytes();
    if (framing_ == Framing::kLines) {
      const auto* nl = static_cast<const uint8_t*>(std::memchr(bytes.data(), '\n', bytes.size()));
      want = nl == nullptr ? bytes.size() : static_cast<size_t>(nl - bytes.data()) + 1;
    } else if (partial_.size() < h) {
      want = std::min(bytes.size(), h - partial_.size());
    } else {
      want = std::min<uint64_t>(bytes.size(), h + length_of(partial_.data()) - partial_.size());
    }
    partial_.insert(partial_.end(), bytes.begin(), bytes.begin() + static_cast<ptrdiff_t>(want));
    bytes = bytes.subspan(want);
    const size_t used = take(partial_);
    if (!error_.is_ok()) return error_;
    if (used == 0) continue;  // still unfinished: everything went into partial_
    consumed_ += used;
    partial_.erase(partial_.begin(), partial_.begin() + static_cast<ptrdiff_t>(used));
  }
  if (!bytes.empty()) {
    const size_t used = take(bytes);
    if (!error_.is_ok()) return error_;
    consumed_ += used;
    partial_.assign(bytes.begin() + static_cast<ptrdiff_t>(used), bytes.end());
  }
  shrink();
  return Status::ok();
}

void Deframer::shrink() {
  if (partial_.capacity() > kKeepBytes && partial_.size() <= kKeepBytes) {
    std::vector<uint8_t>(partial_.begin(), partial_.end()).swap(partial_);
  }
}

}  // namespace reel::feed
