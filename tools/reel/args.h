// A small, strict command-line parser for the reel CLI: every option is
// declared, unknown ones are errors, and --help text is generated from the
// declarations.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace reel::cli {

struct OptionSpec {
  std::string name;        // "--format"
  std::string value_name;  // "FMT"; empty for a flag
  std::string help;
  std::string default_value;
  bool repeatable = false;  // may be given several times (all() has every value)
};

struct CommandSpec {
  std::string name;     // "cat"
  std::string summary;  // one line
  // "STORE", "SEQ"; "[STORE]" is optional, "FILE..." (last) one or more.
  std::vector<std::string> positionals;
  std::vector<OptionSpec> options;
  std::string details;  // extra paragraphs for --help
};

class Args {
 public:
  // Parses argv after the command name. On error returns nullopt and sets
  // *error to one line. Sets *help when --help or -h was given.
  static std::optional<Args> parse(const CommandSpec& spec, int argc, char** argv, bool* help,
                                   std::string* error);

  const std::string& positional(size_t i) const { return positionals_[i]; }
  size_t positional_count() const { return positionals_.size(); }
  bool has(const std::string& name) const { return values_.count(name) > 0; }
  std::string get(const std::string& name) const;
  // Every value of a repeatable option, in the order given.
  std::vector<std::string> all(const std::string& name) const;

 private:
  std::vector<std::string> positionals_;
  std::map<std::string, std::string> values_;
  std::map<std::string, std::string> defaults_;
  std::map<std::string, std::vector<std::string>> repeated_;
};

std::string help_text(const CommandSpec& spec);

}  // namespace reel::cli
