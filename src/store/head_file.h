// The head file: a small shared mapping through which the writer publishes
// its watermarks to readers and tailers in any process. Its layout is
// store/head_format.h.
//
// The file is created by write-temp/fsync/rename; afterwards the writer stores
// the u64 fields through the mapping with release stores and readers load
// them with acquire loads (std::atomic_ref on 8-byte aligned slots): a reader
// that sees written_seq = N can read every frame up to N, because the frames
// were written before the store to written_seq (pairs with the acquire in
// Reader). The watermarks are hints for readers; the WAL is the truth, and a
// lost head file is rebuilt from it.
//
// Wake-ups: after moving a watermark the writer increments notify_epoch and
// wakes every futex waiter on it, in any process (a shared futex on the file
// mapping; waiting needs only a read-only mapping). A waiter reads the epoch,
// checks the watermark it wants, and sleeps only if the epoch is unchanged.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "reel/status.h"
#include "reel/types.h"
#include "store/head_format.h"
#include "wal/io_env.h"

namespace reel::store {

class HeadFile {
 public:
  HeadFile() = default;
  ~HeadFile();
  HeadFile(const HeadFile&) = delete;
  HeadFile& operator=(const HeadFile&) = delete;

  // Writer: creates the file if missing (or replaces one that is malformed)
  // and maps it read-write. Its file operations (the atomic creation, every
  // msync) go through `env`, which must outlive the HeadFile.
  Status open_for_write(const std::string& path, uint64_t store_id, wal::IoEnv* env);
  // Reader: maps it read-only. kNotFound if there is none.
  Status open_for_read(const std::string& path);
  bool is_open() const { return base_ != nullptr; }

  uint64_t store_id() const { return load(kHeadStoreIdOffset); }
  uint64_t written_seq() const { return load(kHeadWrittenSeqOffset); }
  uint64_t durable_seq() const { return load(kHeadDurableSeqOffset); }
  uint64_t indexed_seq() const { return load(kHeadIndexedSeqOffset); }
  uint64_t writer_pid() const { return load(kHeadWriterPidOffset); }
  uint64_t generation() const { return load(kHeadGenerationOffset); }
  bool index_dirty() const { return load(kHeadIndexDirtyOffset) != 0; }
  std::string boot_id() const;
  bool clean_shutdown() const { return load(kHeadCleanShutdownOffset) != 0; }
  // Whether a writer may be appending now: a session that has not closed
  // cleanly whose writer still holds the session lock (an OFD write lock on
  // byte 0 of this file, which dies with its process). Readers only test it.
  bool writer_may_be_live() const;
  Watermarks watermarks() const { return {written_seq(), durable_seq(), indexed_seq()}; }

  void set_written_seq(uint64_t v) { store(kHeadWrittenSeqOffset, v); }
  void set_durable_seq(uint64_t v) { store(kHeadDurableSeqOffset, v); }
  void set_indexed_seq(uint64_t v) { store(kHeadIndexedSeqOffset, v); }
  // Writer: takes the session lock, then sets pid, generation+1 and
  // clean_shutdown = 0. end_writer_session() lets the lock go (close()).
  Status begin_writer_session(uint64_t pid);
  void end_writer_session();
  // Records that the index has unsynced commits on this boot, durably
  // (msync) before the first such commit lands.
  Status mark_index_dirty(const std::string& boot_id);
  void mark_index_clean() { store(kHeadIndexDirtyOffset, 0); }
  Status mark_clean_shutdown();
  // Writer: makes the mapping's current contents durable (msync), so the
  // durable point recovery reads after a power cut is no older than this
  // call. Without it the kernel writes the page back within ~30 s anyway;
  // any version of the page holds a durable_seq that really was durable
  // (set_durable_seq follows the WAL's sync).
  Status persist();

  // Writer: after a watermark moved, wake everyone waiting (notify_epoch + 1).
  void notify();
  // Any side: the current epoch, and a sleep until it differs from `seen`
  // (or `timeout` passes, or a spurious wake).
  uint32_t epoch() const;
  void wait_for_change(uint32_t seen, std::chrono::nanoseconds timeout) const;

 private:
  uint64_t load(size_t offset) const;
  void store(size_t offset, uint64_t value);
  Status sync_mapping();  // msync through env_
  uint8_t* base_ = nullptr;
  int fd_ = -1;                // kept open: the writer session's lock lives on it
  wal::IoEnv* env_ = nullptr;  // the writer's
  bool writable_ = false;
  std::string path_;
};

}  // namespace reel::store
