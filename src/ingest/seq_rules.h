// Which source-seq rule (feed/source_seq.h) each stream was recorded with,
// kept in STORE/seq_rules so that readers (`reel gaps`) re-read each
// record's feed number the way it was recorded, without being told.
//
// The file is small text, one stream a line ("SPEC NAME", the name with
// bytes outside printable ASCII, space and '%' written as %XX), replaced
// atomically (write, fsync, rename, fsync the directory) by the store's one
// writer, and read by anyone. A stream recorded without a rule has no line.
// The WAL does not depend on it: a store without the file reads as one whose
// streams have no rule.
#pragma once

#include <map>
#include <string>

#include "feed/source_seq.h"
#include "reel/status.h"

namespace reel::ingest {

using SeqRules = std::map<std::string, feed::SeqSpec>;  // by stream name

// STORE/seq_rules, parsed; empty when the file does not exist. A line that
// does not parse is an error naming the file and the line.
Result<SeqRules> load_seq_rules(const std::string& store_dir);

// Replaces STORE/seq_rules with `rules`. Only the store's writer calls it.
Status save_seq_rules(const std::string& store_dir, const SeqRules& rules);

// The text of the file, and back (exposed for tests).
std::string format_seq_rules(const SeqRules& rules);
Result<SeqRules> parse_seq_rules(const std::string& text, const std::string& path);

}  // namespace reel::ingest
