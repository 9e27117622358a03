// The store flags of the commands that write a store (append, import,
// serve): one parser and one help text, so that they mean the same in each.
#pragma once

#include <cstdint>

#include "reel/args.h"
#include "reel/options.h"
#include "reel/status.h"

namespace reel::cli {

// --sync, --segment-size, --max-record (1 byte to `max_record_limit`) and
// --zero-ahead, from `args` (whose defaults come from the command's help),
// into StoreOptions. An error names the flag and its value. A --max-record
// given that the ring cannot take (largest_record_bytes()) is an error; the
// default is lowered to what it takes.
Result<StoreOptions> parse_store_flags(const Args& args, uint64_t max_record_limit);

// The largest --max-record any command takes (a frame's body is at most
// 64 MiB).
inline constexpr uint64_t kMaxRecordFlag = uint64_t{64} << 20;

// Help rows (--max-record's text differs per command). Functions, not
// globals: the commands' own specs are globals of other files, initialised
// in an order C++ does not fix.
OptionSpec sync_flag();
OptionSpec segment_size_flag();
OptionSpec zero_ahead_flag();

}  // namespace reel::cli
