// ByteRing: the pre-allocated, multi-producer ring in front of the WAL.
//
// Records are variable-size and live in the ring contiguously, 8-byte
// aligned, so a consumer can hand a record's bytes on (to io_uring, to a
// socket) without copying. Nothing is allocated and no lock is taken per
// record.
//
//   producers ──claim──► [ ring memory ] ──► consumer 0 ──► consumer 1 ──► ...
//                 ▲                                                  │
//                 └──────────────── space released by the last ──────┘
//
// Claim: one 16-byte compare-and-swap advances {next seq, next position}
// together, so ring order is seq order and each producer's records keep its
// own order. A claim that would run past the end of the ring memory first
// takes the rest of the ring as a padding record, so records never wrap.
//
// Publish: the producer fills the record except its first 4 bytes (the
// length word), then stores the length word with release. Until then the
// word reads 0, because the last consumer zeroes every byte it releases
// before producers may claim it again (Aeron's ring buffers work the same
// way). Consumer 0 finds published records by acquire loads of length words.
//
// Segments (optional): with segment_bytes S (a multiple of the capacity),
// positions double as WAL byte positions: segment k spans [k*S, (k+1)*S).
// A record never crosses a segment boundary (boundaries are ring wraps), and
// a claim whose record would start a segment first takes a gap of
// `segment_gap_bytes` (the segment header's place) as a second padding record.
// So a producer knows its record's segment and file offset at claim time.
//
// Consumers form a chain (journaller, then indexer, then live subscribers):
// consumer k reads only what consumer k-1 has released, and producers gate
// on the last one. Each consumer is one thread.
//
// Traits (a template policy, so the ring knows nothing of the WAL):
//   static size_t record_bytes(uint32_t length_word);  // whole record, padding included
//   static bool is_padding(uint32_t length_word);
//   static uint32_t padding_word(size_t bytes);        // a padding record of `bytes`
#pragma once

#include <sys/mman.h>
#include <algorithm>
#include <atomic>
#include <bit>
#include <cassert>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <vector>

#include "ring/sequence.h"

namespace reel::ring {

static_assert(std::endian::native == std::endian::little,
              "length words are stored natively and read as little-endian frames");

template <class Traits>
class ByteRing {
 public:
  enum class ClaimStatus { kOk, kFull, kTooLarge, kClosed };

  // Where a claimed record goes. `data` points into ring memory; the
  // producer writes the record there, all but the first 4 bytes, then calls
  // publish().
  struct Claim {
    uint64_t seq = 0;
    uint64_t position = 0;  // ring position of the record
    uint8_t* data = nullptr;
    size_t bytes = 0;
    uint64_t padding_position = 0;  // wrap padding claimed before it, if any
    size_t padding_bytes = 0;
    uint64_t gap_position = 0;  // segment-header gap claimed before it, if any
    size_t gap_bytes = 0;
  };

  // `capacity_bytes`: a power of two, at least twice `max_record_bytes`.
  // Positions start at `first_position` (any multiple of 8) and seqs at
  // `first_seq`; `consumers` is the length of the chain. `segment_bytes`: 0,
  // or a multiple of the capacity (see "Segments" above).
  ByteRing(size_t capacity_bytes, size_t max_record_bytes, size_t consumers, uint64_t first_seq,
           uint64_t first_position, uint64_t segment_bytes = 0, size_t segment_gap_bytes = 0)
      : segment_bytes_(segment_bytes),
        segment_gap_(segment_gap_bytes),
        capacity_(capacity_bytes),
        mask_(capacity_bytes - 1),
        max_record_(max_record_bytes),
        memory_(map_zeroed(capacity_bytes), MemoryDeleter{capacity_bytes}),
        cursors_(consumers) {
    assert(std::has_single_bit(capacity_bytes) && max_record_bytes * 2 <= capacity_bytes);
    assert(first_position % 8 == 0 && consumers > 0);
    assert(segment_bytes == 0 ||
           (segment_bytes % capacity_bytes == 0 && segment_gap_bytes % 8 == 0 &&
            segment_gap_bytes + max_record_bytes <= capacity_bytes));
    for (auto& c : cursors_) c.store(first_position);
    next_ = pack(first_seq, first_position);
  }
  ByteRing(const ByteRing&) = delete;
  ByteRing& operator=(const ByteRing&) = delete;

