// reel verify / reindex.
#include <cinttypes>
#include <cstdio>

#include "reel/commands.h"
#include "store/store_internal.h"
#include "store/verify.h"

namespace reel::cli {
namespace {

int run_verify(const Args& args) {
  const std::string dir = args.positional(0);
  const bool show_progress = stderr_is_terminal();
  bool shown = false;
  auto report = store::verify_store(dir, [&](uint64_t done, uint64_t total) {
    if (!show_progress || total == 0) return;
    std::fprintf(stderr, "\rreel verify: %5.1f%% of %.1f MiB", 100.0 * done / total,
                 total / 1048576.0);
    shown = true;
  });
  if (shown) std::fprintf(stderr, "\n");
  if (!report) return fail("verify", report.status());
  for (const auto& line : report->faults) std::printf("FAULT %s\n", line.c_str());
  for (const auto& line : report->notes) std::printf("note: %s\n", line.c_str());
  std::printf(
      "%s: %" PRIu64 " records (seq %" PRIu64 "..%" PRIu64 ") in %" PRIu64 " segments, %" PRIu64
      " index entries checked, indexed_seq %" PRIu64 ": %s\n",
      dir.c_str(), report->records, report->first_seq, report->last_seq, report->segments,
      report->index_entries_checked, report->indexed_seq,
      report->clean() ? "clean" : (std::to_string(report->faults.size()) + " faults").c_str());
  return report->clean() ? kExitOk : kExitFailure;
}

int run_reindex(const Args& args) {
  const std::string dir = args.positional(0);
  uint64_t records = 0;
  const bool show_progress = stderr_is_terminal();
  Status s = store::reindex_store(dir, &records, [&](uint64_t done) {
    if (show_progress)
      std::fprintf(stderr, "\rreel reindex: %llu records indexed",
                   static_cast<unsigned long long>(done));
  });
  if (show_progress && records > 0) std::fprintf(stderr, "\n");
  if (!s) return fail("reindex", s);
  std::printf("%s: index rebuilt from the WAL, %" PRIu64 " records\n", dir.c_str(), records);
  return kExitOk;
}

}  // namespace

const Command kVerifyCommand{
    {"verify",
     "Check every frame's checksum and that the index agrees with the WAL.",
     {"STORE"},
     {},
     "Prints one FAULT line per problem, naming segment, offset and seq. Exit status 0 only\n"
     "when the store is clean. Read-only: it takes no lock and changes nothing, and beside a\n"
     "live writer it checks one consistent snapshot (up to the live end)."},
    run_verify};

const Command kReindexCommand{{"reindex",
                               "Rebuild the index from the WAL.",
                               {"STORE"},
                               {},
                               "Takes the writer lock; fails if a writer has the store open."},
                              run_reindex};

}  // namespace reel::cli
