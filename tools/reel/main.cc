// reel: the command-line interface to a reel store.
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "reel/commands.h"
#include "reel/store.h"
#include "store/store_dir.h"

namespace reel::cli {

int fail(const std::string& command, const Status& status) {
  return fail(command, status.message());
}

int fail(const std::string& command, const std::string& message) {
  std::fprintf(stderr, "reel %s: %s\n", command.c_str(), message.c_str());
  return kExitFailure;
}

int usage_error(const std::string& command, const std::string& message) {
  std::fprintf(stderr, "reel %s: %s (see reel %s --help)\n", command.c_str(), message.c_str(),
               command.c_str());
  return kExitUsage;
}

bool stderr_is_terminal() {
  return ::isatty(STDERR_FILENO) == 1;
}

}  // namespace reel::cli

namespace {

const reel::cli::Command* const kCommands[] = {
    &reel::cli::kAppendCommand,  &reel::cli::kCatCommand,    &reel::cli::kGetCommand,
    &reel::cli::kTailCommand,    &reel::cli::kStatCommand,   &reel::cli::kVerifyCommand,
    &reel::cli::kReindexCommand, &reel::cli::kGapsCommand,   &reel::cli::kServeCommand,
    &reel::cli::kImportCommand,  &reel::cli::kReplayCommand,
};

void print_usage(FILE* out) {
  std::fprintf(out,
               "usage: reel COMMAND STORE [options]\n\n"
               "reel is a persistent event log and replay store.\n\ncommands:\n");
  for (const auto* cmd : kCommands) {
    std::fprintf(out, "  %-10s %s\n", cmd->spec.name.c_str(), cmd->spec.summary.c_str());
  }
  std::fprintf(out,
               "\nglobal options (before the command):\n"
               "  -v, --verbose   log what recovery and the store do (info level)\n"
               "  --version       print the version\n"
               "  -h, --help      show this help\n\n"
               "Run 'reel COMMAND --help' for a command's options.\n");
}

}  // namespace

int main(int argc, char** argv) {
  auto logger = spdlog::stderr_color_mt("reel");
  logger->set_pattern("reel: %l: %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::warn);
  int i = 1;
  for (; i < argc && argv[i][0] == '-'; ++i) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      print_usage(stdout);
      return 0;
    }
    if (arg == "--version") {
      std::printf("reel 0.1.0 (format version 1)\n");
      return 0;
    }
    if (arg == "-v" || arg == "--verbose") {
      spdlog::set_level(spdlog::level::info);
      continue;
    }
    std::fprintf(stderr, "reel: unknown option '%s' (see reel --help)\n", argv[i]);
    return reel::cli::kExitUsage;
  }
  if (i >= argc) {
    print_usage(stderr);
    return reel::cli::kExitUsage;
  }
  const std::string name = argv[i];
  for (const auto* cmd : kCommands) {
    if (cmd->spec.name != name) continue;
    bool help = false;
    std::string error;
    auto args = reel::cli::Args::parse(cmd->spec, argc - i - 1, argv + i + 1, &help, &error);
    if (help) {
      std::fputs(reel::cli::help_text(cmd->spec).c_str(), stdout);
      return 0;
    }
    if (!args) {
      std::fprintf(stderr, "%s\n", error.c_str());
      return reel::cli::kExitUsage;
    }
    return cmd->run(*args);
  }
  std::fprintf(stderr, "reel: unknown command '%s' (see reel --help)\n", name.c_str());
  return reel::cli::kExitUsage;
}
