#include "reel/store.h"

#include <unistd.h>

#include <condition_variable>
#include <ctime>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "index/index.h"
#include "index/index_feeder.h"
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

}  // namespace

// Everything a writer owns. All mutable state is guarded by `mu`; the
// flusher thread takes `mu` for each tick.
struct Store::Impl {
  StoreOptions options;
  store::StorePaths paths;
  store::WriterLock lock;
  store::HeadFile head;
  std::unique_ptr<wal::IoEnv> env;
  std::unique_ptr<index::Index> index;
  std::unique_ptr<wal::SegmentWriter> writer;
  std::string boot_id;
  uint64_t store_id = 0;

  mutable std::mutex mu;
  std::condition_variable flusher_cv;
  std::thread flusher;
  bool closing = false;
  bool closed = false;

  // Guarded by mu.
  uint64_t last_seq = 0;     // last seq handed out
  uint64_t written_seq = 0;  // last seq written to the WAL
  uint64_t durable_seq = 0;
  uint32_t next_segment_no = 0;
  uint32_t next_stream_id = 1;
  std::map<std::string, uint32_t, std::less<>> stream_ids;
  std::vector<bool> declared_in_segment;  // by stream id
  wal::FrameEncoder encoder;
  std::vector<uint8_t> batch;  // frames not yet written
  index::IndexBatch index_batch;
  index::IndexFeeder feeder;
  std::chrono::steady_clock::time_point last_sync = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_index_sync = std::chrono::steady_clock::now();
  bool index_dirty = false;

  explicit Impl(const std::string& dir) : paths(dir) {}

  Status open_locked();
  Status load_streams();
  Result<uint32_t> stream_for(std::string_view name, bool* declare);
  Status write_batch();
  Status roll_segment();
  Status index_pending();
  Status sync_locked();
  Status flush_locked(bool force_sync);
  Status sync_index_locked();
  void flusher_loop();
  Status close_locked();
};

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
  head.begin_writer_session(static_cast<uint64_t>(::getpid()));
  head.mark_index_clean();
  last_seq = written_seq = durable_seq = recovered->last_seq;
  head.set_written_seq(last_seq);
  head.set_durable_seq(options.sync.mode == SyncPolicy::Mode::kNone ? head.durable_seq()
                                                                    : last_seq);
  durable_seq = head.durable_seq();
  head.set_indexed_seq(last_seq);
  writer = std::make_unique<wal::SegmentWriter>(env.get(), paths.wal, store_id,
                                                options.segment_bytes_max);
  next_segment_no = recovered->next_segment_no;
  if (recovered->active) {
    s = writer->resume_segment(*recovered->active, recovered->active_end_offset);
    if (!s) return s;
    if (recovered->last_frame_offset != 0) {
      feeder.resume_after(recovered->active->first_seq, recovered->last_frame_offset);
    }
  }
  s = load_streams();
  if (!s) return s;
  batch.reserve(options.batch_bytes_max + 4096);
  return Status::ok();
}

Result<uint32_t> Store::Impl::stream_for(std::string_view name, bool* declare) {
  auto it = stream_ids.find(name);
  uint32_t id;
  if (it == stream_ids.end()) {
    id = next_stream_id++;
    stream_ids.emplace(std::string(name), id);
  } else {
    id = it->second;
  }
  if (declared_in_segment.size() <= id) declared_in_segment.resize(id + 1, false);
  *declare = !declared_in_segment[id];
  return id;
}

Status Store::Impl::write_batch() {
  if (batch.empty()) return Status::ok();
  Status s = writer->append_batch(batch);
  if (!s) return s;
  batch.clear();
  written_seq = last_seq;
  head.set_written_seq(written_seq);
  return index_pending();
}

Status Store::Impl::index_pending() {
  if (index_batch.empty()) return Status::ok();
  if (!index_dirty) {
    Status s = head.mark_index_dirty(boot_id);
    if (!s) return s;
    index_dirty = true;
  }
  Status s = index->apply(index_batch);
  if (!s) return s;
  head.set_indexed_seq(index_batch.last_seq());
  index_batch.clear();
  return Status::ok();
}

Status Store::Impl::sync_locked() {
  Status s = writer->sync();
  if (!s) return s;
  durable_seq = written_seq;
  head.set_durable_seq(durable_seq);
  last_sync = std::chrono::steady_clock::now();
  return Status::ok();
}

Status Store::Impl::sync_index_locked() {
  if (!index_dirty) return Status::ok();
  Status s = index->sync();
  if (!s) return s;
  index_dirty = false;
  head.mark_index_clean();
  last_index_sync = std::chrono::steady_clock::now();
  return Status::ok();
}

Status Store::Impl::flush_locked(bool force_sync) {
  Status s = write_batch();
  if (!s) return s;
  const bool want_sync = force_sync || options.sync.mode == SyncPolicy::Mode::kAlways ||
                         (options.sync.mode == SyncPolicy::Mode::kInterval &&
                          std::chrono::steady_clock::now() - last_sync >= options.sync.interval);
  if (want_sync && durable_seq < written_seq) return sync_locked();
  return Status::ok();
}

Status Store::Impl::roll_segment() {
  Status s = write_batch();
  if (!s) return s;
  if (writer->has_segment()) {
    s = writer->seal();
    if (!s) return s;
    durable_seq = written_seq;
    head.set_durable_seq(durable_seq);
  }
  s = writer->start_segment(last_seq + 1, next_segment_no);
  if (!s) return s;
  ++next_segment_no;
  std::fill(declared_in_segment.begin(), declared_in_segment.end(), false);
  return Status::ok();
}

