#include "reel/store.h"

#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <bit>
#include <ctime>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include <spdlog/spdlog.h>

#include "index/index.h"
#include "pipeline/journaller.h"
#include "pipeline/ring_indexer.h"
#include "ring/wait_strategy.h"
#include "store/head_file.h"
#include "store/recovery.h"
#include "store/store_dir.h"
#include "store/store_internal.h"
#include "util/embedded_schema.h"
#include "wal/frame.h"
#include "wal/segment_writer.h"

namespace reel {
namespace {

uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

uint64_t random_store_id() {
  uint64_t id = 0;
  while (id == 0) {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    id = (static_cast<uint64_t>(::getpid()) << 40) ^ static_cast<uint64_t>(ts.tv_nsec) ^
         (static_cast<uint64_t>(ts.tv_sec) << 20) ^ now_ns() * 0x9E3779B97F4A7C15ull;
  }
  return id;
}

// A unique number per opened store, so that threads' caches of stream ids
// never mistake a new store for a closed one at the same address.
std::atomic<uint64_t> g_store_instances{0};

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
};
using StreamMap = std::unordered_map<std::string, uint32_t, StringHash, std::equal_to<>>;

// Per producer thread: the frame builder and the stream ids it has seen.
struct ProducerState {
  wal::FrameEncoder encoder;
  uint64_t instance = 0;
  StreamMap streams;
};
thread_local ProducerState t_producer;

ring::WaitMode wait_mode(WaitStrategy w) {
  switch (w) {
    case WaitStrategy::kBusySpin:
      return ring::WaitMode::kBusySpin;
    case WaitStrategy::kYielding:
      return ring::WaitMode::kYield;
    case WaitStrategy::kBlocking:
      break;
  }
  return ring::WaitMode::kBlock;
}

void atomic_max(std::atomic<uint64_t>& a, uint64_t v) {
  uint64_t cur = a.load(std::memory_order_relaxed);
  while (cur < v && !a.compare_exchange_weak(cur, v, std::memory_order_acq_rel)) {
  }
}

}  // namespace

// Everything a writer owns, and the pipeline:
//
//   append() ──► FrameRing ──► journal thread ──► index thread
//   (any thread)               (Journaller:        (RingIndexer:
//                               WAL, fdatasync)     LMDB)
//
// Producers claim, build and publish frames in the ring; the journal thread
// writes them and syncs by the policy; the index thread indexes them and
// frees the ring space. Watermarks go to the head file, and every move wakes
// the head file's futex (waiters here and tailers in other processes).
struct Store::Impl final : pipeline::JournalListener {
  StoreOptions options;
  store::StorePaths paths;
  store::WriterLock lock;
  store::HeadFile head;
  std::unique_ptr<wal::IoEnv> env;
  std::unique_ptr<index::Index> index;
  std::unique_ptr<wal::SegmentWriter> writer;
  std::string boot_id;
  uint64_t store_id = 0;
  const uint64_t instance = ++g_store_instances;

  std::unique_ptr<pipeline::FrameRing> ring;
  std::unique_ptr<pipeline::Journaller> journaller;
  std::unique_ptr<pipeline::RingIndexer> indexer;
  uint32_t base_segment_no = 0;
  ring::Waiter published;  // the journal thread sleeps here; producers wake it
  ring::Waiter released;   // the index thread sleeps here; the journal thread wakes it
  ring::Waiter space;      // producers wait for ring space; the index thread wakes them
  std::thread journal_thread, index_thread;
  std::atomic<bool> closing{false}, stop_journal{false};
  std::atomic<bool> journal_done{false};
  std::atomic<uint64_t> sync_request{0};   // wait(kDurable) asks for an fdatasync up to here
  std::atomic<bool> retry_now{false};      // a waiter asks a stalled journaller to retry now
  std::atomic<uint64_t> journal_steps{0};  // steps the journal thread has finished

