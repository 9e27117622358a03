#include "store/stream_registry.h"

#include <algorithm>
#include <atomic>

namespace reel::store {
namespace {

// A unique number per opened store, so that threads' caches of stream ids
// never mistake a new store for a closed one at the same address.
std::atomic<uint64_t> g_store_instances{0};

// Per producer thread: the store it last appended to and the ids it has seen.
struct ThreadCache {
  uint64_t instance = 0;
  StreamMap streams;
};
thread_local ThreadCache t_cache;

}  // namespace

StreamRegistry::StreamRegistry() : instance_(++g_store_instances) {}

void StreamRegistry::add_existing(std::string_view name, uint32_t id) {
  std::lock_guard<std::mutex> guard(mu_);
  ids_[std::string(name)] = id;
  next_id_ = std::max(next_id_, id + 1);
}

StreamMap& StreamRegistry::thread_cache() const {
  ThreadCache& me = t_cache;
  if (me.instance != instance_) {
    me.streams.clear();
    me.instance = instance_;
  }
  return me.streams;
}

std::optional<uint32_t> StreamRegistry::find(std::string_view name) {
  const StreamMap& cache = thread_cache();
  if (auto it = cache.find(name); it != cache.end()) return it->second;
  return std::nullopt;
}

Result<uint64_t> StreamRegistry::find_or_publish(std::string_view name, const Publish& publish) {
  StreamMap& cache = thread_cache();
  std::unique_lock<std::mutex> guard(mu_);
  if (auto it = ids_.find(name); it != ids_.end()) {
    const uint32_t id = it->second;
    guard.unlock();
    cache.emplace(std::string(name), id);
    return publish(id, false);
  }
  // A new stream: its first record declares the name. It is claimed under
  // the lock, so no other thread can use the id before (at a lower seq).
  auto seq = publish(next_id_, true);
  if (seq) {
    ids_.emplace(std::string(name), next_id_);
    cache.emplace(std::string(name), next_id_);
    ++next_id_;
  }
  return seq;
}

}  // namespace reel::store
