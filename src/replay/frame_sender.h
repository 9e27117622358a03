// FrameSender: puts a subscriber's batches of stored frames (iovecs into the
// mapped WAL segments) on its TCP socket, one of three ways:
//
//   kCopy      sendmsg(2): the kernel copies the bytes into socket buffers.
//   kUring     io_uring SENDMSG: the same copy, issued through io_uring.
//   kZeroCopy  io_uring SENDMSG_ZC: the kernel sends from the mapped pages
//              and says when it no longer needs them (a notification CQE).
//
// Which pays is the benchmark's to say (bench/replay_server_bench.cc); the
// replay server takes the mode from `reel serve --replay-send`.
//
// Lifetime: with kZeroCopy the kernel may still read the pages after send()
// returned; the caller keeps them mapped until drain() returned (the
// destructor drains too). One FrameSender per socket, one thread at a time.
// It does not own the socket.
#pragma once

#include <sys/uio.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "reel/status.h"

namespace reel::replay {

enum class SendMode { kCopy, kUring, kZeroCopy };

// "copy", "uring", "zc".
const char* send_mode_name(SendMode mode);
Result<SendMode> parse_send_mode(const std::string& text);

class FrameSender {
 public:
  static Result<std::unique_ptr<FrameSender>> make(int fd, SendMode mode);
  virtual ~FrameSender() = default;

  enum class Outcome {
    kSent,     // all of *iov went out (and *iov is cleared)
    kStalled,  // nothing went out for `stall`: the peer reads slower than
               // it is sent to; *iov holds the rest (nothing of it is in
               // flight: call again with it, or with other bytes)
    kGone,     // the connection failed or was shut down
  };
  // Sends *iov in full, advancing it as bytes go. *started turns true once
  // any byte went out (the stream is then inside a message).
  virtual Outcome send(std::vector<iovec>* iov, bool* started, std::chrono::milliseconds stall) = 0;
  // Waits (at most `limit`) until the kernel released every page it was
  // given; true when it did.
  virtual bool drain(std::chrono::milliseconds limit) = 0;

  // Drops `n` sent bytes from the front of *iov.
  static void advance(std::vector<iovec>* iov, size_t* first, size_t n);
};

}  // namespace reel::replay
