// AckLedger: one acknowledged connection's bookkeeping on the server side
// (wire/ack_protocol.h). It remembers, per batch of the connection's records
// taken from one receive, the count so far and the store seq of the batch's
// last record; as the store's watermark for the connection's level passes
// those seqs it acknowledges the counts, sending each new ack without
// blocking (a client that does not read its acks only gets them later).
//
// Acks are per batch: a batch's records are acknowledged together once the
// last of them reached the level. One thread uses a ledger.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>

#include "reel/status.h"
#include "wire/ack_protocol.h"

namespace reel::net {

class AckLedger {
 public:
  explicit AckLedger(Level level) : level_(level) {}

  Level level() const { return level_; }
  // `records` more of the connection's records were stored; the last got
  // store seq `last_seq`.
  void stored(uint64_t records, uint64_t last_seq);
  // Acknowledges what reached the level by `w`.
  void advance(const Watermarks& w);
  // Sends the newest ack not yet sent, without blocking. kOk when sent or
  // when the socket is full for now; an error when the peer is gone.
  Status send(int fd);

  uint64_t stored_count() const { return stored_; }
  uint64_t acknowledged() const { return acked_.count; }
  // Every stored record acknowledged and the last ack fully sent.
  bool settled() const { return acked_.count == stored_ && !dirty_ && out_off_ == out_len_; }
  // Some stored record has not reached the level yet.
  bool waiting_for_level() const { return !pending_.empty(); }
  uint64_t bytes_sent() const { return bytes_sent_; }
  // Store seq of the newest record waiting for its level; 0 when none.
  uint64_t newest_pending_seq() const { return pending_.empty() ? 0 : pending_.back().last_seq; }

 private:
  Level level_;
  std::deque<feed::Ack> pending_;  // batches stored, not yet acknowledged
  feed::Ack acked_;
  uint64_t stored_ = 0;
  bool dirty_ = false;  // acked_ is newer than the last ack sent
  uint8_t out_[feed::kAckBytes] = {};
  size_t out_len_ = 0, out_off_ = 0;  // an ack being sent
  uint64_t bytes_sent_ = 0;
};

}  // namespace reel::net
