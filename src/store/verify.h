// verify_store: checks every frame of every segment and that the index agrees
// with the WAL. Read-only, takes no lock, and is safe beside a running
// writer: it checks one consistent snapshot (an LMDB read transaction taken
// first, then the WAL up to the live end, judged against the head file), so
// bytes the writer is writing are never reported.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "reel/status.h"

namespace reel::store {

struct VerifyReport {
  uint64_t segments = 0;
  uint64_t records = 0;
  uint64_t first_seq = 0;
  uint64_t last_seq = 0;
  uint64_t indexed_seq = 0;
  uint64_t index_entries_checked = 0;
  bool index_present = false;
  bool writer_live = false;         // a writer may have been appending during the check
  std::vector<std::string> faults;  // one line each, naming segment, offset, seq
  std::vector<std::string> notes;   // facts that are not faults (records not indexed yet)
  bool clean() const { return faults.empty(); }
};

// `progress(done, total)` is called now and then with bytes of WAL scanned.
Result<VerifyReport> verify_store(const std::string& dir,
                                  const std::function<void(uint64_t, uint64_t)>& progress);

}  // namespace reel::store
