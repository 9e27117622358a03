#include "replay/replay_server.h"

#include <arpa/inet.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <list>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "reel/reader.h"
#include "reel/replay_generated.h"
#include "reel/tailer.h"
#include "replay/frame_sender.h"
#include "replay/outgoing.h"
#include "replay/pacer.h"
#include "util/coding.h"
#include "util/log_limit.h"
#include "wal/frame_format.h"
#include "wire/replay_protocol.h"
#include "wire/replay_wire.h"

namespace reel::replay {
namespace {

// How long a subscriber disconnected for lag has, with no progress, to read
// the rest of its message and then the reason (it is behind by the socket
// buffers' worth: on a loaded machine draining them took over 10 s).
constexpr int kLagGraceSeconds = 30;

// Reads n bytes by `deadline` (one deadline for the whole request: a
// client trickling a byte at a time cannot hold a session).
bool recv_all(int fd, uint8_t* p, size_t n, std::chrono::steady_clock::time_point deadline) {
  for (size_t at = 0; at < n;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd pfd{fd, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) return false;
    const ssize_t r = ::recv(fd, p + at, n - at, MSG_DONTWAIT);
    if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (r <= 0) return false;
    at += static_cast<size_t>(r);
  }
  return true;
}

}  // namespace

struct ReplayServer::Impl {
  std::string dir;
  ReplayServerOptions options;
  int listener = -1;
  uint16_t port = 0;
  std::atomic<bool> stop{false};
  std::thread acceptor;
  struct Session {
    std::thread thread;
    std::atomic<bool> finished{false};
  };
  std::mutex mu;  // guards sessions and fds
  std::list<Session> sessions;
  std::set<int> fds;  // open subscriber sockets, shut down at stop
  std::atomic<uint64_t> subscribers{0}, open{0}, refused{0}, bad_requests{0}, lagging{0};
  std::atomic<uint64_t> refused_peers{0};
  std::atomic<uint64_t> frames{0}, bytes{0};
  RateLimitedLog log;