  size_t capacity() const { return capacity_; }
  size_t max_record_bytes() const { return max_record_; }
  uint8_t* memory() { return memory_.get(); }
  uint8_t* at(uint64_t position) { return memory_.get() + (position & mask_); }

  // Claims `bytes` (a multiple of 8) for one record, or says kFull when the
  // last consumer has not released enough space (nothing is claimed then).
  ClaimStatus try_claim(size_t bytes, Claim* out) {
    if (bytes > max_record_ || bytes == 0 || bytes % 8 != 0) return ClaimStatus::kTooLarge;
    unsigned __int128 current = load_next();
    for (;;) {
      const uint64_t seq = static_cast<uint64_t>(current >> 64);
      if ((seq & kClosedBit) != 0) return ClaimStatus::kClosed;
      const uint64_t position = static_cast<uint64_t>(current);
      const uint64_t index = position & mask_;
      const size_t padding = index + bytes > capacity_ ? capacity_ - index : 0;
      const uint64_t start = position + padding;
      // A segment starts at ring index 0 (S is a multiple of the capacity),
      // and the constructor checked that gap + max record fits there.
      const size_t gap = segment_bytes_ != 0 && start % segment_bytes_ == 0 ? segment_gap_ : 0;
      const uint64_t end = start + gap + bytes;
      // Acquire: pairs with the last consumer's release after zeroing.
      if (end - cursors_.back().load() > capacity_) return ClaimStatus::kFull;
      const unsigned __int128 desired = pack(seq + 1, end);
      const unsigned __int128 seen = __sync_val_compare_and_swap(&next_, current, desired);
      if (seen == current) {
        out->seq = seq;
        out->position = start + gap;
        out->data = at(out->position);
        out->bytes = bytes;
        out->padding_position = position;
        out->padding_bytes = padding;
        out->gap_position = start;
        out->gap_bytes = gap;
        return ClaimStatus::kOk;
      }
      current = seen;
    }
  }

  // Every later claim fails with kClosed. Once this returns, next_seq() and
  // next_position() are final: every record claimed is below them, and
  // will be published by its producer (a store closing waits for that).
  void close_claims() {
    unsigned __int128 current = load_next();
    for (;;) {
      const auto closed = current | (static_cast<unsigned __int128>(kClosedBit) << 64);
      const unsigned __int128 seen = __sync_val_compare_and_swap(&next_, current, closed);
      if (seen == current) return;
      current = seen;
    }
  }

  // As try_claim, waiting with `wait` while the ring is full.
  template <class Wait>
  ClaimStatus claim(size_t bytes, Claim* out, Wait& wait) {
    ClaimStatus status = try_claim(bytes, out);
    while (status == ClaimStatus::kFull) {
      wait.wait_until([&] { return has_space_for(bytes); });
      status = try_claim(bytes, out);
    }
    return status;
  }

  // Publishes a claimed record whose first 4 bytes are `length_word`. Release:
  // pairs with consumer 0's acquire load of the word; the record's other
  // bytes, written before, are visible to it. Call the consumers' wait
  // strategy's notify() afterwards.
  void publish(const Claim& claim, uint32_t length_word) {
    if (claim.padding_bytes > 0) {
      word(claim.padding_position)
          .store(Traits::padding_word(claim.padding_bytes), std::memory_order_release);
    }
    if (claim.gap_bytes > 0) {
      word(claim.gap_position)
          .store(Traits::padding_word(claim.gap_bytes), std::memory_order_release);
    }
    word(claim.position).store(length_word, std::memory_order_release);
  }

  // Consumer 0: the end of the run of published records starting at `from`,
  // reading at most `max_bytes` past it.
  uint64_t published_end(uint64_t from, size_t max_bytes) {
    // Never look at or past the last consumer's cursor + capacity: that
    // memory still holds the previous lap's unreleased records (when the ring
    // is full, the claim point sits exactly there). Acquire: the bytes below
    // the bound were zeroed before the cursor was released.
    const uint64_t limit = std::min<uint64_t>(from + max_bytes, cursors_.back().load() + capacity_);
    uint64_t position = from;
    while (position < limit) {
      // Acquire: pairs with publish()'s release of this word.
      const uint32_t w = word(position).load(std::memory_order_acquire);
      if (w == 0) break;
      position += Traits::record_bytes(w);
    }
    return position;
  }

  // Consumer k > 0: everything before the upstream consumer's cursor.
  uint64_t upstream_end(size_t k) const { return cursors_[k - 1].load(); }