  // Health: set by the stages, read by producers and waiters.
  enum Health : int { kHealthy = 0, kStalled = 1, kFailed = 2 };
  std::atomic<int> health{kHealthy};
  mutable std::mutex status_mu;
  Status failure;  // guarded by status_mu
  Status stall;    // guarded by status_mu
  bool failure_reported = false;

  std::mutex streams_mu;  // new streams only
  StreamMap stream_ids;   // guarded by streams_mu
  uint32_t next_stream_id = 1;

  std::mutex close_mu;
  bool closed = false;

  explicit Impl(const std::string& dir, const StoreOptions& o)
      : options(o),
        paths(dir),
        published(wait_mode(o.wait_strategy)),
        released(wait_mode(o.wait_strategy)),
        space(wait_mode(o.wait_strategy)) {}

  Status open_locked();
  Status load_streams();
  Status start_pipeline(const store::RecoveryResult& recovered);
  Result<uint64_t> append(std::string_view stream, std::string_view payload,
                          const AppendOptions& ao);
  Result<uint64_t> publish(wal::RecordFields& fields, bool fail_if_full);
  Status wait(uint64_t seq, Level level, std::chrono::nanoseconds timeout);
  uint64_t level_seq(Level level) const;
  bool retried_since_stall(uint64_t seq, Level level);
  void journal_loop();
  void index_loop();
  Status close();

  void set_failure(const Status& s);
  Status failure_status();
  Status stall_status() const {
    std::lock_guard<std::mutex> guard(status_mu);
    return stall;
  }

  // JournalListener (journal thread).
  // Each watermark move wakes waiters and tailers at once (before any sync
  // that follows the write in the same step).
  void on_written(uint64_t seq) override {
    head.set_written_seq(seq);
    head.notify();
  }
  void on_durable(uint64_t seq) override {
    head.set_durable_seq(seq);
    head.notify();
  }
  void on_segment(uint64_t segment_index, uint64_t first_seq) override {
    indexer->note_segment(segment_index, first_seq);
  }
  void on_failure(const Status& s) override { set_failure(s); }
};

void Store::Impl::set_failure(const Status& s) {
  {
    std::lock_guard<std::mutex> guard(status_mu);
    if (failure.is_ok()) failure = s;
  }
  health.store(kFailed, std::memory_order_release);
  head.notify();
  space.notify();
}

// The first caller to see a failure gets the error itself; later calls get
// kFailed: the store has stopped acknowledging anything (rule 7).
Status Store::Impl::failure_status() {
  std::lock_guard<std::mutex> guard(status_mu);
  if (!failure_reported) {
    failure_reported = true;
    return failure;
  }
  return Status::failed(paths.root + ": the store stopped after an error: " + failure.to_string());
}

Status Store::Impl::load_streams() {
  std::vector<StreamInfo> streams;
  Status s = index->streams(&streams);
  if (!s) return s;
  for (const auto& info : streams) {
    stream_ids[info.name] = info.id;
    next_stream_id = std::max(next_stream_id, info.id + 1);
  }
  return Status::ok();
}