  void accept_loop();
  void serve(int fd);
  Result<Ask> read_request(int fd);
  bool send_header(int fd, const std::string& error);
  void send_error(int fd, const std::string& why);
  // Sends the iovecs in full; false when the subscriber is gone, too far
  // behind (then it was told), or the server stops.
  bool send_batch(Outgoing* out, bool control = false);
  // A heartbeat, unless bytes sent before are still queued.
  bool heartbeat(Outgoing* out);
  // With a paced request: waits until the record stamped `ts_ns` is due
  // (the gathered batch goes out first), sending heartbeats in long gaps.
  bool pace(Outgoing* out, Pacer* pacer, uint64_t ts_ns);
  // Sends what is left of the message a lagging subscriber is inside, then
  // the reason it is disconnected.
  // `via` is the sender whose send stalled (the rest of its message goes
  // by it: a zero-copy frame's pages, a copied control message's bytes).
  void end_lagging(Outgoing* out, FrameSender* via, const std::vector<iovec>& whole,
                   const std::string& why);
  void stream(int fd, const Ask& ask);
};

Result<Ask> ReplayServer::Impl::read_request(int fd) {
  const auto deadline = std::chrono::steady_clock::now() + options.request_timeout;
  uint8_t len_bytes[4];
  if (!recv_all(fd, len_bytes, 4, deadline)) return Status::invalid_argument("no request");
  const uint32_t len = get_u32(len_bytes);
  if (len == 0 || len > kMaxRequestBytes) {
    return Status::invalid_argument("request of " + std::to_string(len) + " bytes (at most " +
                                    std::to_string(kMaxRequestBytes) + ")");
  }
  std::vector<uint8_t> buf(len);
  if (!recv_all(fd, buf.data(), len, deadline)) {
    return Status::invalid_argument("request cut short");
  }
  std::unique_ptr<Reader> reader;  // opened when a stream is named
  return parse_request(buf, [&](std::string_view name) -> Result<std::optional<uint32_t>> {
    if (!reader) {
      auto r = Reader::open(dir);
      if (!r) return r.status();
      reader = std::move(*r);
    }
    return reader->stream_id(name);
  });
}

bool ReplayServer::Impl::send_header(int fd, const std::string& error) {
  uint64_t store_id = 0;
  std::vector<StreamInfo> streams;
  if (auto reader = Reader::open(dir)) {
    if (auto st = (*reader)->stats()) store_id = st->store_id;
    if (auto all = (*reader)->streams(); all && error.empty()) streams = std::move(*all);
  }
  flatbuffers::FlatBufferBuilder b(256);
  const auto err = error.empty() ? 0 : b.CreateString(error);
  std::vector<flatbuffers::Offset<fb::ReplayStream>> table;
  for (const auto& s : streams) {
    table.push_back(fb::CreateReplayStream(b, s.id, b.CreateString(s.name)));
  }
  const auto names = b.CreateVector(table);
  fb::ReplayHeaderBuilder h(b);
  h.add_version(1);
  h.add_store_id(store_id);
  if (!error.empty()) h.add_error(err);
  h.add_streams(names);
  b.Finish(h.Finish());
  uint8_t len[4];
  put_u32(len, static_cast<uint32_t>(b.GetSize()));
  iovec iov[2] = {{len, 4}, {b.GetBufferPointer(), b.GetSize()}};
  msghdr m{};
  m.msg_iov = iov;
  m.msg_iovlen = 2;
  return ::sendmsg(fd, &m, MSG_NOSIGNAL) == static_cast<ssize_t>(4 + b.GetSize());
}

void ReplayServer::Impl::send_error(int fd, const std::string& why) {
  const std::string text = why.substr(0, kMaxErrorBytes);
  uint8_t head[8];
  put_u32(head, kError);
  put_u32(head + 4, static_cast<uint32_t>(text.size()));
  iovec iov[2] = {{head, 8}, {const_cast<char*>(text.data()), text.size()}};
  msghdr m{};
  m.msg_iov = iov;
  m.msg_iovlen = 2;
  (void)::sendmsg(fd, &m, MSG_NOSIGNAL);  // SO_SNDTIMEO bounds it; then the close
}

bool ReplayServer::Impl::send_batch(Outgoing* out, bool control) {
  FrameSender* sender = control ? out->control : out->sender;
  std::vector<iovec>* iov = &out->iov;
  const Tailer& tail = *out->tail;
  const uint64_t last_seq = out->last_seq;
  const std::vector<iovec> whole = *iov;
  const size_t batch = iov_bytes(whole);
  bool started = false;  // some of these bytes went out: no longer on a message boundary
  size_t left = batch;
  auto progress_at = std::chrono::steady_clock::now();
  for (;;) {
    const auto outcome = sender->send(iov, &started, std::chrono::seconds(1));
    if (outcome == FrameSender::Outcome::kSent) break;
    if (outcome == FrameSender::Outcome::kGone || stop.load()) return false;
    // Stalled: the subscriber reads slower than it is sent to. A live
    // follower may lag only so far; a range is the subscriber's to read at
    // its pace, unless it reads nothing at all for long.
    const auto now = std::chrono::steady_clock::now();
    if (const size_t l = iov_bytes(*iov); l != left) {
      left = l;
      progress_at = now;
    }
    const uint64_t lag = tail.watermark() > last_seq ? tail.watermark() - last_seq : 0;
    std::string why;
    if (out->follow && options.max_lag_records != 0 && lag > options.max_lag_records) {
      why = "subscriber is " + std::to_string(lag) +
            " records behind the writer (more than the server's limit of " +
            std::to_string(options.max_lag_records) + ")";
    } else if (!out->follow && now - progress_at >= options.stalled_range_timeout) {
      why = "subscriber read nothing for " + std::to_string(options.stalled_range_timeout.count()) +
            " s";
    }
    if (!why.empty()) {
      ++lagging;
      log.line("lag", "replay: disconnecting a subscriber: " + why);
      end_lagging(out, sender, whole, why);
      return false;
    }
  }
  bytes += batch;
  out->batch = 0;
  out->last_out = std::chrono::steady_clock::now();
  return true;
}

void ReplayServer::Impl::end_lagging(Outgoing* out, FrameSender* stalled,
                                     const std::vector<iovec>& whole, const std::string& why) {
  const std::vector<iovec>* rest = &out->iov;
  // The reason may only go out between messages (inside a frame it would
  // read as damage): first the rest of the message the stream is inside.
  const size_t sent = iov_bytes(whole) - iov_bytes(*rest);
  size_t boundary = 0;  // of the first message ending at or after `sent`
  for (const iovec& v : whole) {
    const auto* p = static_cast<const uint8_t*>(v.iov_base);
    for (size_t at = 0; at < v.iov_len && boundary < sent;) {
      const size_t n = message_bytes(p + at);
      at += n;
      boundary += n;
    }
    if (boundary >= sent) break;
  }
  std::vector<iovec> part;
  for (size_t want = boundary - sent; want > 0 && part.size() < rest->size();) {
    iovec v = (*rest)[part.size()];
    v.iov_len = std::min(v.iov_len, want);
    want -= v.iov_len;
    part.push_back(v);
  }
  const std::string text = why.substr(0, kMaxErrorBytes);
  uint8_t head[8];
  put_u32(head, kError);
  put_u32(head + 4, static_cast<uint32_t>(text.size()));
  std::vector<iovec> reason = {{head, sizeof head}, {const_cast<char*>(text.data()), text.size()}};
  // A subscriber that reads again within the grace gets the rest of its
  // message, then the reason; one that does not is closed without it (the
  // log has it). The reason is copied into the socket (control).
  bool started = false;
  for (int waited = 0; waited < kLagGraceSeconds && !stop.load(); ++waited) {
    const bool rest_left = !part.empty();
    FrameSender* via = rest_left ? stalled : out->control;
    const auto outcome = via->send(rest_left ? &part : &reason, &started, std::chrono::seconds(1));
    if (outcome == FrameSender::Outcome::kGone) break;
    if (outcome == FrameSender::Outcome::kSent && !rest_left) break;
    if (outcome == FrameSender::Outcome::kSent) waited = -1;  // the reason gets its own grace
  }
}

void ReplayServer::Impl::stream(int fd, const Ask& ask) {
  Tailer::Options to = ask.tail;
  to.reader.leave_checksums = true;  // every subscriber checks each frame's CRC32C itself
  auto tail = Tailer::open(dir, to);
  if (!tail) return send_error(fd, tail.status().to_string());
  // Declared after the Tailer, so destroyed (and drained: zero-copy sends
  // read the mapping until the kernel lets go) while the mapping lives.
  auto sender = FrameSender::make(fd, options.send_mode);
  if (!sender) return send_error(fd, sender.status().to_string());
  auto control = FrameSender::make(fd, SendMode::kCopy);
  if (!control) return send_error(fd, control.status().to_string());
  Outgoing out{fd, sender->get(), control->get(), tail->get(), ask.follow};
  std::optional<Pacer> pacer;
  if (ask.speed > 0) pacer.emplace(ask.speed, 0, mono_ns(), 0);  // sleeps only: no spinning
  // Without follow the range ends at what is there now.
  const uint64_t end = ask.follow ? UINT64_MAX : (*tail)->watermark();
  const uint64_t last_wanted = ask.to_seq != 0 ? std::min(end, ask.to_seq) : end;
  RecordView v;
  while (!stop.load()) {
    const auto wait =
        out.iov.empty() ? std::chrono::nanoseconds(options.heartbeat) : std::chrono::nanoseconds(0);
    const bool got = (*tail)->next_seq() <= last_wanted && (*tail)->next(&v, wait);
    if (got && v.seq() <= last_wanted) {
      if ((ask.streams.empty() || ask.streams.count(v.stream())) &&
          (ask.to_ts == 0 || v.ts_ns() <= ask.to_ts)) {
        if (pacer && !pace(&out, &*pacer, v.ts_ns())) return;
        out.add(v);
        ++frames;
      }
      out.last_seq = v.seq();
      // Records another subscriber wants (a filter) can flow for long: what
      // is gathered, or a heartbeat, still goes out when nothing did for a
      // while (a batch holds whole frames: this is between messages).
      if ((++out.examined & 4095) == 0 &&
          std::chrono::steady_clock::now() - out.last_out >= options.heartbeat &&
          !(out.iov.empty() ? heartbeat(&out) : send_batch(&out))) {
        return;
      }
      if (!out.full() && !pacer) continue;
    } else if (!(*tail)->status()) {
      if (!out.iov.empty() && !send_batch(&out)) return;
      return send_error(fd, (*tail)->status().to_string());
    }
    if (!out.iov.empty()) {
      if (!send_batch(&out)) return;
      continue;
    }
    if ((*tail)->next_seq() > last_wanted) {  // the range is complete
      uint8_t end_msg[12];
      put_u32(end_msg, kEnd);
      encode_fixed64(end_msg + 4, out.last_sent);
      out.iov.push_back({end_msg, sizeof end_msg});
      (void)send_batch(&out, true);  // waits out a full socket like frames
      return;
    }
    if (!got && !heartbeat(&out)) return;
  }
}

bool ReplayServer::Impl::heartbeat(Outgoing* out) {
  int unsent = 0;  // a heartbeat only when everything sent has left
  if (::ioctl(out->fd, SIOCOUTQ, &unsent) != 0 || unsent != 0) return true;
  out->iov.push_back({const_cast<uint8_t*>(kHeartbeatBytes), sizeof kHeartbeatBytes});
  return send_batch(out, true);
}

bool ReplayServer::Impl::pace(Outgoing* out, Pacer* pacer, uint64_t ts_ns) {
  const uint64_t due = pacer->due(ts_ns);
  if (!pacer->must_wait(due)) return true;
  if (!out->iov.empty() && !send_batch(out)) return false;  // what is due leaves first
  const auto beat = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(options.heartbeat).count());
  for (;;) {  // a long gap: heartbeats meanwhile, or the subscriber takes us for gone
    const uint64_t next_beat = mono_ns() + beat;
    if (!pacer->wait_until(std::min(due, next_beat), stop)) return false;
    if (!pacer->must_wait(due)) return true;
    if (!heartbeat(out)) return false;
  }
}

