// reel::Subscriber: reads a store over the network from a `reel serve
// --replay` endpoint, as record views: the history asked for, then (with
// follow) live records, in seq order, with no gap and no duplicate.
//
// Every received frame is checked before it is handed out: its CRC32C and
// the FlatBuffers verifier over the record (network bytes are never
// trusted). After a disconnect or a server restart it connects again and
// asks for the records after the last one it delivered (reconnect: on by
// default), so a restart costs time, not records.
//
// Views point into the Subscriber's receive buffer: valid until the next
// call to next(). Thread safety: one thread at a time.
#pragma once

#include "reel/export.h"

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "reel/record_view.h"
#include "reel/status.h"
#include "reel/types.h"

namespace reel {

struct SubscribeOptions {
  // Where to start: from_seq when > 0, else the first record with ts_ns >=
  // from_ts_ns, else seq 1. Where to stop (inclusive): to_seq when > 0;
  // to_ts_ns when > 0 leaves out records after it (with follow it needs
  // to_seq). Without follow the range ends at what the store held when the
  // server got the request. A server silent for 5 s (it sends heartbeats
  // every second) is taken for gone: reconnect. A server that answers with
  // another store's id is not resumed from (kInvalidArgument).
  uint64_t from_seq = 0, from_ts_ns = 0, to_seq = 0, to_ts_ns = 0;
  bool follow = false;
  std::vector<std::string> streams;  // empty: every stream
  Level level = Level::kWritten;     // kDurable: only fdatasync'd records
  // 0: as fast as it reads. > 0: the server sends the records paced by their
  // ts_ns at this multiple of the recorded pace (1: as recorded; after a
  // reconnect the pace starts again from the next record).
  double speed = 0;
  bool reconnect = true;
  std::chrono::milliseconds connect_timeout{5000};
};

class REEL_EXPORT Subscriber {
 public:
  // Connects to HOST:PORT and sends the request; fails when the server
  // refuses it (an unknown stream, say) or cannot be reached.
  static Result<std::unique_ptr<Subscriber>> connect(const std::string& host_port,
                                                     const SubscribeOptions& options);
  ~Subscriber();
  Subscriber(const Subscriber&) = delete;
  Subscriber& operator=(const Subscriber&) = delete;

  // The next record: true with *out set. False when none came within
  // `timeout` (negative: no limit), at the end of the range (done()), or on
  // an error (status(): a damaged frame, a refused request, or the server
  // gone with reconnect off).
  bool next(RecordView* out, std::chrono::nanoseconds timeout);
  bool done() const;
  const Status& status() const;
  uint64_t last_seq() const;  // of the last record delivered (0: none)
  uint64_t reconnects() const;
  // The store's streams by id, as the server last told (at each connect).
  const std::map<uint32_t, std::string>& stream_names() const;

  struct Impl;

 private:
  explicit Subscriber(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace reel
