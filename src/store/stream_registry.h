// StreamRegistry: a writer's map of stream names to ids.
//
// Ids are handed out in order from next_id (1 for an empty store). The
// first record of a new stream declares its name in the WAL; every later
// record carries only the id.
//
// Lookups take two paths:
//  - find(): the producer thread's own cache, no lock and nothing shared.
//  - find_or_publish(): on a miss, under the registry mutex. A known stream
//    is cached for the thread and published after the mutex is released.
//    A new stream's first record is claimed and published in the ring while
//    the mutex is held, so no other thread can use the id at a lower seq;
//    the name -> id is recorded (and next_id moves on) only if that publish
//    succeeded.
//
// The per-thread caches are thread_local, shared by every store in the
// process. Each registry takes a process-unique instance number, and a
// thread's cache is emptied whenever it serves a different instance, so a
// new store opened at a closed one's address never sees the old ids.
//
// Thread safety: find() and find_or_publish() may be called from any number
// of threads at once; add_existing() while the store opens, before any
// producer runs.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "reel/status.h"

namespace reel::store {

// Lets a std::string-keyed map be searched with a std::string_view.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
};
using StreamMap = std::unordered_map<std::string, uint32_t, StringHash, std::equal_to<>>;

class StreamRegistry {
 public:
  // Publishes one record to stream `id`; `is_new`: the stream's first
  // record, which must declare its name. Returns the record's seq.
  using Publish = std::function<Result<uint64_t>(uint32_t id, bool is_new)>;

  StreamRegistry();
  StreamRegistry(const StreamRegistry&) = delete;
  StreamRegistry& operator=(const StreamRegistry&) = delete;

  // A stream the index already knows (while the store opens).
  void add_existing(std::string_view name, uint32_t id);

  // The id of `name` from this thread's cache, without a lock; nullopt
  // when this thread has not used the stream in this store.
  std::optional<uint32_t> find(std::string_view name);

  // After find() missed: publishes through `publish` with the stream's id,
  // under the mutex for a new stream (see above), after releasing it for a
  // known one. Returns what `publish` returns.
  Result<uint64_t> find_or_publish(std::string_view name, const Publish& publish);

 private:
  // This thread's cache, emptied first if it last served another store.
  StreamMap& thread_cache() const;

  const uint64_t instance_;
  std::mutex mu_;         // held to look up ids_ and to create a stream
  StreamMap ids_;         // guarded by mu_
  uint32_t next_id_ = 1;  // guarded by mu_
};

}  // namespace reel::store
