// Ingest endpoint specs of `reel serve`, as given on the command
// line:
//
//   --tcp [ADDR:]PORT[,framing=lp|u16be|lines][,stream=NAME][,seq=SPEC]
//   --udp [ADDR:]PORT[,stream=NAME][,seq=SPEC]
//   --mcast GROUP:PORT,iface=ADDR[,source=ADDR][,stream=NAME][,seq=SPEC]
//
// ADDR defaults to 0.0.0.0; PORT 0 (tcp, udp) lets the kernel pick one; the stream defaults to the
// endpoint's own name
// ("tcp:9001", "udp:9000", "mcast:239.1.1.1:5000"); seq is a source seq spec
// (feed/source_seq.h), default none. IPv4 for now. Parsing is pure.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "feed/source_seq.h"
#include "reel/status.h"
#include "wire/framing.h"

namespace reel::feed {

struct Endpoint {
  enum class Kind { kTcp, kUdp, kMulticast };
  Kind kind = Kind::kUdp;
  std::string address = "0.0.0.0";  // to bind (tcp, udp) or the group (multicast)
  uint16_t port = 0;
  std::string interface;                       // multicast: the local interface's address
  std::string source;                          // multicast: SSM source, empty for any
  Framing framing = Framing::kLengthPrefixed;  // tcp
  std::string stream;
  SeqSpec seq;
};

// `kind` is which flag it came with; `text` the flag's value. Errors name the
// bad part in one line.
Result<Endpoint> parse_endpoint(Endpoint::Kind kind, std::string_view text);
// "udp:9000", "tcp:127.0.0.1:9001", "mcast:239.1.1.1:5000" (the default stream name).
std::string endpoint_name(const Endpoint& e);

}  // namespace reel::feed
