// The writer's front: append() and publish() (producers), wait(), close(),
// and the Store methods. The stages are journal_stage.cc and index_stage.cc,
// their health store_health.cc, opening store_open.cc.
#include "reel/store.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <string>

#include <spdlog/spdlog.h>

#include "store/store_impl.h"
#include "store/store_internal.h"

namespace reel {
namespace {

// Per producer thread: the frame builder.
thread_local wal::FrameEncoder t_encoder;

}  // namespace

Result<uint64_t> Store::Impl::publish(wal::RecordFields& fields, bool fail_if_full) {
  wal::FrameEncoder& encoder = t_encoder;
  const size_t bytes = encoder.prepare(fields);
  if (bytes > ring->max_record_bytes()) {
    return Status::invalid_argument(
        "record of " + std::to_string(fields.payload.size() + fields.key.size()) +
        " bytes needs a frame of " + std::to_string(bytes) + " bytes; the largest that fits is " +
        std::to_string(ring->max_record_bytes()) +
        " (half the ring, which is at most the segment "
        "size of " +
        std::to_string(options.segment_bytes_max) + " bytes)");
  }
  pipeline::FrameRing::Claim claim;
  for (;;) {
    const auto got = ring->try_claim(bytes, &claim);
    if (got == pipeline::FrameRing::ClaimStatus::kOk) break;
    if (got == pipeline::FrameRing::ClaimStatus::kClosed) {
      return Status::failed(paths.root + ": store is closed");
    }
    // A full ring: everything claimed is wanted indexed now (index_now()),
    // not after the index thread's batching delay.
    index_stage->request(ring->next_seq() - 1);
    if (fail_if_full) return Status::busy(paths.root + ": the ring is full");
    const auto h = health.state();
    if (h == store::StageHealth::kFailed) return failure_status();
    if (h == store::StageHealth::kStalled) return stall_status();
    if (closing_.load()) return Status::failed(paths.root + ": store is closed");
    space.wait_for(
        [&] {
          return ring->has_space_for(bytes) || health.state() != store::StageHealth::kHealthy;
        },
        std::chrono::milliseconds(100));
  }
  encoder.set_seq(claim.seq);
  const auto segment_no = base_segment_no + static_cast<uint32_t>(ring->segment_of(claim.position));
  const uint32_t word = encoder.write_unpublished(segment_no, {claim.data, claim.bytes});
  ring->publish(claim, word);
  journal->published(claim.position);
  return claim.seq;
}

Result<uint64_t> Store::Impl::append(std::string_view stream, std::string_view payload,
                                     const AppendOptions& ao) {
  if (payload.size() + ao.key.size() > options.max_record_bytes) {
    return Status::invalid_argument("record of " + std::to_string(payload.size() + ao.key.size()) +
                                    " bytes exceeds max_record_bytes " +
                                    std::to_string(options.max_record_bytes));
  }
  if (ao.key.size() > index::kMaxKeyBytes) {
    return Status::invalid_argument("key of " + std::to_string(ao.key.size()) +
                                    " bytes exceeds the limit of " +
                                    std::to_string(index::kMaxKeyBytes));
  }
  if (stream.empty() || stream.size() > wal::kMaxStreamNameBytes) {
    return Status::invalid_argument("stream name must be 1 to 255 bytes");
  }
  if (closing_.load(std::memory_order_relaxed)) {
    return Status::failed(paths.root + ": store is closed");
  }
  if (health.state() == store::StageHealth::kFailed) return failure_status();
  wal::RecordFields fields;
  fields.ts_ns = ao.ts_ns != 0 ? ao.ts_ns : store::now_ns();
  fields.source_seq = ao.source_seq;
  fields.key = ao.key;
  fields.payload = payload;
  if (auto id = streams.find(stream)) {
    fields.stream = *id;
    return publish(fields, ao.fail_if_full);
  }
  // A new stream's first record (is_new) declares the name; the registry
  // publishes it under its lock (stream_registry.h).
  return streams.find_or_publish(stream, [&](uint32_t id, bool is_new) {
    fields.stream = id;
    if (is_new) fields.stream_name = stream;
    return publish(fields, ao.fail_if_full);
  });
}

// While the disk is full: asks the journal thread to retry the segment
// creation now and waits for that attempt, so that a wait right after space
// returns does not see the old stall. False if the disk is still full.
bool Store::Impl::retried_since_stall(uint64_t seq, Level level) {
  const uint64_t before = journal->steps();
  journal->retry_now();
  // Two finished steps: the second began after the request.
  while (journal->steps() < before + 2 && !journal->done()) {
    const uint32_t epoch = head.epoch();
    if (level_seq(level) >= seq) return true;
    if (journal->steps() >= before + 2) break;
    head.wait_for_change(epoch, std::chrono::milliseconds(10));
  }
  return health.state() != store::StageHealth::kStalled;
}

uint64_t Store::Impl::level_seq(Level level) const {
  switch (level) {
    case Level::kWritten:
      return head.written_seq();
    case Level::kIndexed:
      return head.indexed_seq();
    case Level::kDurable:
      break;
  }
  return head.durable_seq();
}

Status Store::Impl::not_appended(uint64_t seq) const {
  return Status::invalid_argument(paths.root + ": seq " + std::to_string(seq) +
                                  " has not been appended (the last is " +
                                  std::to_string(ring->next_seq() - 1) + ")");
}

Status Store::Impl::request(uint64_t seq, Level level) {
  if (seq >= ring->next_seq()) return not_appended(seq);
  if (level == Level::kDurable && level_seq(level) < seq) journal->request_sync(seq);
  if (level == Level::kIndexed && level_seq(level) < seq) index_stage->request(seq);
  return Status::ok();
}

Status Store::Impl::wait(uint64_t seq, Level level, std::chrono::nanoseconds timeout) {
  if (seq >= ring->next_seq()) return not_appended(seq);
  // An untimed wait for kDurable on a healthy store writes and syncs on
  // this thread. A timed one only asks: leading could hold it through a
  // write and an fdatasync, past its timeout.
  if (level == Level::kDurable && level_seq(level) < seq && timeout.count() < 0 &&
      health.state() == store::StageHealth::kHealthy && journal->lead_sync(seq)) {
    return Status::ok();
  }
  (void)request(seq, level);
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    const uint32_t epoch = head.epoch();
    if (level_seq(level) >= seq) return Status::ok();
    const auto h = health.state();
    if (h == store::StageHealth::kFailed) return failure_status();
    if (h == store::StageHealth::kStalled && !retried_since_stall(seq, level))
      return stall_status();
    if (journal->done()) {
      return Status::failed(paths.root + ": store is closed before seq " + std::to_string(seq) +
                            " was reached");
    }
    auto left = std::chrono::nanoseconds(std::chrono::milliseconds(100));
    if (timeout.count() >= 0) {
      const auto spent = std::chrono::steady_clock::now() - start;
      if (spent >= timeout) {
        return Status::busy(paths.root + ": timed out waiting for seq " + std::to_string(seq));
      }
      left = std::min<std::chrono::nanoseconds>(left, timeout - spent);
    }
    head.wait_for_change(epoch, left);
  }
}

