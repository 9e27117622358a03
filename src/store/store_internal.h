// Test seams for Store that are not part of the public API.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "reel/store.h"
#include "wal/io_env.h"

namespace reel::store {

// Opens a store whose WAL file operations go through `env` (tests pass a
// fault-injecting wrapper).
Result<std::unique_ptr<Store>> open_store_with_env(const std::string& dir,
                                                   const StoreOptions& options,
                                                   std::unique_ptr<wal::IoEnv> env);

// Rebuilds the index of the store in `dir` from its WAL (reel reindex).
// Takes the writer lock. `progress` hears the records indexed so far; WAL
// file operations go through `env` (default: the real one).
Status reindex_store(const std::string& dir, uint64_t* records_indexed,
                     const std::function<void(uint64_t)>& progress = nullptr,
                     std::unique_ptr<wal::IoEnv> env = nullptr);

}  // namespace reel::store
