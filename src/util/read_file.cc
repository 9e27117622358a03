#include "util/read_file.h"

#include <cerrno>
#include <fstream>
#include <sstream>

namespace reel {

Result<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::from_errno(path + ": cannot read", errno ? errno : ENOENT);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace reel