Status Store::Impl::open_locked() {
  Status s = store::create_layout(paths);
  if (!s) return s;
  s = lock.acquire(paths.lock);
  if (!s) return s;
  // Store id: the head file's, else the first segment's (recovery), else new.
  store::HeadFile probe;
  if (probe.open_for_read(paths.head)) store_id = probe.store_id();
  const bool rebuild_after_reboot =
      probe.is_open() && probe.index_dirty() && probe.boot_id() != store::boot_id();
  auto idx = index::Index::open(paths.index, false, options.index_map_bytes);
  if (!idx) return idx.status();
  index = std::move(*idx);
  if (rebuild_after_reboot) {
    spdlog::warn(
        "recovery: {}: the machine restarted while the index had unsynced commits; "
        "rebuilding the index",
        paths.root);
  }
  auto recovered = store::recover(paths, env.get(), index.get(), &store_id, options.recovery,
                                  rebuild_after_reboot, probe.is_open() && probe.clean_shutdown());
  if (!recovered) return recovered.status();
  if (store_id == 0) store_id = random_store_id();
  s = index->set_store_id(store_id);
  if (s) s = index->sync();
  if (s) s = head.open_for_write(paths.head, store_id);
  if (!s) return s;
  const std::string bfbs(reinterpret_cast<const char*>(embedded::kRecordBfbs),
                         embedded::kRecordBfbsSize);
  auto existing = store::read_file(paths.schemas + "/record.bfbs");
  if (!existing || *existing != bfbs) {
    s = store::write_file_atomic(paths.schemas + "/record.bfbs", bfbs);
    if (!s) return s;
  }
  boot_id = store::boot_id();
  // Watermarks first: a reader that sees this session live must not judge
  // the WAL against a crashed session's watermarks.
  const uint64_t last = recovered->last_seq;
  head.set_written_seq(last);
  head.set_indexed_seq(last);
  head.set_durable_seq(last);
  head.mark_index_clean();
  head.begin_writer_session(static_cast<uint64_t>(::getpid()), boot_id);
  s = load_streams();
  if (!s) return s;
  return start_pipeline(*recovered);
}

Status Store::Impl::start_pipeline(const store::RecoveryResult& recovered) {
  const uint64_t segment_bytes = options.segment_bytes_max;
  // Ring positions are WAL positions (ring/byte_ring.h, "Segments"): the ring
  // size must divide the segment size.
  const uint64_t ring_bytes = std::min(std::bit_floor(std::max<uint64_t>(options.ring_bytes, 8192)),
                                       segment_bytes & (~segment_bytes + 1));
  if (ring_bytes < 4096) {
    return Status::invalid_argument("segment size " + std::to_string(segment_bytes) +
                                    " must be a multiple of 4096 bytes");
  }
  writer = std::make_unique<wal::SegmentWriter>(env.get(), paths.wal, store_id, segment_bytes);
  uint64_t start = 0;
  base_segment_no = recovered.next_segment_no;
  const bool resume = recovered.active && recovered.active->capacity_bytes == segment_bytes;
  if (resume) {
    base_segment_no = recovered.active->segment_no;
    start = recovered.active_end_offset;
    // What an earlier process wrote may still be only in the page cache.
    Status s = writer->resume_segment(*recovered.active, start);
    if (s) s = writer->sync();
    if (!s) return s;
  } else if (recovered.active) {
    spdlog::info("{}: segment size changed to {} bytes; the next record starts a new segment",
                 paths.root, segment_bytes);
  }
  ring = std::make_unique<pipeline::FrameRing>(
      ring_bytes, ring_bytes / 2 - wal::kSegmentHeaderBytes, 2, recovered.last_seq + 1, start,
      segment_bytes, wal::kSegmentHeaderBytes);
  pipeline::Journaller::Options jo;
  jo.sync = options.sync;
  jo.segment_bytes = segment_bytes;
  jo.base_segment_no = base_segment_no;
  jo.max_batch_bytes = options.batch_bytes_max;
  jo.last_seq = recovered.last_seq;
  head.set_durable_seq(recovered.last_seq);
  journaller = std::make_unique<pipeline::Journaller>(ring.get(), writer.get(), this, jo, start);
  pipeline::RingIndexer::Options io;
  io.segment_bytes = segment_bytes;
  io.consumer = 1;
  io.max_batch_bytes = std::max<size_t>(options.batch_bytes_max, 1 << 20);
  indexer = std::make_unique<pipeline::RingIndexer>(ring.get(), index.get(), io, start);
  if (resume) {
    indexer->note_segment(0, recovered.active->first_seq);
    if (recovered.last_frame_offset != 0) {
      indexer->resume_after(recovered.active->first_seq, recovered.last_frame_offset);
    }
  }
  journal_thread = std::thread([this] {
    ::pthread_setname_np(::pthread_self(), "reel-journal");
    journal_loop();
  });
  index_thread = std::thread([this] {
    ::pthread_setname_np(::pthread_self(), "reel-index");
    index_loop();
  });
  return Status::ok();
}

