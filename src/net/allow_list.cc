#include "net/allow_list.h"

#include <arpa/inet.h>
#include <sys/socket.h>

namespace reel::net {

Status AllowList::add(std::string_view cidr) {
  const std::string text(cidr);
  const size_t slash = text.find('/');
  const std::string ip = text.substr(0, slash);
  int bits = 32;
  if (slash != std::string::npos) {
    const std::string n = text.substr(slash + 1);
    if (n.empty() || n.size() > 2 || n.find_first_not_of("0123456789") != std::string::npos ||
        std::stoi(n) > 32) {
      return Status::invalid_argument("bad --allow '" + text + "' (A.B.C.D/N, N 0 to 32)");
    }
    bits = std::stoi(n);
  }
  in_addr a{};
  if (inet_pton(AF_INET, ip.c_str(), &a) != 1) {
    return Status::invalid_argument("bad --allow '" + text + "' (an IPv4 address or network)");
  }
  Net net;
  net.mask = bits == 0 ? 0 : ~uint32_t{0} << (32 - bits);
  net.base = ntohl(a.s_addr) & net.mask;
  net.text = text;
  nets_.push_back(net);
  return Status::ok();
}

bool AllowList::allows(in_addr addr) const {
  if (nets_.empty()) return true;
  const uint32_t host = ntohl(addr.s_addr);
  for (const Net& n : nets_) {
    if ((host & n.mask) == n.base) return true;
  }
  return false;
}

bool AllowList::allows_socket(int fd, std::string* peer) const {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0 || a.sin_family != AF_INET) {
    peer->assign(1, '?');  // not = "?": GCC 12 warns falsely (-Wrestrict)
    return nets_.empty();
  }
  char ip[INET_ADDRSTRLEN] = "?";
  inet_ntop(AF_INET, &a.sin_addr, ip, sizeof ip);
  *peer = std::string(ip) + ":" + std::to_string(ntohs(a.sin_port));
  return allows(a.sin_addr);
}

std::string AllowList::describe() const {
  if (nets_.empty()) return "any peer";
  std::string out;
  for (const Net& n : nets_) {
    if (!out.empty()) out += ", ";
    out += n.text;
  }
  return out;
}

}  // namespace reel::net
