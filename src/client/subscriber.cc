#include "reel/subscriber.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "client/connect.h"
#include "reel/replay_generated.h"
#include "wire/replay_protocol.h"
#include "wire/replay_wire.h"

namespace reel {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::chrono::seconds kSilence{5};
constexpr size_t kBufferBytes = 1 << 20;  // what one recv may take

// Milliseconds left until `deadline` for poll(): -1 for none, at least 0.
int ms_left(Clock::time_point deadline, bool none) {
  if (none) return -1;
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::max<int64_t>(0, left.count()));
}

}  // namespace

struct Subscriber::Impl {
  std::string peer;
  SubscribeOptions options;
  int fd = -1;
  std::vector<uint8_t> buf;
  size_t start = 0, end = 0;  // unread bytes: buf[start, end)
  Status status;
  bool done = false;
  uint64_t last_seq = 0, reconnects = 0;
  uint64_t store_id = 0;  // of the first server answer: a resume must find the same store
  std::map<uint32_t, std::string> stream_names;
  Clock::time_point last_rx{};

  ~Impl() {
    if (fd >= 0) ::close(fd);
  }
  Status open_connection();
  Status read_header(Clock::time_point deadline);
  // Reads until `need` unread bytes are there. kOk; kBusy at the deadline;
  // kIoError when the connection ended.
  Status fill(size_t need, Clock::time_point deadline, bool no_deadline);
  void drop_connection() {
    if (fd >= 0) ::close(fd);
    fd = -1;
    start = end = 0;
  }
  // One message; true with *out set when it was a record.
  Status take(RecordView* out, bool* got, Clock::time_point deadline, bool no_deadline);
};

Status Subscriber::Impl::open_connection() {
  auto fd_or = client::connect_to(peer, options.connect_timeout);
  if (!fd_or) return fd_or.status();
  fd = *fd_or;
  last_rx = Clock::now();
  flatbuffers::FlatBufferBuilder b(256);
  std::vector<flatbuffers::Offset<flatbuffers::String>> names;
  for (const auto& s : options.streams) names.push_back(b.CreateString(s));
  const auto streams = names.empty() ? 0 : b.CreateVector(names);
  fb::ReplayRequestBuilder r(b);
  r.add_version(1);
  r.add_from_seq(last_seq > 0 ? last_seq + 1 : options.from_seq);
  r.add_from_ts_ns(last_seq > 0 ? 0 : options.from_ts_ns);
  r.add_to_seq(options.to_seq);
  r.add_to_ts_ns(options.to_ts_ns);
  r.add_follow(options.follow);
  if (!names.empty()) r.add_streams(streams);
  r.add_level(options.level == Level::kDurable ? fb::ReplayLevel::Durable
                                               : fb::ReplayLevel::Written);
  r.add_speed(options.speed);
  fb::FinishReplayRequestBuffer(b, r.Finish());
  if (b.GetSize() > replay::kMaxRequestBytes) {
    return Status::invalid_argument(peer + ": the request (" + std::to_string(b.GetSize()) +
                                    " bytes, the stream names) is over 64 KiB");
  }
  std::vector<uint8_t> msg(4 + b.GetSize());
  replay::put_u32(msg.data(), static_cast<uint32_t>(b.GetSize()));
  std::memcpy(msg.data() + 4, b.GetBufferPointer(), b.GetSize());
  for (size_t at = 0; at < msg.size();) {
    pollfd p{fd, POLLOUT, 0};
    ::poll(&p, 1, 1000);
    const ssize_t w = ::send(fd, msg.data() + at, msg.size() - at, MSG_NOSIGNAL);
    if (w < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (w <= 0) return Status::from_errno(peer + ": sending the request", errno);
    at += static_cast<size_t>(w);
  }
  return read_header(Clock::now() + options.connect_timeout);
}

Status Subscriber::Impl::read_header(Clock::time_point deadline) {
  if (Status s = fill(4, deadline, false); !s) return Status::io_error(peer + ": no answer");
  const uint32_t len = replay::get_u32(&buf[start]);
  if (len == 0 || len > replay::kMaxHeaderBytes) {
    return Status::corruption(peer + ": bad replay header length " + std::to_string(len));
  }
  if (Status s = fill(4 + len, deadline, false); !s) return Status::io_error(peer + ": no header");
  auto h = replay::parse_header({&buf[start + 4], len});
  if (!h) return Status::corruption(peer + ": " + h.status().message());
  if (!h->error.empty()) return Status::invalid_argument(peer + ": " + h->error);
  if (h->version != 1) {
    return Status::invalid_argument(peer + ": replay protocol version " +
                                    std::to_string(h->version) + " (this client speaks 1)");
  }
  if (store_id != 0 && h->store_id != store_id) {
    return Status::invalid_argument(
        peer + ": now serves another store (id " + std::to_string(h->store_id) + ", was " +
        std::to_string(store_id) + "); not resuming after seq " + std::to_string(last_seq));
  }
  store_id = h->store_id;
  for (auto& [id, name] : h->streams) stream_names[id] = std::move(name);
  start += 4 + len;
  return Status::ok();
}

Status Subscriber::Impl::fill(size_t need, Clock::time_point deadline, bool no_deadline) {
  if (start > 0 && (start == end || buf.size() - start < need)) {
    std::memmove(buf.data(), buf.data() + start, end - start);  // keep the unread bytes
    end -= start;
    start = 0;
  }
  if (buf.size() < start + need) buf.resize(std::max<size_t>(start + need, kBufferBytes));
  while (end - start < need) {
    // Read first, wait only when nothing is there: one syscall a fill
    // while the stream flows.
    const ssize_t n = ::recv(fd, buf.data() + end, buf.size() - end, MSG_DONTWAIT);
    if (n > 0) {
      end += static_cast<size_t>(n);
      last_rx = Clock::now();
      continue;
    }
    if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
      return Status::io_error(peer + ": connection ended");
    }
    // The server speaks at least every second (heartbeats): silence this
    // long means a dead peer or path, and a reconnect.
    const auto silent_at = last_rx + kSilence;
    const bool deadline_first = !no_deadline && deadline < silent_at;
    pollfd p{fd, POLLIN, 0};
    const int rc = ::poll(&p, 1, ms_left(deadline_first ? deadline : silent_at, false));
    if (rc == 0 && deadline_first) return Status::busy(peer + ": nothing yet");
    if (rc == 0 && Clock::now() >= silent_at) {
      return Status::io_error(peer + ": silent for " + std::to_string(kSilence.count()) + " s");
    }
  }
  return Status::ok();
}