void Store::Impl::journal_loop() {
  const uint64_t start = journaller->position();
  bool registered = false;
  for (;;) {
    retry_now.store(false);
    const bool worked = journaller->step();
    if (!registered && journaller->position() - start >= ring->capacity()) {
      // A full lap written: this is sustained ingest, worth pinning the ring
      // as an io_uring fixed buffer (pinning 64 MiB costs ~100 ms, too much
      // for a store opened to append a few records).
      registered = true;
      if (Status s = env->register_buffer({ring->memory(), ring->capacity()}); !s) {
        spdlog::debug("{}: ring not registered with io_uring ({}); plain writes", paths.root,
                      s.to_string());
      }
    }
    // An explicit sync (wait for kDurable) once what it covers is written,
    // or once nothing more is waiting to be written.
    const uint64_t want = sync_request.load(std::memory_order_acquire);
    if (!journaller->failed() && want > journaller->durable_seq() &&
        (journaller->written_seq() >= want || !journaller->has_work())) {
      (void)journaller->sync_now();  // a failure reaches on_failure()
    }
    if (worked) released.notify();
    if (journaller->failed()) break;
    const Status& st = journaller->stall();
    if (!st.is_ok() && health.load() == kHealthy) {
      {
        std::lock_guard<std::mutex> guard(status_mu);
        stall = st;
      }
      health.store(kStalled, std::memory_order_release);
      spdlog::error("{}: {}; records wait in the ring until space returns", paths.root,
                    st.to_string());
      space.notify();  // head.notify() follows below, as on every stalled step
    } else if (st.is_ok() && health.load() == kStalled) {
      health.store(kHealthy, std::memory_order_release);
      spdlog::info("{}: space returned; writing again", paths.root);
      head.notify();
    }
    journal_steps.fetch_add(1, std::memory_order_release);
    if (!st.is_ok()) head.notify();  // waiters watch the stall
    if (worked && st.is_ok()) continue;
    if (stop_journal.load()) {
      // Drained (every claim published and written), or the disk is full:
      // close() reports what is left in the ring.
      if (!st.is_ok() || journaller->position() == ring->next_position()) break;
    }
    // Sleep until something is published or a sync is asked for; wake for
    // the interval sync, and every 10 ms while the disk is full, to retry.
    auto timeout = std::chrono::nanoseconds(std::chrono::milliseconds(100));
    if (!st.is_ok()) timeout = std::chrono::milliseconds(10);
    if (options.sync.mode == SyncPolicy::Mode::kInterval &&
        journaller->durable_seq() < journaller->written_seq()) {
      timeout = std::min<std::chrono::nanoseconds>(timeout, options.sync.interval);
    }
    published.wait_for(
        [&] {
          return (st.is_ok() && journaller->has_work()) || stop_journal.load() ||
                 retry_now.load() ||
                 sync_request.load(std::memory_order_acquire) > journaller->durable_seq();
        },
        timeout);
  }
  journal_done.store(true);
  released.notify();
}

void Store::Impl::index_loop() {
  using Clock = std::chrono::steady_clock;
  bool dirty = false;
  auto last_sync = Clock::now();
  for (;;) {
    const bool pending = ring->upstream_end(1) != indexer->position();
    if (pending && !dirty) {
      // Before the first unsynced commit: a reboot from here on means the
      // index may have lost commits the WAL kept (head_file.h).
      if (Status s = head.mark_index_dirty(boot_id); !s) {
        set_failure(s);
        break;
      }
      dirty = true;
    }
    const bool worked = pending && indexer->step();
    if (!indexer->status().is_ok()) {
      set_failure(indexer->status());
      break;
    }
    if (worked) {
      head.set_indexed_seq(indexer->indexed_seq());
      head.notify();
      space.notify();
    }
    if (dirty && Clock::now() - last_sync >= options.index_sync_interval) {
      if (Status s = index->sync(); !s) {
        set_failure(s);
        break;
      }
      head.mark_index_clean();
      dirty = false;
      last_sync = Clock::now();
    }
    if (worked) continue;
    if (journal_done.load() && ring->upstream_end(1) == indexer->position()) break;
    released.wait_for(
        [&] { return ring->upstream_end(1) != indexer->position() || journal_done.load(); },
        std::chrono::milliseconds(100));
  }
}

