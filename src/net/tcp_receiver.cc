#include "net/tcp_receiver.h"

#include <arpa/inet.h>
#include <liburing.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>

#include "net/ack_ledger.h"
#include "net/buffer_ring.h"
#include "util/coding.h"
#include "util/log_limit.h"
#include "wire/ack_protocol.h"
#include "wire/framing.h"

namespace reel::net {
namespace {

constexpr unsigned kBuffers = 256;  // a power of two
constexpr size_t kBufferBytes = 64 << 10;
constexpr uint16_t kBufferGroup = 9;
constexpr uint64_t kAcceptTag = uint64_t{1} << 63;  // user_data: accept of endpoint i
constexpr auto kAcceptPause = std::chrono::milliseconds(100);
constexpr auto kRefusedLinger = std::chrono::seconds(2);
// Past --max-connections, only a connection quiet this long, holding no
// unfinished record and owed no ack, is closed for a new one.
constexpr auto kEvictableIdle = std::chrono::seconds(1);

uint64_t now_ns() {
  timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return static_cast<uint64_t>(t.tv_sec) * 1'000'000'000ull + t.tv_nsec;
}

Result<int> listen_on(const feed::Endpoint& e) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::from_errno(feed::endpoint_name(e) + ": socket", errno);
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);  // restart while TIME_WAIT
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(e.port);
  inet_pton(AF_INET, e.address.c_str(), &addr.sin_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 128) != 0) {
    const int err = errno;
    ::close(fd);
    return Status::from_errno(
        feed::endpoint_name(e) + ": bind " + e.address + ":" + std::to_string(e.port), err);
  }
  return fd;
}

struct Connection {
  Connection(size_t endpoint_, int fd_, std::string peer_, feed::Deframer deframer_, bool lp)
      : endpoint(endpoint_),
        fd(fd_),
        peer(std::move(peer_)),
        deframer(std::move(deframer_)),
        last_active(std::chrono::steady_clock::now()),
        hello_pending(lp) {}

  size_t endpoint;
  int fd;
  std::string peer;
  feed::Deframer deframer;
  std::chrono::steady_clock::time_point last_active;
  bool hello_pending = false;  // lp: the first 4 bytes may be an ack hello
  uint8_t hello[4] = {};
  size_t hello_len = 0;
  std::optional<AckLedger> acks;
  bool read_done = false;  // the peer half-closed; open until its acks are sent
  // Refused at its hello: its bytes are dropped until it closes or until
  // `refused_at` + kRefusedLinger.
  bool refused = false;
  std::chrono::steady_clock::time_point refused_at{};
  size_t held = 0;  // its deframer's memory, counted in Impl::held_total
};

}  // namespace

struct TcpReceiver::Impl {
  std::vector<feed::Endpoint> endpoints;
  std::vector<int> listeners;
  std::vector<uint16_t> ports;
  std::vector<TcpEndpointCounts> counts;
  TcpLimits limits;
  size_t held_total = 0;                 // memory of unfinished records, all connections
  std::map<uint64_t, Connection> conns;  // by id (the recv's user_data)
  uint64_t next_id = 1;
  // Listeners whose accept stopped for want of descriptors: re-armed at
  // this time (a time_point's zero: armed).
  std::vector<std::chrono::steady_clock::time_point> accept_paused;
  RateLimitedLog log;
  io_uring ring{};
  bool ring_ready = false;
  BufferRing buffers;  // outlives the ring: ~Impl tears the ring down first

  ~Impl() {
    if (ring_ready) io_uring_queue_exit(&ring);
    for (auto& [id, c] : conns) ::close(c.fd);
    for (int fd : listeners) ::close(fd);
  }

  Status setup();
  // A submission slot: when the queue is full (many connections accepted in
  // one round arm a recv each), what is queued is submitted first. Null only
  // when that submit failed.
  io_uring_sqe* next_sqe() {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring);
    if (sqe == nullptr && io_uring_submit(&ring) >= 0) sqe = io_uring_get_sqe(&ring);
    return sqe;
  }
  void arm_accept(size_t i) {
    io_uring_sqe* sqe = next_sqe();
    if (sqe == nullptr) {  // tried again after a pause (resume_accepts)
      accept_paused[i] = std::chrono::steady_clock::now() + kAcceptPause;
      return;
    }
    io_uring_prep_multishot_accept(sqe, listeners[i], nullptr, nullptr, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, kAcceptTag | i);
  }
  // False when no slot could be had: the caller closes the connection.
  bool arm_recv(uint64_t id, int fd) {
    io_uring_sqe* sqe = next_sqe();
    if (sqe == nullptr) return false;
    io_uring_prep_recv_multishot(sqe, fd, nullptr, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = buffers.group();
    io_uring_sqe_set_data64(sqe, id);
    return true;
  }
  void accepted(size_t i, int fd);
  void accept_failed(size_t i, int err);
  void resume_accepts();
  // At --max-connections: closes the connection idle longest that waits for
  // nothing, to make room; false when every one waits for the store.
  bool evict_idlest(size_t for_endpoint);
  void close_conn(uint64_t id);
  void log_close(const Connection& c, const std::string& why) {
    log.line("close",
             feed::endpoint_name(endpoints[c.endpoint]) + ": closing " + c.peer + ": " + why);
  }
  std::span<const uint8_t> take_hello(Connection* c, std::span<const uint8_t> data);
  void refuse(Connection* c, const std::string& reason);
  bool within_memory(Connection* c);
  // Records of one receive; false when the connection must be closed.
  bool take(Connection* c, std::span<const uint8_t> data, const RecordFn& fn);
  void ended(uint64_t id, Connection* c);
  Status handle(const io_uring_cqe* cqe, const RecordFn& fn);
};

