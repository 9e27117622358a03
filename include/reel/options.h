// Options for opening a store for writing.
#pragma once

#include "reel/export.h"

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "reel/status.h"

namespace reel {

// When appended records reach the disk (docs/durability.md, "Sync policies").
struct REEL_EXPORT SyncPolicy {
  enum class Mode {
    // sync() and flush() return only after an fdatasync covers every record
    // appended before the call (group commit: one fdatasync for all of them).
    kAlways,
    // The store's journal thread fdatasyncs what is written at least every
    // `interval` (and a wait for kDurable syncs at once): at most that window
    // is lost on power loss; nothing written is lost when the process
    // crashes.
    kInterval,
    // No fdatasync, ever: the OS decides. A process crash still loses nothing
    // written; power loss may lose anything not yet written back by the OS.
    kNone,
  };
  Mode mode = Mode::kInterval;
  std::chrono::nanoseconds interval = std::chrono::milliseconds(10);

  // "always", "none", "interval:10ms" (also "interval:1s", "interval:500us").
  static Result<SyncPolicy> parse(std::string_view text);
  std::string to_string() const;
};

// What recovery may do to the WAL when it opens a store for writing
// (schemas/format.md, "Recovery").
enum class RecoveryMode {
  // Bad bytes past the durable point in the last segment (a write cut short
  // by a crash, or unsynced pages a power cut lost, tore or garbled) are
  // cut: zeroed with everything after them, logged, and the store opens.
  // None of those records was acknowledged as durable. Bad bytes at or below
  // the durable point are corruption: the open fails with an error naming
  // segment, offset and seq, and nothing is cut.
  kTruncateTornTail,
  // As kTruncateTornTail, but where a cut would be made the open fails
  // instead, naming what would be cut, and the WAL is left as it is (for
  // looking at a damaged store before anything is removed).
  kNeverCut,
};

// How the pipeline's threads wait for work, and producers for ring space.
enum class WaitStrategy {
  kBlocking,  // spin briefly, then sleep on a futex: no CPU when idle
  kYielding,  // spin briefly, then sched_yield(): lower latency, busy cores
  kBusySpin,  // spin: lowest latency, burns a core per waiting thread
};

// Options for reading a store (Reader, Tailer).
struct ReaderOptions {
  // Run the FlatBuffers verifier on every record read, not only the frame's
  // CRC32C. Off by default: a record whose checksum matches is exactly what
  // reel's encoder wrote (schemas/format.md, "Reading"), so the verifier
  // only costs time (~25 ns a record). Turn it on for a store whose files
  // someone else could have crafted.
  bool verify_records = false;
  // Leave each frame's CRC32C to whoever the bytes are handed to, and run
  // the FlatBuffers verifier instead (so this reader's own accesses stay in
  // bounds). For a reader that forwards stored frames to a checker, as the
  // replay server does: every reel::Subscriber checks CRC32C and the
  // verifier, so checking here too costs the server a fifth of its time
  // (reel_replay_server_bench). Damage inside a payload then surfaces at
  // that checker, not here. Not for readers that use the bytes themselves.
  bool leave_checksums = false;
};

struct StoreOptions {
  // Create the store if the directory holds none.
  bool create_if_missing = true;
  // Segment file size, preallocated when the segment is created.
  uint64_t segment_bytes_max = uint64_t{1} << 30;
  // How far past the last record the active segment is kept written with
  // zeros (direct I/O, 1 MiB at a time: when the segment is created, then
  // whenever the journal thread has nothing to write). A sync after writing into blocks written
  // before flushes data only; into blocks only preallocated it must also commit their conversion to
  // the file system's journal (ext4 here: twice the time). Costs disk bandwidth up to the data's
  // own, and on thin- provisioned storage allocates that far ahead. 0, or SyncPolicy kNone: never.
  uint64_t zero_ahead_bytes = uint64_t{8} << 20;
  SyncPolicy sync;
  // Largest payload + key accepted by append().
  uint64_t max_record_bytes = uint64_t{1} << 20;
  // The journaller writes up to this many bytes of frames in one io_uring
  // write (fewer when fewer are waiting).
  uint64_t batch_bytes_max = uint64_t{1} << 20;
  // The ring between producers and the journaller, in bytes. It is also how
  // far the journaller and the indexer may fall behind before append()
  // waits. Rounded down to the largest power of two dividing
  // segment_bytes_max; a frame may take at most half of it.
  uint64_t ring_bytes = uint64_t{64} << 20;
  WaitStrategy wait_strategy = WaitStrategy::kBlocking;
  // An append() that finds the journal thread asleep, and nothing written
  // for 50 us, writes the published records to the WAL itself (a pwrite of
  // a few microseconds, never a sync or a new segment) instead of waking
  // the journal thread to do it: tailers and kWritten waiters see a sparse
  // feed's records one thread wake-up sooner. Sustained appends still go
  // through the journal thread (the first of a burst may be written this
  // way). Under SyncPolicy kInterval the journal thread then wakes every
  // interval even when idle, to sync what producers wrote. false: append()
  // never writes.
  bool write_when_idle = true;
  // The indexer syncs LMDB at least this often (the WAL is the truth: an
  // unsynced index is rebuilt from it after a power loss), and as often
  // makes the head file's durable point durable (what recovery trusts).
  std::chrono::nanoseconds index_sync_interval = std::chrono::seconds(1);
  // Once records are written, the index thread waits up to this long for
  // more before it indexes them (one LMDB transaction for all), and between
  // such small batches. A sparse feed's records are then indexed a few at a
  // time, off the CPU their tailers wake on (on 2 vCPUs the index thread's
  // transaction beside every record doubled a tailer's median wake-up,
  // pipeline_bench (d)). wait(kIndexed), flush(), sync() and close() do not
  // wait for it, nor does a backlog of a sixteenth of the ring or more, nor
  // an append that finds the ring full; and readers' queries read records
  // past the index from the WAL, so nothing written is hidden meanwhile.
  // Tailers that follow the indexed watermark (in other processes) see it
  // move up to this much later. Capped at index_sync_interval. 0: index as
  // soon as records are written.
  std::chrono::nanoseconds index_delay = std::chrono::milliseconds(1);
  // LMDB map size for the index (address space, not disk).
  uint64_t index_map_bytes = uint64_t{256} << 30;
  RecoveryMode recovery = RecoveryMode::kTruncateTornTail;
};

// The largest payload + key that append() can store with these options,
// whatever the stream: a frame takes at most half the ring, which is at most
// the segment size. Store::open accepts a max_record_bytes above it (records
// that size fail to append, kInvalidArgument); the reel commands refuse such
// flags at start.
REEL_EXPORT uint64_t largest_record_bytes(const StoreOptions& options);

// Per-record options for Store::append.
struct AppendOptions {
  std::string_view key;     // empty: no key; otherwise indexed by (stream, key)
  uint64_t ts_ns = 0;       // 0: now (CLOCK_REALTIME)
  uint64_t source_seq = 0;  // the feed's own sequence number; 0: none
  // When the ring is full: false waits for space, true returns kBusy at once
  // (nothing is appended then).
  bool fail_if_full = false;
};

}  // namespace reel