Result<uint64_t> Store::Impl::publish(wal::RecordFields& fields, bool fail_if_full) {
  wal::FrameEncoder& encoder = t_producer.encoder;
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
    if (fail_if_full) return Status::busy(paths.root + ": the ring is full");
    const int h = health.load(std::memory_order_acquire);
    if (h == kFailed) return failure_status();
    if (h == kStalled) return stall_status();
    if (closing.load()) return Status::failed(paths.root + ": store is closed");
    space.wait_for(
        [&] {
          return ring->has_space_for(bytes) || health.load(std::memory_order_acquire) != kHealthy;
        },
        std::chrono::milliseconds(100));
  }
  encoder.set_seq(claim.seq);
  const auto segment_no = base_segment_no + static_cast<uint32_t>(ring->segment_of(claim.position));
  const uint32_t word = encoder.write_unpublished(segment_no, {claim.data, claim.bytes});
  ring->publish(claim, word);
  published.notify();
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
  if (stream.empty() || stream.size() > 255) {
    return Status::invalid_argument("stream name must be 1 to 255 bytes");
  }
  if (closing.load(std::memory_order_relaxed)) {
    return Status::failed(paths.root + ": store is closed");
  }
  if (health.load(std::memory_order_acquire) == kFailed) return failure_status();
  wal::RecordFields fields;
  fields.ts_ns = ao.ts_ns != 0 ? ao.ts_ns : now_ns();
  fields.source_seq = ao.source_seq;
  fields.key = ao.key;
  fields.payload = payload;
  ProducerState& me = t_producer;
  if (me.instance != instance) {
    me.streams.clear();
    me.instance = instance;
  }
  if (auto it = me.streams.find(stream); it != me.streams.end()) {
    fields.stream = it->second;
    return publish(fields, ao.fail_if_full);
  }
  std::unique_lock<std::mutex> guard(streams_mu);
  if (auto it = stream_ids.find(stream); it != stream_ids.end()) {
    guard.unlock();
    fields.stream = it->second;
    me.streams.emplace(std::string(stream), it->second);
    return publish(fields, ao.fail_if_full);
  }
  // A new stream: its first record declares the name. It is claimed under
  // the lock, so no other thread can use the id before (at a lower seq).
  fields.stream = next_stream_id;
  fields.stream_name = stream;
  auto seq = publish(fields, ao.fail_if_full);
  if (seq) {
    stream_ids.emplace(std::string(stream), next_stream_id);
    me.streams.emplace(std::string(stream), next_stream_id);
    ++next_stream_id;
  }
  return seq;
}

