// reel::Replayer: replays stored records at the pace they arrived, N times
// faster, or flat out, several streams merged into one sequence ordered by
// (ts_ns, seq).
//
// Pacing: record i is due at start + (ts_i - ts_first - shortened) / speed,
// scheduled against CLOCK_MONOTONIC from one start, never from the delta to
// the previous record, so no drift builds up over hours; `shortened` is what
// max_gap_ns took off the idle gaps before it. The replayer sleeps until
// shortly before a record is due (spin_ns), then spins, and hands it to the
// sink; how late each record left (after the sink returned) is measured.
//
// Records are read in place from the store's mapping: a sink gets views
// whose bytes stay valid until run() returns (from a remote store: until
// the flush() after them returns, see open()), so it may hold several (to
// send them in one batch) until flush(). The store may be written while it
// is replayed: the replay covers what the reader saw when the run started
// (each stream's cursor is one snapshot).
//
// Thread safety: run() on one thread; stop() from any thread or a signal
// handler.
#pragma once

#include "reel/export.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "reel/options.h"
#include "reel/record_view.h"
#include "reel/status.h"

namespace reel {

struct ReplayOptions {
  std::vector<std::string> streams;  // empty: every stream
  uint64_t from_ts_ns = 0, to_ts_ns = UINT64_MAX;
  uint64_t from_seq = 1, to_seq = UINT64_MAX;
  double speed = 1.0;       // 10: ten times faster than recorded
  bool max = false;         // flat out: no pacing
  uint64_t max_gap_ns = 0;  // idle gaps longer than this are cut to it; 0: none
  uint64_t loops = 1;
  uint64_t start_at_ns = 0;   // wall clock (CLOCK_REALTIME) to start at; 0: at once
  uint64_t spin_ns = 60'000;  // sleep until this long before a record, then spin
  ReaderOptions reader;
};

// A destination. send() is called when a record is due (due_ns is the
// CLOCK_MONOTONIC time it was due; 0 when flat out); flush() before the
// replayer waits for a later record, after at most 64 paced records, and at
// the end. A sink may hold records until flush() (a batch: records due at
// once leave in one syscall); it must copy the RecordView, not keep the
// reference (the view object is reused; the bytes it points to stay).
class REEL_EXPORT ReplaySink {
 public:
  virtual ~ReplaySink() = default;
  virtual Status send(const RecordView& record, uint64_t due_ns) = 0;
  virtual Status flush() { return Status::ok(); }
};

struct ReplayStats {
  uint64_t records = 0, bytes = 0;  // bytes: payloads
  double seconds = 0;
  // Paced runs: how late records left, in ns (sampled beyond 1M records).
  uint64_t late_p50_ns = 0, late_p99_ns = 0, late_max_ns = 0;
  uint64_t last_late_ns = 0;  // the last record's: drift shows here
};

class REEL_EXPORT Replayer {
 public:
  // Opens `dir` read-only and checks the options: a stream that does not
  // exist is kNotFound, a speed <= 0 kInvalidArgument. `dir` may be
  // tcp://HOST:PORT, a `reel serve --replay` endpoint: then each loop asks
  // it for the range, the records come in seq order (the order they were
  // stored) rather than merged by time, each still paced by its ts_ns, and
  // a sink's views stay valid only until its next flush() (which comes at
  // least every 64 records, flat out too).
  static Result<std::unique_ptr<Replayer>> open(const std::string& dir,
                                                const ReplayOptions& options);
  ~Replayer();
  Replayer(const Replayer&) = delete;
  Replayer& operator=(const Replayer&) = delete;

  // Replays the range into `sink` (every record once per loop). Returns the
  // first error of the store or the sink, kOk at the end or after stop().
  Status run(ReplaySink* sink);
  // With a callback as the sink.
  Status run(const std::function<Status(const RecordView&, uint64_t due_ns)>& sink);
  // Ends run() before the next record (async-signal-safe). Final: a later
  // run() returns at once.
  void stop();

  // The replayed store's streams by id (remote: as the server told).
  const std::map<uint32_t, std::string>& stream_names() const;
  ReplayStats stats() const;
  // Records sent so far by the run in progress (any thread).
  uint64_t progress() const;

  struct Impl;

 private:
  explicit Replayer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Built-in network sinks, sending payloads straight from the mapping (no
// copy in user space):
//   udp://HOST:PORT[?ttl=N&iface=NAME]   one datagram per record (multicast
//                                        groups too: ttl, outgoing interface)
//   tcp://HOST:PORT[?framing=raw|lp|u16be|frames]
//                                        one connection; frames sends the
//                                        stored frames exactly (default lp)
// UDP sends up to 64 records per sendmmsg; TCP up to 64 per sendmsg, and
// frames that lie next to each other in a segment as one iovec (up to 1 MiB).
REEL_EXPORT Result<std::unique_ptr<ReplaySink>> open_network_sink(const std::string& url);

}  // namespace reel