Status TcpReceiver::Impl::setup() {
  int rc = io_uring_queue_init(512, &ring, 0);
  if (rc < 0) return Status::from_errno("io_uring_queue_init", -rc);
  ring_ready = true;
  if (Status s = buffers.setup(&ring, kBufferGroup, kBuffers, kBufferBytes); !s) return s;
  for (size_t i = 0; i < listeners.size(); ++i) arm_accept(i);
  rc = io_uring_submit(&ring);
  return rc < 0 ? Status::from_errno("io_uring_submit", -rc) : Status::ok();
}

void TcpReceiver::Impl::accepted(size_t i, int fd) {
  ++counts[i].connections;
  std::string peer;
  if (!limits.allow.allows_socket(fd, &peer)) {
    ++counts[i].refused_peers;
    log.line("allow", feed::endpoint_name(endpoints[i]) + ": refusing " + peer +
                          ": not in --allow " + limits.allow.describe());
    ::close(fd);
    return;
  }
  if (conns.size() >= limits.max_connections && !evict_idlest(i)) {
    ++counts[i].refused;
    ::close(fd);
    return;
  }
  const uint64_t id = next_id++;
  conns.emplace(std::piecewise_construct, std::forward_as_tuple(id),
                std::forward_as_tuple(i, fd, std::move(peer),
                                      feed::Deframer(endpoints[i].framing, limits.max_record),
                                      endpoints[i].framing == feed::Framing::kLengthPrefixed));
  ++counts[i].open;
  if (!arm_recv(id, fd)) close_conn(id);
}

bool TcpReceiver::Impl::evict_idlest(size_t for_endpoint) {
  auto idlest = conns.end();
  const auto now = std::chrono::steady_clock::now();
  for (auto it = conns.begin(); it != conns.end(); ++it) {
    const Connection& c = it->second;
    if (c.acks && !c.acks->settled()) continue;          // its records wait for the store
    if (c.deframer.buffered() != 0) continue;            // inside a record: it would be lost
    if (now - c.last_active < kEvictableIdle) continue;  // busy: a flood must not push it out
    if (idlest == conns.end() || c.last_active < idlest->second.last_active) idlest = it;
  }
  if (idlest == conns.end()) return false;
  ++counts[idlest->second.endpoint].evicted;
  log_close(idlest->second, "idle longest of " + std::to_string(conns.size()) +
                                " connections (--max-connections), for a new one on " +
                                feed::endpoint_name(endpoints[for_endpoint]));
  close_conn(idlest->first);
  return true;
}

// Out of descriptors (EMFILE, ENFILE): the multishot accept has ended; it
// is re-armed after a pause instead of at once, which would fail again and
// spin. Waiting connections stay in the listen backlog meanwhile.
void TcpReceiver::Impl::accept_failed(size_t i, int err) {
  ++counts[i].accept_failures;
  if (err == ECONNABORTED) return;  // that peer gave up: the next one is fine
  accept_paused[i] = std::chrono::steady_clock::now() + kAcceptPause;
  log.line("accept", feed::endpoint_name(endpoints[i]) + ": cannot accept: " + std::strerror(err) +
                         "; trying again in 100 ms");
}

void TcpReceiver::Impl::resume_accepts() {
  const auto now = std::chrono::steady_clock::now();
  for (size_t i = 0; i < accept_paused.size(); ++i) {
    if (accept_paused[i] != std::chrono::steady_clock::time_point{} && now >= accept_paused[i]) {
      accept_paused[i] = {};
      arm_accept(i);
    }
  }
}

