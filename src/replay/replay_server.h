// ReplayServer: sends a store's frames to subscribers exactly as they lie in
// the WAL, straight from the mapped segments (the protocol is wire/replay_wire.h
// and schemas/replay.fbs).
//
// It needs only read access: it follows the store with Tailers, so it runs
// beside the store's writer in the same process (`reel serve STORE --udp ...
// --replay PORT`) or alone next to a writer in another process (`reel serve
// STORE --replay PORT`). It never takes the writer's lock or writes.
//
// One thread per subscriber: it reads the request, then sends the history
// and (with follow) live records in batches of frames by sendmsg with iovecs
// into the mapping (frames that lie next to each other as one iovec). A slow
// subscriber only holds its own thread; it reads history from the mapping
// later and never holds up ingest or other subscribers. A follower more
// than max_lag_records behind the watermark while its socket stays full,
// or a range reader that takes nothing for stalled_range_timeout, is sent
// an error naming why and disconnected. A malformed, oversize or
// unanswerable request gets an error message and the connection closed.
//
// Thread safety: start() and the destructor from one thread; counts() from
// any.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "net/allow_list.h"
#include "reel/status.h"
#include "replay/frame_sender.h"

namespace reel::replay {

struct ReplayServerOptions {
  std::string address = "127.0.0.1";  // readable from this machine only unless widened
  uint16_t port = 0;                  // 0: the kernel picks (port() says which)
  size_t max_subscribers = 64;
  std::chrono::milliseconds heartbeat{1000};  // sent when nothing new for this long
  uint64_t max_lag_records = 50'000'000;      // 0: never disconnect a slow subscriber
  std::chrono::milliseconds request_timeout{5000};
  // A subscriber to a range (no follow) that takes no byte for this long is
  // closed with a reason (a follower is judged by max_lag_records).
  std::chrono::seconds stalled_range_timeout{600};
  SendMode send_mode = SendMode::kUring;
  net::AllowList allow;  // peers that may connect (empty: any); others are closed at once
};

struct ReplayServerCounts {
  uint64_t subscribers = 0, open = 0, refused = 0, bad_requests = 0, lagging = 0;
  uint64_t refused_peers = 0;  // not in ReplayServerOptions::allow
  uint64_t frames = 0, bytes = 0;
};

class ReplayServer {
 public:
  static Result<std::unique_ptr<ReplayServer>> start(const std::string& dir,
                                                     const ReplayServerOptions& options);
  // Stops accepting, ends every subscriber's connection, joins the threads.
  ~ReplayServer();
  ReplayServer(const ReplayServer&) = delete;
  ReplayServer& operator=(const ReplayServer&) = delete;

  uint16_t port() const;
  ReplayServerCounts counts() const;

  struct Impl;

 private:
  explicit ReplayServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace reel::replay