Status Store::Impl::close() {
  {
    MutexLock guard(close_mu);
    if (closed) return Status::ok();
    closed = true;
  }
  closing_.store(true);
  // No claim after this one: the journal thread, told to stop below, waits
  // for every record claimed before it to be published, and writes it. (An
  // append past its `closing` check could otherwise claim after the journal
  // thread's last look, and close() would report it unwritten.)
  ring->close_claims();
  journal->stop();
  index_stage->nudge();
  journal->join();
  index_stage->join();
  Status s;
  // A leader (lead_sync) that took the journal lock before the stop may
  // still hold it: the journal stage's calls below wait for it.
  const uint64_t unwritten = ring->next_seq() - 1 - journal->written_seq();
  if (health.state() == store::StageHealth::kFailed) {
    s = failure_status();
  } else if (unwritten != 0) {
    s = stall_status();
    if (s) s = Status::failed("the pipeline stopped early");
    s = s.with_context(paths.root + ": " + std::to_string(unwritten) +
                       " appended records were not written");
  }
  s = journal->finish(s, options.sync.mode != SyncPolicy::Mode::kNone);
  Status s2 = index->sync();
  if (s2) head.mark_index_clean();
  if (s && s2) s2 = head.mark_clean_shutdown();
  head.notify();
  journal->release_writer();
  env->unregister_buffer();  // before the ring's memory goes (io_env.h)
  head.end_writer_session();
  lock.release();  // last: everything above is done before another writer may open
  return s ? s2 : s;
}

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Store::~Store() {
  Status s = close();
  if (!s) spdlog::error("{}: close: {}", impl_->paths.root, s.to_string());
}

Result<std::unique_ptr<Store>> Store::open(const std::string& dir, const StoreOptions& options) {
  auto env = wal::make_uring_env();
  if (!env) return env.status();
  return store::open_store_with_env(dir, options, std::move(*env));
}

Result<uint64_t> Store::append(std::string_view stream, std::string_view payload,
                               const AppendOptions& ao) {
  return impl_->append(stream, payload, ao);
}

Status Store::wait(uint64_t seq, Level level, std::chrono::nanoseconds timeout) {
  return impl_->wait(seq, level, timeout);
}

Status Store::request(uint64_t seq, Level level) {
  return impl_->request(seq, level);
}

Status Store::flush() {
  const uint64_t last = last_seq();
  Status s = impl_->wait(last, Level::kIndexed, std::chrono::nanoseconds(-1));
  if (s && impl_->options.sync.mode == SyncPolicy::Mode::kAlways) {
    s = impl_->wait(last, Level::kDurable, std::chrono::nanoseconds(-1));
  }
  return s;
}

Status Store::sync() {
  const uint64_t last = last_seq();
  Status s = impl_->wait(last, Level::kIndexed, std::chrono::nanoseconds(-1));
  if (s) s = impl_->wait(last, Level::kDurable, std::chrono::nanoseconds(-1));
  return s;
}

Status Store::close() {
  return impl_->close();
}

Watermarks Store::watermarks() const {
  return impl_->head.watermarks();
}

uint64_t Store::wal_syncs() const {
  return impl_->journal->wal_syncs();
}

RingFill Store::ring_fill() const {
  RingFill f;
  f.used_bytes = impl_->ring->used_bytes();
  f.capacity_bytes = impl_->ring->capacity();
  const uint64_t last = last_seq(), written = impl_->head.watermarks().written_seq;
  f.unwritten_records = last > written ? last - written : 0;
  return f;
}

uint64_t Store::last_seq() const {
  return impl_->ring->next_seq() - 1;
}

const std::string& Store::dir() const {
  return impl_->paths.root;
}

}  // namespace reel
