// reel::Store: the writer. One per store directory at a time (STORE/LOCK).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "reel/options.h"
#include "reel/status.h"
#include "reel/types.h"

namespace reel {

class Store {
 public:
  // Opens the store in `dir` for writing, creating it if allowed. Takes the
  // writer lock (another writer, in this process or another, gets kBusy), then
  // recovers: cuts a torn tail, brings the index up to date with the WAL, and
  // logs what it did. Never refuses because of a torn tail.
  static Result<std::unique_ptr<Store>> open(const std::string& dir,
                                             const StoreOptions& options = {});
  ~Store();  // close(); errors are logged
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Appends one record to `stream` (created on first use) and returns its
  // seq. The record is *appended*: it becomes *written* (visible to readers,
  // safe from a process crash) at the next flush(), at the latest after
  // StoreOptions::flush_interval, and *durable* as the sync policy says.
  // Thread-safe.
  Result<uint64_t> append(std::string_view stream, std::string_view payload,
                          const AppendOptions& options = {});

  // Writes every appended record (written_seq catches up) and indexes it.
  // With SyncPolicy kAlways it also syncs. Returns the first error.
  Status flush();
  // flush(), then fdatasync: every appended record is durable.
  Status sync();
  // flush(), sync per policy, sync the index, mark a clean shutdown, release
  // the lock. Further calls fail. Idempotent.
  Status close();

  Watermarks watermarks() const;
  uint64_t last_seq() const;  // last seq handed out by append()
  const std::string& dir() const;

  struct Impl;
  explicit Store(std::unique_ptr<Impl> impl);  // internal: use open()

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace reel
