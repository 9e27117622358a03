#include "reel/args.h"

#include <sstream>

namespace reel::cli {
namespace {

bool optional_positional(const std::string& p) {
  return p.size() > 2 && p.front() == '[' && p.back() == ']';
}
bool variadic_positional(const std::string& p) {
  return p.size() > 3 && p.compare(p.size() - 3, 3, "...") == 0;
}

// Empty when `given` fits the spec's positionals ("X", "[X]" optional,
// "X..." one or more, last only); else what is wrong.
std::string check_positionals(const CommandSpec& spec, const std::vector<std::string>& given) {
  size_t required = 0;
  bool variadic = false;
  for (const auto& p : spec.positionals) {
    if (!optional_positional(p)) ++required;
    if (variadic_positional(p)) variadic = true;
  }
  if (given.size() < required) return "missing " + spec.positionals[given.size()];
  if (!variadic && given.size() > spec.positionals.size()) {
    return "unexpected argument '" + given[spec.positionals.size()] + "'";
  }
  return "";
}

}  // namespace

std::optional<Args> Args::parse(const CommandSpec& spec, int argc, char** argv, bool* help,
                                std::string* error) {
  Args args;
  *help = false;
  for (const auto& opt : spec.options) {
    if (!opt.default_value.empty()) args.defaults_[opt.name] = opt.default_value;
  }
  const std::string prefix = "reel " + spec.name + ": ";
  bool only_positionals = false;
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    if (!only_positionals && (arg == "--help" || arg == "-h")) {
      *help = true;
      return args;
    }
    if (!only_positionals && arg == "--") {
      only_positionals = true;
      continue;
    }
    if (!only_positionals && arg.size() > 1 && arg[0] == '-' &&
        !(arg.size() > 1 && std::isdigit(static_cast<unsigned char>(arg[1])))) {
      std::string name = arg, value;
      bool inline_value = false;
      if (auto eq = arg.find('='); eq != std::string::npos) {
        name = arg.substr(0, eq);
        value = arg.substr(eq + 1);
        inline_value = true;
      }
      const OptionSpec* found = nullptr;
      for (const auto& opt : spec.options) {
        if (opt.name == name) found = &opt;
      }
      if (found == nullptr) {
        *error = prefix + "unknown option '" + name + "' (see reel " + spec.name + " --help)";
        return std::nullopt;
      }
      if (found->value_name.empty()) {
        if (inline_value) {
          *error = prefix + "option '" + name + "' takes no value";
          return std::nullopt;
        }
        args.values_[name] = "1";
        continue;
      }
      if (!inline_value) {
        if (i + 1 >= argc) {
          *error = prefix + "option '" + name + "' needs a value (" + found->value_name + ")";
          return std::nullopt;
        }
        value = argv[++i];
      }
      if (found->repeatable) {
        args.repeated_[name].push_back(value);
      } else if (args.values_.count(name) != 0) {
        *error = prefix + "option '" + name + "' given twice";
        return std::nullopt;
      }
      args.values_[name] = value;
      continue;
    }
    args.positionals_.push_back(arg);
  }
  if (std::string why = check_positionals(spec, args.positionals_); !why.empty()) {
    std::string usage;
    for (const auto& p : spec.positionals) usage += " " + p;
    *error = prefix + why + " (usage: reel " + spec.name + usage + " [options])";
    return std::nullopt;
  }
  return args;
}

std::vector<std::string> Args::all(const std::string& name) const {
  auto it = repeated_.find(name);
  return it == repeated_.end() ? std::vector<std::string>{} : it->second;
}

std::string Args::get(const std::string& name) const {
  if (auto it = values_.find(name); it != values_.end()) return it->second;
  if (auto it = defaults_.find(name); it != defaults_.end()) return it->second;
  return "";
}

std::string help_text(const CommandSpec& spec) {
  std::ostringstream out;
  out << "usage: reel " << spec.name;
  for (const auto& p : spec.positionals) out << " " << p;
  if (!spec.options.empty()) out << " [options]";
  out << "\n\n" << spec.summary << "\n";
  if (!spec.options.empty()) {
    out << "\noptions:\n";
    for (const auto& opt : spec.options) {
      std::string left = "  " + opt.name + (opt.value_name.empty() ? "" : " " + opt.value_name);
      out << left;
      if (left.size() < 24)
        out << std::string(24 - left.size(), ' ');
      else
        out << "\n" << std::string(24, ' ');
      out << opt.help;
      if (!opt.default_value.empty()) out << " (default: " << opt.default_value << ")";
      if (opt.repeatable) out << " (repeatable)";
      out << "\n";
    }
    out << "  -h, --help              show this help\n";
  }
  if (!spec.details.empty()) out << "\n" << spec.details << "\n";
  return out.str();
}

}  // namespace reel::cli
