// libFuzzer target: a subscriber's reading of what a replay server sends
// after its header (wire/replay_protocol.h, parse_message), on hostile bytes that
// arrive in chunks of the input's own choosing, as from a socket. Whatever
// the chunks, the messages (and the error) must be those of the stream read
// in one piece; a message never claims bytes that are not there, and asking
// for more always asks for more than there is (else a reader would spin).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "wire/replay_protocol.h"

namespace {

using reel::replay::Message;

struct Outcome {
  std::vector<std::string> messages;  // kind, seq or text, bytes
  std::string error;
};

Outcome run(const uint8_t* data, size_t size, const std::vector<size_t>& chunks) {
  Outcome out;
  std::vector<uint8_t> buf;  // what has arrived, unread from `start`
  size_t start = 0, fed = 0, k = 0;
  uint64_t last_seq = 0;
  for (;;) {
    auto m = reel::replay::parse_message({buf.data() + start, buf.size() - start}, last_seq);
    if (!m) {
      out.error = m.status().message();
      return out;
    }
    const size_t have = buf.size() - start;
    if (m->kind == Message::Kind::kNeedMore) {
      if (m->bytes <= have) __builtin_trap();
      if (fed == size) return out;  // the stream ended inside a message
      const size_t n =
          chunks.empty() ? size - fed : std::min(size - fed, chunks[k++ % chunks.size()]);
      buf.insert(buf.end(), data + fed, data + fed + n);
      fed += n;
      continue;
    }
    if (m->bytes == 0 || m->bytes > have) __builtin_trap();
    std::string line;  // appended piece by piece (GCC 12's -Wrestrict misfires on a + chain)
    auto add = [&line](const std::string& piece) {
      line.append(piece);
      line.push_back(':');
    };
    add(std::to_string(static_cast<int>(m->kind)));
    add(std::to_string(m->bytes));
    if (m->kind == Message::Kind::kFrame) {
      const reel::RecordView& r = m->record;
      if (r.seq() <= last_seq) __builtin_trap();
      last_seq = r.seq();
      add(std::to_string(r.seq()));
      add(std::to_string(r.ts_ns()));
      add(std::string(r.payload()));
      add(std::string(r.key()));
      if (r.frame().size() != m->bytes) __builtin_trap();
    } else if (m->kind == Message::Kind::kError) {
      add(m->error);
    } else if (m->kind == Message::Kind::kEnd) {
      add(std::to_string(m->end_seq));
    }
    out.messages.push_back(line);
    start += m->bytes;
    if (m->kind == Message::Kind::kEnd || m->kind == Message::Kind::kError) return out;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  std::vector<size_t> chunks;
  for (size_t i = 0; i < (data[0] & 7u); ++i) chunks.push_back(1 + data[1 + i % (size - 1)] % 97);
  data += 1;
  size -= 1;
  const Outcome whole = run(data, size, {});
  const Outcome pieces = run(data, size, chunks);
  if (whole.messages != pieces.messages || whole.error != pieces.error) __builtin_trap();
  return 0;
}