  // Consumer k is done with everything before `to`. The last consumer zeroes
  // the bytes first, so that producers may claim them again.
  void release(size_t k, uint64_t to) {
    if (k + 1 == cursors_.size()) zero(cursors_[k].load_relaxed(), to);
    cursors_[k].store(to);  // release: pairs with acquires downstream and in try_claim
  }

  uint64_t consumer_position(size_t k) const { return cursors_[k].load(); }
  // Bytes claimed and not yet released by the last consumer (a snapshot).
  uint64_t used_bytes() const {
    const uint64_t next = next_position(), last = cursors_.back().load();
    return next > last ? next - last : 0;
  }
  size_t consumers() const { return cursors_.size(); }
  uint32_t length_word(uint64_t position) { return word(position).load(std::memory_order_acquire); }
  // True when a claim of `bytes` would fit even if it needed padding and a
  // segment gap first (wrap padding is always shorter than the record).
  bool has_space_for(size_t bytes) const {
    const uint64_t position = static_cast<uint64_t>(load_next());
    return position + 2 * bytes + segment_gap_ - cursors_.back().load() <= capacity_;
  }
  // With segments: the segment (counted from position 0) and the offset in
  // it of a ring position.
  uint64_t segment_of(uint64_t position) const { return position / segment_bytes_; }
  uint64_t segment_offset(uint64_t position) const { return position % segment_bytes_; }
  // Next seq and position producers will claim (a snapshot).
  uint64_t next_seq() const { return static_cast<uint64_t>(load_next() >> 64) & ~kClosedBit; }
  uint64_t next_position() const { return static_cast<uint64_t>(load_next()); }

 private:
  // Ring memory comes straight from mmap: page-aligned and already zero
  // (a length word of 0 means "not published"), with no memset at start.
  // Rings of 2 MiB or more are 2 MiB-aligned and asked to use huge pages:
  // a 64 MiB ring then takes 32 page faults on its first lap, not 16384.
  static constexpr size_t kHugePage = size_t{2} << 20;
  static uint8_t* map_zeroed(size_t bytes) {
    const size_t slack = bytes >= kHugePage ? kHugePage : 0;
    void* p =
        ::mmap(nullptr, bytes + slack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    auto* base = static_cast<uint8_t*>(p);
    if (slack == 0) return base;
    // Keep the aligned part only.
    const uintptr_t addr = reinterpret_cast<uintptr_t>(base);
    const size_t head = ((addr + kHugePage - 1) & ~(kHugePage - 1)) - addr;
    if (head > 0) ::munmap(base, head);
    if (slack - head > 0) ::munmap(base + head + bytes, slack - head);
    (void)::madvise(base + head, bytes, MADV_HUGEPAGE);
    return base + head;
  }
  struct MemoryDeleter {
    size_t bytes;
    void operator()(uint8_t* p) const { ::munmap(p, bytes); }
  };
  // In the seq half of next_: claims are closed (seqs never reach 2^63).
  static constexpr uint64_t kClosedBit = uint64_t{1} << 63;
  static unsigned __int128 pack(uint64_t seq, uint64_t position) {
    return (static_cast<unsigned __int128>(seq) << 64) | position;
  }
  unsigned __int128 load_next() const {
    // A CAS that stores what is already there: an atomic 16-byte read.
    auto* p = const_cast<unsigned __int128*>(&next_);
    return __sync_val_compare_and_swap(p, 0, 0);
  }
  std::atomic_ref<uint32_t> word(uint64_t position) {
    return std::atomic_ref<uint32_t>(*reinterpret_cast<uint32_t*>(at(position)));
  }
  void zero(uint64_t from, uint64_t to) {
    while (from < to) {
      const uint64_t index = from & mask_;
      const uint64_t n = std::min<uint64_t>(to - from, capacity_ - index);
      std::memset(memory_.get() + index, 0, n);
      from += n;
    }
  }

  const uint64_t segment_bytes_;
  const size_t segment_gap_;
  const size_t capacity_;
  const uint64_t mask_;
  const size_t max_record_;
  std::unique_ptr<uint8_t, MemoryDeleter> memory_;
  std::vector<Sequence> cursors_;
  alignas(kCacheLineSize) unsigned __int128 next_;  // {seq, position}: producers' claim point
  char pad_after_next_[kCacheLineSize - sizeof(unsigned __int128)];
};

}  // namespace reel::ring