void TcpReceiver::Impl::close_conn(uint64_t id) {
  auto it = conns.find(id);
  if (it == conns.end()) return;
  --counts[it->second.endpoint].open;
  held_total -= it->second.held;
  ::shutdown(it->second.fd, SHUT_RDWR);  // ends the multishot recv
  ::close(it->second.fd);
  conns.erase(it);
}

// Takes an ack hello off the front of an lp connection's bytes; returns the
// bytes left for the deframer.
std::span<const uint8_t> TcpReceiver::Impl::take_hello(Connection* c,
                                                       std::span<const uint8_t> data) {
  const size_t n = std::min(data.size(), sizeof c->hello - c->hello_len);
  std::memcpy(c->hello + c->hello_len, data.data(), n);
  c->hello_len += n;
  data = data.subspan(n);
  if (c->hello_len < sizeof c->hello) return data;
  c->hello_pending = false;
  const uint32_t word = decode_fixed32(c->hello);
  if (auto level = feed::parse_ack_hello(word)) {
    if (*level == Level::kDurable && !limits.durable_acks) {
      refuse(c, limits.durable_refusal);
      return {};
    }
    c->acks.emplace(*level);
    ++counts[c->endpoint].acked_connections;
  } else {
    c->hello_len = 0;  // a record's length: the deframer gets it below
  }
  return data;
}

