// Test seams for Store that are not part of the public API.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "reel/store.h"
#include "wal/io_env.h"

namespace reel::store {

// What a test may change about a store's threads besides its options. Set
// before open; read by the journal thread.
struct TestSeams {
  // How long the journal thread sleeps when nothing wakes it (and no sync
  // is due). A test that proves a wake-up is never lost sets it far past its
  // own deadline, so that only the wake-up can end the wait.
  std::chrono::nanoseconds journal_idle_wakeup = std::chrono::milliseconds(100);
  // When set, counts the journal thread's wake-ups by the sync interval's
  // deadline (nothing woke it first). Must outlive the store.
  std::atomic<uint64_t>* journal_deadline_wakeups = nullptr;
};

// The ring's size for these options: ring_bytes rounded down to the largest
// power of two that divides the segment size (ring positions are WAL
// positions). Under 4096 the options are refused at open.
uint64_t ring_bytes_for(const StoreOptions& o);
// The largest frame such a ring takes (half of it, less a segment header).
uint64_t largest_frame_for_ring(uint64_t ring_bytes);

// Opens a store whose WAL file operations go through `env` (tests pass a
// fault-injecting wrapper).
Result<std::unique_ptr<Store>> open_store_with_env(const std::string& dir,
                                                   const StoreOptions& options,
                                                   std::unique_ptr<wal::IoEnv> env,
                                                   const TestSeams& seams = {});

// Rebuilds the index of the store in `dir` from its WAL (reel reindex).
// Takes the writer lock. `progress` hears the records indexed so far; WAL
// file operations go through `env` (default: the real one).
Status reindex_store(const std::string& dir, uint64_t* records_indexed,
                     const std::function<void(uint64_t)>& progress = nullptr,
                     std::unique_ptr<wal::IoEnv> env = nullptr);

}  // namespace reel::store