Status Subscriber::Impl::take(RecordView* out, bool* got, Clock::time_point deadline,
                              bool no_deadline) {
  *got = false;
  for (;;) {
    auto m = replay::parse_message({buf.data() + start, end - start}, last_seq);
    if (!m) return Status::corruption(peer + ": " + m.status().message());
    using Kind = replay::Message::Kind;
    if (m->kind == Kind::kNeedMore) {
      if (Status s = fill(m->bytes, deadline, no_deadline); !s) return s;
      continue;
    }
    start += m->bytes;
    switch (m->kind) {
      case Kind::kFrame:
        *out = m->record;
        last_seq = out->seq();
        *got = true;
        return Status::ok();
      case Kind::kEnd:
        done = true;
        return Status::ok();
      case Kind::kError:
        return Status::failed(peer + ": " + m->error);
      default:
        return Status::ok();  // a heartbeat
    }
  }
}

Subscriber::Subscriber(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Subscriber::~Subscriber() = default;

Result<std::unique_ptr<Subscriber>> Subscriber::connect(const std::string& host_port,
                                                        const SubscribeOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->peer = host_port;
  impl->options = options;
  if (Status s = impl->open_connection(); !s) return s;
  return std::unique_ptr<Subscriber>(new Subscriber(std::move(impl)));
}

bool Subscriber::next(RecordView* out, std::chrono::nanoseconds timeout) {
  Impl& m = *impl_;
  if (!m.status || m.done) return false;
  const bool no_deadline = timeout.count() < 0;
  const auto deadline = no_deadline
                            ? Clock::time_point{}
                            : Clock::now() + std::chrono::duration_cast<Clock::duration>(timeout);
  for (;;) {
    if (m.fd < 0) {  // reconnecting
      if (Status s = m.open_connection(); !s) {
        m.drop_connection();
        if (s.code() == Code::kInvalidArgument) {  // the server refused the request
          m.status = s;
          return false;
        }
        if (!no_deadline && Clock::now() >= deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        continue;
      }
      ++m.reconnects;
    }
    bool got = false;
    Status s = m.take(out, &got, deadline, no_deadline);
    if (got) return true;
    if (m.done) return false;
    if (s) {  // a heartbeat: a server that sends nothing else still ends the wait
      if (!no_deadline && Clock::now() >= deadline) return false;
      continue;
    }
    if (s.code() == Code::kBusy) return false;  // the timeout
    if (s.code() == Code::kIoError && m.options.reconnect) {
      m.drop_connection();  // the server went away: ask again after last_seq
      continue;
    }
    m.status = s;
    return false;
  }
}

bool Subscriber::done() const {
  return impl_->done;
}
const Status& Subscriber::status() const {
  return impl_->status;
}
uint64_t Subscriber::last_seq() const {
  return impl_->last_seq;
}
const std::map<uint32_t, std::string>& Subscriber::stream_names() const {
  return impl_->stream_names;
}
uint64_t Subscriber::reconnects() const {
  return impl_->reconnects;
}

}  // namespace reel
