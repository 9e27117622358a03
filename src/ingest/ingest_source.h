// IngestSource: what NetworkIngest polls for records. The socket endpoints
// are sources (UdpSource: UDP and multicast; TcpSource: TCP, with
// acknowledgements); a DPDK port plugs in the same way. A source hands each
// record to the SourceRecorder with its endpoint's stream and rule, and
// keeps one SourceCounts per endpoint.
//
// One thread (the ingest loop's) calls a source.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "feed/endpoint.h"
#include "ingest/source_recorder.h"
#include "reel/status.h"
#include "reel/store.h"

namespace reel::ingest {

// Told once per endpoint of something the operator should know that is not
// an error (a datagram over the record limit was not stored).
using WarningFn = std::function<void(const std::string&)>;

class IngestSource {
 public:
  virtual ~IngestSource() = default;

  // Takes what arrives within `wait` (0: only what is there now) into the
  // store through `recorder`; returns how many records arrived. An error is
  // the store's (the ingest stops) or the socket loop's.
  virtual Result<size_t> poll(std::chrono::milliseconds wait, SourceRecorder& recorder) = 0;
  // After each poll, and once more after the store closed: whatever the
  // store's progress allows (acknowledgements, asking for a sync).
  virtual void after_poll(Store& store) { (void)store; }
  // The store has closed: the last acknowledgements its final watermarks
  // allow.
  virtual void final_acks(const Watermarks& w) { (void)w; }
  // Someone waits for an acknowledgement: poll briefly.
  virtual bool acks_pending() const { return false; }
  // Someone waits for a durable acknowledgement: sync before closing,
  // whatever the sync policy.
  virtual bool owes_durable() const { return false; }
  // Stops receiving; what the kernel dropped is counted first.
  virtual void stop() = 0;

  virtual const std::vector<feed::Endpoint>& endpoints() const = 0;
  virtual const std::vector<SourceCounts>& counts() const = 0;
};

}  // namespace reel::ingest