void TcpReceiver::Impl::refuse(Connection* c, const std::string& reason) {
  ++counts[c->endpoint].hellos_refused;
  log_close(*c, "refused: " + reason);
  const std::string bytes = feed::encode_refusal(reason);
  (void)::send(c->fd, bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  ::shutdown(c->fd, SHUT_WR);
  c->refused = true;
  c->refused_at = std::chrono::steady_clock::now();
}

// Counts the connection's unfinished-record memory after a receive; false
// when all connections together hold more than max_buffered (this one is
// then closed: it made the total grow).
bool TcpReceiver::Impl::within_memory(Connection* c) {
  const size_t held = c->deframer.held_bytes();
  held_total = held_total - c->held + held;
  c->held = held;
  if (held_total <= limits.max_buffered) return true;
  ++counts[c->endpoint].memory_closed;
  log_close(*c, "unfinished records of all connections hold " + std::to_string(held_total) +
                    " bytes, over the limit of " + std::to_string(limits.max_buffered));
  return false;
}

bool TcpReceiver::Impl::take(Connection* c, std::span<const uint8_t> data, const RecordFn& fn) {
  c->last_active = std::chrono::steady_clock::now();
  if (c->refused) return true;  // dropped: the reason is on its way
  const uint64_t ts = now_ns();
  uint64_t taken = 0, last_seq = 0;
  bool unstored = false;
  std::string refusal;
  auto on_record = [&](std::span<const uint8_t> r) {
    if (unstored) return;
    const uint64_t seq = fn({c->endpoint, r, ts}, &refusal);
    unstored = seq == 0;
    if (!unstored) {
      last_seq = seq;
      ++taken;
    }
  };
  Status s;
  if (c->hello_pending) {
    data = take_hello(c, data);
    if (c->refused) return true;
    if (!c->hello_pending && !c->acks) {
      // Not a hello: the first record's length (that record may be empty).
      s = c->deframer.feed({c->hello, sizeof c->hello}, on_record);
    }
  }
  if (s) s = c->deframer.feed(data, on_record);
  if (c->acks) c->acks->stored(taken, last_seq);
  if (!s) {
    ++counts[c->endpoint].framing_errors;
    log_close(*c, s.message());
    return false;
  }
  if (unstored) {
    log_close(*c, refusal.empty() ? "a record could not be stored"
                                  : "a record could not be stored: " + refusal);
    return false;
  }
  return within_memory(c);
}

// The peer closed its side (or the connection failed).
void TcpReceiver::Impl::ended(uint64_t id, Connection* c) {
  if (c->acks && !c->acks->settled()) {
    c->read_done = true;  // acknowledge() closes it once the last ack is out
    return;
  }
  close_conn(id);
}

Status TcpReceiver::Impl::handle(const io_uring_cqe* cqe, const RecordFn& fn) {
  const uint64_t tag = io_uring_cqe_get_data64(cqe);
  if (tag & kAcceptTag) {
    const size_t i = static_cast<size_t>(tag & ~kAcceptTag);
    if (cqe->res >= 0) {
      accepted(i, cqe->res);
    } else {
      accept_failed(i, -cqe->res);
    }
    if (!(cqe->flags & IORING_CQE_F_MORE) &&
        accept_paused[i] == std::chrono::steady_clock::time_point{}) {
      arm_accept(i);
    }
    return Status::ok();
  }
  auto it = conns.find(tag);
  const bool has_buffer = (cqe->flags & IORING_CQE_F_BUFFER) != 0;
  const unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
  if (it != conns.end() && cqe->res > 0 && has_buffer) {
    Connection& c = it->second;
    if (!take(&c, {buffers.data(bid), static_cast<size_t>(cqe->res)}, fn)) {
      close_conn(tag);
    } else if (!(cqe->flags & IORING_CQE_F_MORE) && !arm_recv(tag, c.fd)) {
      close_conn(tag);
    }
  } else if (it != conns.end() && cqe->res == -ENOBUFS) {
    // Buffers ran out: they are back before the next submit.
    if (!arm_recv(tag, it->second.fd)) close_conn(tag);
  } else if (it != conns.end() && !(cqe->flags & IORING_CQE_F_MORE)) {
    ended(tag, &it->second);
  }
  if (has_buffer) buffers.give_back(bid);
  return Status::ok();
}

TcpReceiver::TcpReceiver(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TcpReceiver::~TcpReceiver() = default;

Result<std::unique_ptr<TcpReceiver>> TcpReceiver::open(const std::vector<feed::Endpoint>& endpoints,
                                                       const TcpLimits& limits) {
  auto impl = std::make_unique<Impl>();
  impl->endpoints = endpoints;
  impl->limits = limits;
  for (const auto& e : endpoints) {
    auto fd = listen_on(e);
    if (!fd) return fd.status();
    impl->listeners.push_back(*fd);
    sockaddr_in bound{};
    socklen_t len = sizeof bound;
    ::getsockname(*fd, reinterpret_cast<sockaddr*>(&bound), &len);
    impl->ports.push_back(ntohs(bound.sin_port));
    impl->counts.emplace_back();
    impl->accept_paused.emplace_back();
  }
  if (Status s = impl->setup(); !s) return s;
  return std::unique_ptr<TcpReceiver>(new TcpReceiver(std::move(impl)));
}

Result<size_t> TcpReceiver::poll(std::chrono::milliseconds timeout, const RecordFn& fn) {
  impl_->resume_accepts();
  size_t handled = 0;
  RecordFn count = [&](const TcpRecord& r, std::string* refusal) {
    ++handled;
    return fn(r, refusal);
  };
  Status s = drain_completions(&impl_->ring, timeout,
                               [&](const io_uring_cqe* cqe) { return impl_->handle(cqe, count); });
  if (!s) return s;
  return handled;
}

void TcpReceiver::acknowledge(const Watermarks& w) {
  std::vector<uint64_t> done;
  for (auto& [id, c] : impl_->conns) {
    if (!c.acks) continue;
    c.acks->advance(w);
    const uint64_t sent_before = c.acks->bytes_sent();
    Status s = c.acks->send(c.fd);
    if (c.acks->bytes_sent() != sent_before) c.last_active = std::chrono::steady_clock::now();
    if (!s) {
      impl_->log_close(c, s.message());
      done.push_back(id);
    } else if (c.read_done && c.acks->settled()) {
      done.push_back(id);
    }
  }
  for (uint64_t id : done) impl_->close_conn(id);
}

bool TcpReceiver::acks_pending() const {
  for (const auto& [id, c] : impl_->conns) {
    if (c.acks && !c.acks->settled()) return true;
  }
  return false;
}

uint64_t TcpReceiver::pending_seq(Level level) const {
  uint64_t newest = 0;
  for (const auto& [id, c] : impl_->conns) {
    if (c.acks && c.acks->level() == level) {
      newest = std::max(newest, c.acks->newest_pending_seq());
    }
  }
  return newest;
}

void TcpReceiver::expire_idle(std::chrono::steady_clock::duration idle) {
  const auto now = std::chrono::steady_clock::now();
  std::vector<uint64_t> refused;
  for (const auto& [id, c] : impl_->conns) {
    if (c.refused && now - c.refused_at >= kRefusedLinger) refused.push_back(id);
  }
  for (uint64_t id : refused) impl_->close_conn(id);
  if (idle.count() <= 0) return;
  std::vector<uint64_t> idle_ids;
  for (const auto& [id, c] : impl_->conns) {
    // Waiting for the store is not idleness; a client that does not read
    // its acks (nothing sent for the timeout) is.
    if (now - c.last_active >= idle && (!c.acks || !c.acks->waiting_for_level())) {
      idle_ids.push_back(id);
    }
  }
  for (uint64_t id : idle_ids) {
    const Connection& c = impl_->conns.at(id);
    ++impl_->counts[c.endpoint].idle_closed;
    impl_->log_close(c, "idle for longer than --idle-timeout");
    impl_->close_conn(id);
  }
}

uint16_t TcpReceiver::port(size_t i) const {
  return impl_->ports[i];
}
const TcpEndpointCounts& TcpReceiver::counts(size_t i) const {
  return impl_->counts[i];
}

}  // namespace reel::net
