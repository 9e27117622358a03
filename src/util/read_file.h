// Reads a whole small file (a schema, a config) into memory.
#pragma once

#include <string>

#include "reel/status.h"

namespace reel {

// The file's bytes, or kIoError/kNotFound naming `path`. Thread-safe.
Result<std::string> read_file(const std::string& path);

}  // namespace reel