void ReplayServer::Impl::serve(int fd) {
  const timeval one_second{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &one_second, sizeof one_second);
  auto ask = read_request(fd);
  if (!ask) {
    ++bad_requests;
    // The message may quote the request: escaped and cut.
    log.line("request", "replay: closing a subscriber: " + printable(ask.status().message()));
    (void)send_header(fd, ask.status().message());
    ::shutdown(fd, SHUT_WR);  // the header, then FIN; read what is left so no RST eats it
    char sink[4096];
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    while (recv_all(fd, reinterpret_cast<uint8_t*>(sink), 1, until)) {
    }
    return;
  }
  if (!send_header(fd, "")) return;
  stream(fd, *ask);
}

void ReplayServer::Impl::accept_loop() {
  while (!stop.load()) {
    pollfd p{listener, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    const int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {  // out of descriptors, say: do not spin on a readable listener
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    if (std::string peer; !options.allow.allows_socket(fd, &peer)) {
      ++refused_peers;
      log.line("allow",
               "replay: refusing " + peer + ": not in --allow " + options.allow.describe());
      ::close(fd);
      continue;
    }
    ++subscribers;
    std::lock_guard<std::mutex> guard(mu);
    if (open.load() >= options.max_subscribers) {
      ++refused;
      ::close(fd);
      continue;
    }
    for (auto it = sessions.begin(); it != sessions.end();) {  // reap finished ones
      if (it->finished.load()) {
        it->thread.join();
        it = sessions.erase(it);
      } else {
        ++it;
      }
    }
    ++open;
    fds.insert(fd);
    Session& session = sessions.emplace_back();
    session.thread = std::thread([this, fd, &session] {
      ::pthread_setname_np(::pthread_self(), "reel-replay");
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      const int sndbuf = 4 << 20;
      ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
      serve(fd);
      std::lock_guard<std::mutex> g(mu);
      fds.erase(fd);
      ::close(fd);
      --open;
      session.finished.store(true);
    });
  }
}

ReplayServer::ReplayServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ReplayServer::~ReplayServer() {
  impl_->stop.store(true);
  if (impl_->acceptor.joinable()) impl_->acceptor.join();
  {
    std::lock_guard<std::mutex> guard(impl_->mu);
    for (int fd : impl_->fds) ::shutdown(fd, SHUT_RDWR);  // wakes blocked sends and reads
  }
  for (auto& session : impl_->sessions) session.thread.join();
  ::close(impl_->listener);
}

Result<std::unique_ptr<ReplayServer>> ReplayServer::start(const std::string& dir,
                                                          const ReplayServerOptions& options) {
  auto probe = Reader::open(dir);
  if (!probe) return probe.status();
  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  impl->options = options;
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::from_errno("--replay: socket", errno);
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(options.port);
  if (inet_pton(AF_INET, options.address.c_str(), &a.sin_addr) != 1) {
    ::close(fd);
    return Status::invalid_argument("--replay: bad address '" + options.address + "'");
  }
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 64) != 0) {
    const int err = errno;
    ::close(fd);
    return Status::from_errno(
        "--replay: bind " + options.address + ":" + std::to_string(options.port), err);
  }
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  impl->listener = fd;
  impl->port = ntohs(a.sin_port);
  Impl* raw = impl.get();
  impl->acceptor = std::thread([raw] { raw->accept_loop(); });
  return std::unique_ptr<ReplayServer>(new ReplayServer(std::move(impl)));
}

uint16_t ReplayServer::port() const {
  return impl_->port;
}

ReplayServerCounts ReplayServer::counts() const {
  ReplayServerCounts c;
  c.subscribers = impl_->subscribers.load();
  c.open = impl_->open.load();
  c.refused = impl_->refused.load();
  c.bad_requests = impl_->bad_requests.load();
  c.lagging = impl_->lagging.load();
  c.refused_peers = impl_->refused_peers.load();
  c.frames = impl_->frames.load();
  c.bytes = impl_->bytes.load();
  return c;
}

}  // namespace reel::replay
