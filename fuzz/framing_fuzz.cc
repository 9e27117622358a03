// libFuzzer target: the stream framings of `reel serve` (wire/framing.h) and
// the source seq extractors, on hostile bytes fed in chunks of the input's
// own choosing. The first byte picks the framing and the limit; the next
// bytes pick chunk sizes. Whatever the chunks, the records (and the error)
// must be exactly those of the same stream fed in one piece.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "feed/source_seq.h"
#include "wire/framing.h"

namespace {

using reel::feed::Deframer;
using reel::feed::Framing;

struct Outcome {
  std::vector<std::string> records;
  std::string error;
};

Outcome run(Framing f, size_t limit, const uint8_t* data, size_t size,
            const std::vector<size_t>& chunks) {
  Deframer d(f, limit);
  Outcome out;
  size_t at = 0, k = 0;
  while (at < size) {
    const size_t n = chunks.empty() ? size - at : std::min(size - at, chunks[k++ % chunks.size()]);
    reel::Status s = d.feed({data + at, n}, [&](std::span<const uint8_t> r) {
      out.records.emplace_back(reinterpret_cast<const char*>(r.data()), r.size());
      (void)reel::feed::extract_source_seq(*reel::feed::parse_seq_spec("moldudp64"), r);
      (void)reel::feed::extract_source_seq(*reel::feed::parse_seq_spec("3:u64le"), r);
    });
    if (!s) {
      out.error = s.message();
      break;
    }
    at += n;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  const Framing f = static_cast<Framing>(data[0] % 3);
  const size_t limit = 1 + data[1] * 4;
  std::vector<size_t> chunks;
  for (size_t i = 0; i < (data[2] & 7u); ++i) chunks.push_back(1 + data[3 + i % (size - 3)] % 64);
  data += 3;
  size -= 3;
  const Outcome whole = run(f, limit, data, size, {});
  const Outcome pieces = run(f, limit, data, size, chunks);
  if (whole.records != pieces.records) __builtin_trap();
  if (whole.error.empty() != pieces.error.empty()) __builtin_trap();
  for (const auto& r : whole.records) {
    if (r.size() > limit) __builtin_trap();
  }
  return 0;
}
