// reel::Publisher: a producer that sends records to a `reel serve` TCP
// endpoint with lp framing (--tcp PORT, the default framing) and learns from
// the server's acknowledgements when they reached a level: written, indexed
// or durable (schemas/format.md, "Acknowledged producers"). The stream is the
// endpoint's.
//
// publish() buffers; the buffer goes out when it is full, and on flush().
// flush() returns kOk only once every record published so far is
// acknowledged at the level. A record is acknowledged at most once and in
// order: acknowledged() counts them from the first of this connection.
// When the server closes the connection before that (a framing error, an
// oversize record, its store failed, it was stopped), flush() fails with
// kFailed and says how many were acknowledged: the rest may or may not be
// stored, and a resend may store them twice. A server closes a connection
// that sent nothing for its --idle-timeout (5 minutes by default) once every
// record is acknowledged; the next publish() or flush() then fails: connect
// again.
//
// Thread safety: one thread at a time. Blocking: publish() blocks while the
// server applies back-pressure (its ring is full).
#pragma once

#include "reel/export.h"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "reel/status.h"
#include "reel/types.h"

namespace reel {

class REEL_EXPORT Publisher {
 public:
  struct Options {
    Level level = Level::kDurable;
    std::chrono::milliseconds connect_timeout{5000};
    size_t buffer_bytes = 256 << 10;  // sent when this much is buffered
  };

  // Connects to HOST:PORT (an IPv4 address or a name) and asks for acks.
  static Result<std::unique_ptr<Publisher>> connect(const std::string& host_port,
                                                    const Options& options);
  static Result<std::unique_ptr<Publisher>> connect(const std::string& host_port) {
    return connect(host_port, Options{});
  }
  ~Publisher();  // closes the connection without waiting for acks
  Publisher(const Publisher&) = delete;
  Publisher& operator=(const Publisher&) = delete;

  // Queues one record (at most 64 MiB; the server's --max-record decides).
  Status publish(std::string_view payload);
  // Sends what is buffered and waits until every record published is
  // acknowledged (kOk), the server closes (kFailed) or `timeout` passes
  // (kBusy; negative: no limit).
  Status flush(std::chrono::nanoseconds timeout = std::chrono::nanoseconds(-1));
  // flush(), then ends the connection. Once it succeeded, later calls do
  // nothing and succeed. `timeout` bounds the whole call.
  Status close(std::chrono::nanoseconds timeout = std::chrono::nanoseconds(-1));

  uint64_t published() const;
  uint64_t acknowledged() const;
  // Store seq of the last acknowledged record (0: none yet).
  uint64_t last_acknowledged_seq() const;

  struct Impl;

 private:
  explicit Publisher(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace reel
