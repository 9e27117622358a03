#include "dpdk/dpdk_info.h"

#include <rte_version.h>

namespace reel::dpdk {
std::string version() {
  return rte_version();
}
}  // namespace reel::dpdk