void Store::Impl::flusher_loop() {
  std::unique_lock<std::mutex> guard(mu);
  const auto tick =
      std::min(options.flush_interval, options.sync.mode == SyncPolicy::Mode::kInterval
                                           ? options.sync.interval
                                           : options.flush_interval);
  while (!closing) {
    flusher_cv.wait_for(guard, tick);
    if (closing) break;
    Status s = flush_locked(false);
    if (s && std::chrono::steady_clock::now() - last_index_sync >= std::chrono::seconds(1)) {
      s = sync_index_locked();
    }
    if (!s) spdlog::error("{}: background flush: {}", paths.root, s.to_string());
  }
}

Status Store::Impl::close_locked() {
  if (closed) return Status::ok();
  closed = true;
  Status s = flush_locked(options.sync.mode != SyncPolicy::Mode::kNone);
  Status s2 = sync_index_locked();
  if (s && s2) s2 = head.mark_clean_shutdown();
  writer.reset();
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
  Impl& d = *impl_;
  if (payload.size() + ao.key.size() > d.options.max_record_bytes) {
    return Status::invalid_argument("record of " + std::to_string(payload.size() + ao.key.size()) +
                                    " bytes exceeds max_record_bytes " +
                                    std::to_string(d.options.max_record_bytes));
  }
  if (ao.key.size() > index::kMaxKeyBytes) {
    return Status::invalid_argument("key of " + std::to_string(ao.key.size()) +
                                    " bytes exceeds the limit of " +
                                    std::to_string(index::kMaxKeyBytes));
  }
  if (stream.empty() || stream.size() > 255) {
    return Status::invalid_argument("stream name must be 1 to 255 bytes");
  }
  std::lock_guard<std::mutex> guard(d.mu);
  if (d.closed) return Status::failed(d.paths.root + ": store is closed");
  if (!d.writer->failure().is_ok()) return d.writer->failure();
  bool declare = false;
  auto stream_id = d.stream_for(stream, &declare);
  if (!stream_id) return stream_id.status();
  wal::RecordFields fields;
  fields.seq = d.last_seq + 1;
  fields.ts_ns = ao.ts_ns != 0 ? ao.ts_ns : now_ns();
  fields.stream = *stream_id;
  fields.source_seq = ao.source_seq;
  fields.key = ao.key;
  fields.payload = payload;
  if (declare) fields.stream_name = stream;
  size_t frame_bytes = d.encoder.prepare(fields);
  const uint64_t pending = d.batch.size();
  if (!d.writer->has_segment() || d.writer->remaining_bytes() < pending + frame_bytes) {
    if (frame_bytes + wal::kSegmentHeaderBytes > d.options.segment_bytes_max) {
      return Status::invalid_argument("record of " + std::to_string(frame_bytes) +
                                      " bytes does not fit in a segment of " +
                                      std::to_string(d.options.segment_bytes_max) + " bytes");
    }
    Status s = d.roll_segment();
    if (!s) return s;
    if (!declare) {  // the new segment declares every stream again
      fields.stream_name = stream;
      frame_bytes = d.encoder.prepare(fields);
    }
  }
  const uint64_t offset = d.writer->end_offset() + d.batch.size();
  d.batch.resize(d.batch.size() + frame_bytes);
  d.encoder.write(d.writer->segment_no(),
                  std::span<uint8_t>(d.batch.data() + d.batch.size() - frame_bytes, frame_bytes));
  d.declared_in_segment[*stream_id] = true;
  d.last_seq = fields.seq;
  const auto* record =
      reel::fb::GetRecord(d.batch.data() + d.batch.size() - frame_bytes + wal::kFrameBodyOffset);
  d.feeder.add(*record, d.writer->first_seq(), offset, &d.index_batch);
  if (d.batch.size() >= d.options.batch_bytes_max) {
    Status s = d.flush_locked(false);
    if (!s) return s;
  }
  return fields.seq;
}

Status Store::flush() {
  std::lock_guard<std::mutex> guard(impl_->mu);
  if (impl_->closed) return Status::failed(impl_->paths.root + ": store is closed");
  return impl_->flush_locked(false);
}

Status Store::sync() {
  std::lock_guard<std::mutex> guard(impl_->mu);
  if (impl_->closed) return Status::failed(impl_->paths.root + ": store is closed");
  return impl_->flush_locked(true);
}

Status Store::close() {
  {
    std::lock_guard<std::mutex> guard(impl_->mu);
    impl_->closing = true;
  }
  impl_->flusher_cv.notify_all();
  if (impl_->flusher.joinable()) impl_->flusher.join();
  std::lock_guard<std::mutex> guard(impl_->mu);
  return impl_->close_locked();
}

Watermarks Store::watermarks() const {
  std::lock_guard<std::mutex> guard(impl_->mu);
  return impl_->head.watermarks();
}

uint64_t Store::last_seq() const {
  std::lock_guard<std::mutex> guard(impl_->mu);
  return impl_->last_seq;
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
  auto impl = std::make_unique<Store::Impl>(dir);
  impl->options = options;
  impl->env = std::move(env);
  Status s = impl->open_locked();
  if (!s) return s;
  Store::Impl* raw = impl.get();
  raw->flusher = std::thread([raw] { raw->flusher_loop(); });
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