// While the disk is full: asks the journal thread to retry the segment
// creation now and waits for that attempt, so that a wait right after space
// returns does not see the old stall. False if the disk is still full.
bool Store::Impl::retried_since_stall(uint64_t seq, Level level) {
  const uint64_t before = journal_steps.load(std::memory_order_acquire);
  retry_now.store(true);
  published.notify();
  // Two finished steps: the second began after the request.
  while (journal_steps.load(std::memory_order_acquire) < before + 2 && !journal_done.load()) {
    const uint32_t epoch = head.epoch();
    if (level_seq(level) >= seq) return true;
    if (journal_steps.load(std::memory_order_acquire) >= before + 2) break;
    head.wait_for_change(epoch, std::chrono::milliseconds(10));
  }
  return health.load(std::memory_order_acquire) != kStalled;
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

Status Store::Impl::wait(uint64_t seq, Level level, std::chrono::nanoseconds timeout) {
  if (seq >= ring->next_seq()) {
    return Status::invalid_argument(paths.root + ": seq " + std::to_string(seq) +
                                    " has not been appended (the last is " +
                                    std::to_string(ring->next_seq() - 1) + ")");
  }
  if (level == Level::kDurable && level_seq(level) < seq) {
    atomic_max(sync_request, seq);
    published.notify();
  }
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    const uint32_t epoch = head.epoch();
    if (level_seq(level) >= seq) return Status::ok();
    const int h = health.load(std::memory_order_acquire);
    if (h == kFailed) return failure_status();
    if (h == kStalled && !retried_since_stall(seq, level)) return stall_status();
    if (journal_done.load()) {
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
    std::lock_guard<std::mutex> guard(close_mu);
    if (closed) return Status::ok();
    closed = true;
  }
  closing.store(true);
  stop_journal.store(true);
  published.notify();
  if (journal_thread.joinable()) journal_thread.join();
  if (index_thread.joinable()) index_thread.join();
  Status s;
  const uint64_t unwritten = ring->next_seq() - 1 - journaller->written_seq();
  if (health.load() == kFailed) {
    s = failure_status();
  } else if (unwritten != 0) {
    s = stall_status();
    if (s) s = Status::failed("the pipeline stopped early");
    s = s.with_context(paths.root + ": " + std::to_string(unwritten) +
                       " appended records were not written");
  }
  if (s && options.sync.mode != SyncPolicy::Mode::kNone) s = journaller->sync_now();
  if (s && writer->has_segment()) s = writer->seal();
  Status s2 = index->sync();
  if (s2) head.mark_index_clean();
  if (s && s2) s2 = head.mark_clean_shutdown();
  head.notify();
  writer.reset();
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

uint64_t Store::last_seq() const {
  return impl_->ring->next_seq() - 1;
}

const std::string& Store::dir() const {
  return impl_->paths.root;
}

namespace store {

Result<std::unique_ptr<Store>> open_store_with_env(const std::string& dir,
                                                   const StoreOptions& options,
                                                   std::unique_ptr<wal::IoEnv> env) {
  if (dir.empty()) return Status::invalid_argument("store directory is empty");
  if (!options.create_if_missing && ::access((dir + "/wal").c_str(), F_OK) != 0) {
    return Status::not_found(dir + ": no reel store here");
  }
  if (options.segment_bytes_max < 4096) {
    return Status::invalid_argument("segment size must be at least 4096 bytes");
  }
  auto impl = std::make_unique<Store::Impl>(dir, options);
  impl->env = std::move(env);
  Status s = impl->open_locked();
  if (!s) return s;
  return std::unique_ptr<Store>(new Store(std::move(impl)));
}

Status reindex_store(const std::string& dir, uint64_t* records_indexed,
                     const std::function<void(uint64_t)>& progress) {
  StorePaths paths(dir);
  if (::access(paths.wal.c_str(), F_OK) != 0)
    return Status::not_found(dir + ": no reel store here");
  WriterLock lock;
  Status s = lock.acquire(paths.lock);
  if (!s) return s;
  auto env = wal::make_uring_env();
  if (!env) return env.status();
  auto idx = index::Index::open(paths.index, false, StoreOptions().index_map_bytes);
  if (!idx) return idx.status();
  HeadFile probe;
  uint64_t store_id = 0;
  if (probe.open_for_read(paths.head)) store_id = probe.store_id();
  auto result = recover(paths, env->get(), idx->get(), &store_id, RecoveryMode::kTruncateTornTail,
                        true, false, progress);
  if (!result) return result.status();
  s = (*idx)->sync();
  if (!s) return s;
  HeadFile head;
  s = head.open_for_write(paths.head, store_id);
  if (!s) return s;
  head.set_indexed_seq(result->last_seq);
  head.mark_index_clean();
  *records_indexed = result->frames_indexed;
  return Status::ok();
}

}  // namespace store
}  // namespace reel
