// Connecting a client (reel::Publisher, reel::Subscriber) to HOST:PORT.
#pragma once

#include <chrono>
#include <string>

#include "reel/status.h"

namespace reel::client {

// A TCP socket connected to `host_port` (an IPv4 address or a name) within
// `timeout`, non-blocking, TCP_NODELAY, close-on-exec.
Result<int> connect_to(const std::string& host_port, std::chrono::milliseconds timeout);

}  // namespace reel::client
