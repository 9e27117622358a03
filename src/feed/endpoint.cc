#include "feed/endpoint.h"

#include <arpa/inet.h>

#include <vector>

#include "util/time_format.h"

namespace reel::feed {
namespace {

const char* kind_name(Endpoint::Kind k) {
  return k == Endpoint::Kind::kTcp ? "tcp" : k == Endpoint::Kind::kUdp ? "udp" : "mcast";
}

std::vector<std::string_view> split(std::string_view text, char sep) {
  std::vector<std::string_view> parts;
  for (size_t at = 0;;) {
    const size_t next = text.find(sep, at);
    parts.push_back(text.substr(at, next - at));
    if (next == std::string_view::npos) return parts;
    at = next + 1;
  }
}

bool is_ipv4(std::string_view a) {
  in_addr ignored;
  return inet_pton(AF_INET, std::string(a).c_str(), &ignored) == 1;
}

// "[ADDR:]PORT" into e->address and e->port.
Status parse_address(std::string_view text, bool address_required, Endpoint* e) {
  const size_t colon = text.rfind(':');
  const std::string_view port = colon == std::string_view::npos ? text : text.substr(colon + 1);
  const auto p = parse_u64(port);
  if (!p || *p > 65535 || (*p == 0 && address_required)) {
    return Status::invalid_argument("bad port '" + std::string(port) + "' (" +
                                    (address_required ? "1" : "0: any free port, or 1") +
                                    "-65535)");
  }
  e->port = static_cast<uint16_t>(*p);
  if (colon != std::string_view::npos) e->address = std::string(text.substr(0, colon));
  if (address_required && colon == std::string_view::npos) {
    std::string msg = "'";
    msg.append(text).append("' needs GROUP:PORT");
    return Status::invalid_argument(msg);
  }
  if (!is_ipv4(e->address)) {
    return Status::invalid_argument("bad address '" + e->address + "' (an IPv4 address)");
  }
  return Status::ok();
}

Status apply_option(std::string_view key, std::string_view value, Endpoint* e) {
  if (key == "stream") {
    if (value.empty() || value.size() > 255) {
      return Status::invalid_argument("stream= needs a name of 1 to 255 bytes");
    }
    e->stream = std::string(value);
  } else if (key == "seq") {
    auto spec = parse_seq_spec(value);
    if (!spec) return spec.status();
    e->seq = *spec;
  } else if (key == "framing" && e->kind == Endpoint::Kind::kTcp) {
    auto f = parse_framing(value);
    if (!f) return f.status();
    e->framing = *f;
  } else if ((key == "iface" || key == "source") && e->kind == Endpoint::Kind::kMulticast) {
    if (!is_ipv4(value)) {
      return Status::invalid_argument("bad " + std::string(key) + " '" + std::string(value) +
                                      "' (an IPv4 address)");
    }
    (key == "iface" ? e->interface : e->source) = std::string(value);
  } else {
    return Status::invalid_argument("unknown option '" + std::string(key) + "=" +
                                    std::string(value) + "' for a " + kind_name(e->kind) +
                                    " endpoint");
  }
  return Status::ok();
}

}  // namespace

Result<Endpoint> parse_endpoint(Endpoint::Kind kind, std::string_view text) {
  Endpoint e;
  e.kind = kind;
  const auto parts = split(text, ',');
  const bool mcast = kind == Endpoint::Kind::kMulticast;
  Status s = parse_address(parts[0], mcast, &e);
  for (size_t i = 1; s && i < parts.size(); ++i) {
    const size_t eq = parts[i].find('=');
    if (eq == std::string_view::npos) {
      s = Status::invalid_argument("option '" + std::string(parts[i]) + "' needs KEY=VALUE");
    } else {
      s = apply_option(parts[i].substr(0, eq), parts[i].substr(eq + 1), &e);
    }
  }
  if (s && mcast) {
    in_addr group;
    inet_pton(AF_INET, e.address.c_str(), &group);
    if ((ntohl(group.s_addr) >> 28) != 0xE) {
      s = Status::invalid_argument("'" + e.address + "' is not a multicast group (224.0.0.0/4)");
    } else if (e.interface.empty()) {
      s = Status::invalid_argument("a multicast endpoint needs iface=ADDR (the local interface)");
    }
  }
  if (!s) {
    std::string msg = "--";
    msg.append(kind_name(kind)).append(" ").append(text).append(": ").append(s.message());
    return Status::invalid_argument(msg);
  }
  if (e.stream.empty()) e.stream = endpoint_name(e);
  return e;
}

std::string endpoint_name(const Endpoint& e) {
  std::string name = std::string(kind_name(e.kind)) + ":";
  if (e.kind == Endpoint::Kind::kMulticast || e.address != "0.0.0.0") name += e.address + ":";
  return name + std::to_string(e.port);
}

}  // namespace reel::feed
