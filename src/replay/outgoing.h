// Outgoing: one replay subscriber's outgoing stream on the server (see
// replay/replay_server.h): the batch of frames being gathered, as iovecs
// into the Tailer's mapping, the senders it goes out by, and what was sent.
// Used by the subscriber's own thread only.
#pragma once

#include <sys/uio.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "reel/record_view.h"
#include "reel/tailer.h"
#include "replay/frame_sender.h"
#include "wal/frame_format.h"
#include "wire/replay_wire.h"

namespace reel::replay {

inline constexpr size_t kBatchBytes = 1 << 20;  // a batch goes out at this size,
inline constexpr size_t kBatchIovecs = 256;     // or at this many iovecs

inline const uint8_t kHeartbeatBytes[4] = {0x01, 0xFF, 0xFF, 0xFF};
static_assert(kHeartbeat == 0xFFFFFF01u);

inline size_t iov_bytes(const std::vector<iovec>& iov) {
  size_t n = 0;
  for (const iovec& v : iov) n += v.iov_len;
  return n;
}

// The length of the message (a stored frame, a heartbeat or the end marker)
// that starts at `p` in a batch the server built.
inline size_t message_bytes(const uint8_t* p) {
  const uint32_t word = get_u32(p);
  if (word == kHeartbeat) return 4;
  if (word == kEnd) return 12;
  return wal::frame_bytes_for_body(word);
}

struct Outgoing {
  Outgoing(int f, FrameSender* s, FrameSender* c, const Tailer* t, bool follows)
      : fd(f), sender(s), control(c), tail(t), follow(follows) {}
  int fd;
  FrameSender* sender;   // frames, from the mapping (maybe zero copy)
  FrameSender* control;  // heartbeats, the end marker, errors: copied into the
                         // socket (sendmsg), so their bytes may live anywhere
  const Tailer* tail;
  bool follow;  // a live follower: the lag limit applies
  std::vector<iovec> iov;
  size_t batch = 0;
  uint64_t last_seq = 0, last_sent = 0;  // the last examined, the last sent
  uint64_t examined = 0;                 // records looked at, filtered ones too
  std::chrono::steady_clock::time_point last_out = std::chrono::steady_clock::now();

  // Frames that lie next to each other in a segment join one iovec.
  void add(const RecordView& v) {
    const auto f = v.frame();
    auto* p = const_cast<std::byte*>(f.data());
    if (!iov.empty() && static_cast<std::byte*>(iov.back().iov_base) + iov.back().iov_len == p) {
      iov.back().iov_len += f.size();
    } else {
      iov.push_back({p, f.size()});
    }
    batch += f.size();
    last_sent = v.seq();
  }
  bool full() const { return batch >= kBatchBytes || iov.size() >= kBatchIovecs; }
};

}  // namespace reel::replay
