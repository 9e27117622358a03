#include "reel/store_flags.h"

#include <algorithm>

#include "util/time_format.h"

namespace reel::cli {

OptionSpec sync_flag() {
  return {"--sync", "POLICY", "always | interval:DURATION | none", "interval:10ms"};
}

OptionSpec segment_size_flag() {
  return {"--segment-size", "SIZE", "size of new segment files", "1GiB"};
}

OptionSpec zero_ahead_flag() {
  return {"--zero-ahead", "SIZE",
          "keep this much past the data written with zeros, so that a sync has no file-system "
          "metadata to commit (0: off, e.g. on thin-provisioned storage; off with --sync none)",
          "8MiB"};
}

Result<StoreOptions> parse_store_flags(const Args& args, uint64_t max_record_limit) {
  StoreOptions o;
  auto sync = SyncPolicy::parse(args.get("--sync"));
  if (!sync) return sync.status();
  o.sync = *sync;
  auto segment = parse_size_bytes(args.get("--segment-size"));
  if (!segment || *segment < 4096) {
    return Status::invalid_argument("bad --segment-size '" + args.get("--segment-size") +
                                    "' (e.g. 64MiB, 1GiB; at least 4096)");
  }
  o.segment_bytes_max = *segment;
  auto max_record = parse_size_bytes(args.get("--max-record"));
  if (!max_record || *max_record == 0 || *max_record > max_record_limit) {
    return Status::invalid_argument("bad --max-record '" + args.get("--max-record") +
                                    "' (1 byte to " + std::to_string(max_record_limit) + " bytes)");
  }
  o.max_record_bytes = *max_record;
  // The default is lowered to what fits; a value given is refused.
  if (const uint64_t fits = largest_record_bytes(o); !args.has("--max-record")) {
    o.max_record_bytes = std::min(o.max_record_bytes, fits);
  } else if (o.max_record_bytes > fits) {
    return Status::invalid_argument(
        "--max-record " + args.get("--max-record") + " does not fit --segment-size " +
        args.get("--segment-size") + ": the largest record that fits is " + std::to_string(fits) +
        " bytes (a frame takes at most half the ring: " + std::to_string(o.ring_bytes >> 20) +
        " MiB, or the largest power of two dividing the segment size if less)");
  }
  auto zero = parse_size_bytes(args.get("--zero-ahead"));
  if (!zero) {
    return Status::invalid_argument("bad --zero-ahead '" + args.get("--zero-ahead") +
                                    "' (e.g. 0, 8MiB)");
  }
  o.zero_ahead_bytes = *zero;
  return o;
}

}  // namespace reel::cli
