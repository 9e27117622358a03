// AllowList: the peers a listening port accepts (`reel serve --allow CIDR`,
// repeatable), as IPv4 networks. Empty: every peer. Parsing and matching are
// pure; thread-safe once built.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "reel/status.h"

namespace reel::net {

class AllowList {
 public:
  // Adds "A.B.C.D/N" (N 0..32) or "A.B.C.D" (/32); an error names the text.
  Status add(std::string_view cidr);
  bool empty() const { return nets_.empty(); }
  // Whether a peer at `addr` (network byte order) may connect.
  bool allows(in_addr addr) const;
  // The peer address of a connected socket, and whether it is allowed
  // (false too when the address cannot be read). *peer gets "A.B.C.D:PORT".
  bool allows_socket(int fd, std::string* peer) const;
  // "10.0.0.0/8, 127.0.0.1/32" ("any" when empty).
  std::string describe() const;

 private:
  struct Net {
    uint32_t base = 0, mask = 0;  // host byte order
    std::string text;
  };
  std::vector<Net> nets_;
};

}  // namespace reel::net
