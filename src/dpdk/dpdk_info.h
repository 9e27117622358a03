// Facts about the DPDK build reel was compiled against (the DPDK source and
// sink come in a later step; this small target keeps DPDK's compile flags,
// -march and -include rte_config.h, away from the rest of the tree).
#pragma once

#include <string>

namespace reel::dpdk {
// "DPDK 22.11.11"
std::string version();
}  // namespace reel::dpdk
