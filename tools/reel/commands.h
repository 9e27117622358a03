// The reel CLI's commands. Each returns the process exit code:
// 0 success, 1 failure (named on stderr in one line), 2 bad usage.
#pragma once

#include <string>

#include "reel/args.h"
#include "reel/status.h"

namespace reel::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

struct Command {
  CommandSpec spec;
  int (*run)(const Args& args);
};

extern const Command kAppendCommand;
extern const Command kCatCommand;
extern const Command kGetCommand;
extern const Command kStatCommand;
extern const Command kTailCommand;
extern const Command kVerifyCommand;
extern const Command kReindexCommand;
extern const Command kGapsCommand;
extern const Command kServeCommand;
extern const Command kImportCommand;
extern const Command kReplayCommand;

// Prints "reel CMD: message" and returns kExitFailure.
int fail(const std::string& command, const Status& status);
int fail(const std::string& command, const std::string& message);
int usage_error(const std::string& command, const std::string& message);

bool stderr_is_terminal();

}  // namespace reel::cli
