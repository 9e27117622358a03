// Opening a writer: lock, recover, wire the pipeline and start its stages;
// and `reel reindex`, which recovers with a forced rebuild and no pipeline.
#include <pthread.h>
#include <unistd.h>

#include <filesystem>

#include <algorithm>
#include <bit>
#include <ctime>
#include <filesystem>
#include <vector>

#include <spdlog/spdlog.h>

#include "store/store_impl.h"
#include "store/store_internal.h"
#include "util/embedded_schema.h"
#include "util/read_file.h"
#include "wal/frame.h"

namespace reel {
namespace {

uint64_t random_store_id() {
  uint64_t id = 0;
  while (id == 0) {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    id = (static_cast<uint64_t>(::getpid()) << 40) ^ static_cast<uint64_t>(ts.tv_nsec) ^
         (static_cast<uint64_t>(ts.tv_sec) << 20) ^ store::now_ns() * 0x9E3779B97F4A7C15ull;
  }
  return id;
}

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

}  // namespace

Store::Impl::Impl(const std::string& dir, const StoreOptions& o)
    : options(o), paths(dir), space(wait_mode(o.wait_strategy)) {}

Status Store::Impl::load_streams() {
  std::vector<StreamInfo> infos;
  Status s = index->streams(&infos);
  if (!s) return s;
  for (const auto& info : infos) streams.add_existing(info.name, info.id);
  return Status::ok();
}

namespace {

struct OpenedIndex {
  std::unique_ptr<index::Index> index;
  bool started_afresh = false;
};

// Opens the index for the writer. The index is derived from the WAL: one that
// LMDB reports damaged (its meta pages unreadable: a file system that lost
// writes, a torn copy) is removed and started afresh, and recovery rebuilds
// it, instead of refusing the store.
// Replaces an index LMDB reported damaged (`why`) by an empty one: closes
// this process's handle, removes its files and opens afresh. Refuses when
// another handle in this process still holds the environment.
Status replace_damaged_index(const store::StorePaths& paths, uint64_t map_bytes, wal::IoEnv* env,
                             const Status& why, std::unique_ptr<index::Index>* index) {
  index->reset();  // the last handle of this process, unless another holds it
  if (index::LmdbEnv::open_in_this_process(paths.index)) {
    return why.with_context(paths.index +
                            ": the index is damaged and a reader in this process holds it open; "
                            "close it and open again to rebuild the index");
  }
  spdlog::warn("recovery: {}: the index is damaged ({}); starting it afresh from the WAL",
               paths.index, why.to_string());
  std::error_code ec;
  for (const char* file : {"/data.mdb", "/lock.mdb"}) {
    std::filesystem::remove(paths.index + file, ec);
    if (ec) return Status::from_errno(paths.index + file + ": cannot remove", ec.value());
  }
  auto idx = index::Index::open(paths.index, false, map_bytes, env);
  if (!idx) return idx.status();
  *index = std::move(*idx);
  return Status::ok();
}

// Whether `s` is LMDB reporting the index damaged (every index error names
// "index:" first).
bool index_damaged(const Status& s) {
  return s.code() == Code::kCorruption && s.message().rfind("index: ", 0) == 0;
}

// Opens the index for the writer. The index is derived from the WAL: one that
// LMDB reports damaged (a file system that lost writes, a torn copy) is
// started afresh, and recovery rebuilds it, instead of refusing the store.
Result<OpenedIndex> open_index_or_start_afresh(const store::StorePaths& paths, uint64_t map_bytes,
                                               wal::IoEnv* env) {
  OpenedIndex out;
  auto idx = index::Index::open(paths.index, false, map_bytes, env);
  Status s = idx ? Status::ok() : idx.status();
  if (s) {
    auto probe = (*idx)->store_id();
    if (probe) probe = (*idx)->format();
    if (probe) probe = (*idx)->indexed_seq();
    s = probe ? Status::ok() : probe.status();
  }
  if (idx) out.index = std::move(*idx);
  if (s) return out;
  if (s.code() != Code::kCorruption) return s;
  if (Status r = replace_damaged_index(paths, map_bytes, env, s, &out.index); !r) return r;
  out.started_afresh = true;
  return out;
}

// Recovery, then the store's id (a new one if none was found) written to
// the index and synced; all once more from an empty index when LMDB finds
// the index damaged deeper than its meta pages, in recovery or in that
// write (seen after a file system lost writes).
Result<store::RecoveryResult> recover_rebuilding_a_damaged_index(
    const store::StorePaths& paths, wal::IoEnv* env, uint64_t map_bytes,
    std::unique_ptr<index::Index>* index, uint64_t* store_id, store::RecoveryOptions ro) {
  auto attempt = [&](const store::RecoveryOptions& o) -> Result<store::RecoveryResult> {
    auto result = store::recover(paths, env, index->get(), store_id, o);
    if (!result) return result;
    if (*store_id == 0) *store_id = random_store_id();
    Status s = (*index)->set_store_id(*store_id);
    if (s) s = (*index)->sync();
    if (!s) return s;
    return result;
  };
  auto result = attempt(ro);
  if (result || !index_damaged(result.status())) return result;
  if (Status s = replace_damaged_index(paths, map_bytes, env, result.status(), index); !s) return s;
  ro.force_rebuild = true;
  return attempt(ro);
}

}  // namespace

Status Store::Impl::open_locked() {
  Status s = store::create_layout(paths);
  if (!s) return s;
  s = lock.acquire(paths.lock, env.get());
  if (!s) return s;
  // Store id: the head file's, else the first segment's (recovery), else new.
  store::HeadFile probe;
  if (probe.open_for_read(paths.head)) store_id = probe.store_id();
  const bool rebuild_after_reboot =
      probe.is_open() && probe.index_dirty() && probe.boot_id() != store::boot_id();
  auto idx = open_index_or_start_afresh(paths, options.index_map_bytes, env.get());
  if (!idx) return idx.status();
  index = std::move(idx->index);
  const bool rebuild_after_reboot_or_damage = rebuild_after_reboot || idx->started_afresh;
  if (rebuild_after_reboot) {
    spdlog::warn(
        "recovery: {}: the machine restarted while the index had unsynced commits; "
        "rebuilding the index",
        paths.root);
  }
  store::RecoveryOptions ro;
  ro.mode = options.recovery;
  ro.force_rebuild = rebuild_after_reboot_or_damage;
  ro.clean_shutdown = probe.is_open() && probe.clean_shutdown();
  ro.durable_seq = probe.is_open() ? probe.durable_seq() : 0;
  auto recovered = recover_rebuilding_a_damaged_index(paths, env.get(), options.index_map_bytes,
                                                      &index, &store_id, std::move(ro));
  if (!recovered) return recovered.status();
  s = head.open_for_write(paths.head, store_id, env.get());
  if (!s) return s;
  const std::string bfbs(reinterpret_cast<const char*>(embedded::kRecordBfbs),
                         embedded::kRecordBfbsSize);
  auto existing = read_file(paths.schemas + "/record.bfbs");
  if (!existing || *existing != bfbs) {
    s = env->write_file_atomic(paths.schemas + "/record.bfbs", bfbs);
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
  if (Status ls = head.begin_writer_session(static_cast<uint64_t>(::getpid())); !ls) return ls;
  // Durable at once: a cut may have left the durable point on disk above the
  // log, and a power cut before the next persist would judge the new
  // session's unsynced writes against it (and against clean_shutdown = 1).
  if (Status ps = head.persist(); !ps) return ps;
  s = load_streams();
  if (!s) return s;
  return start_pipeline(*recovered);
}

Status Store::Impl::start_pipeline(const store::RecoveryResult& recovered) {
  const uint64_t segment_bytes = options.segment_bytes_max;
  const uint64_t ring_bytes = store::ring_bytes_for(options);
  if (ring_bytes < 4096) {
    return Status::invalid_argument("segment size " + std::to_string(segment_bytes) +
                                    " must be a multiple of 4096 bytes");
  }
  auto writer = std::make_unique<wal::SegmentWriter>(env.get(), paths.wal, store_id, segment_bytes);
  // Zeroing ahead only shortens syncs: a store that never syncs on its own
  // keeps the disk's bandwidth.
  writer->set_zero_ahead(options.sync.mode == SyncPolicy::Mode::kNone ? 0
                                                                      : options.zero_ahead_bytes);
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
  } else if (recovered.active && recovered.last_seq < recovered.active->first_seq) {
    // The last segment holds no record and has the old size: the new one
    // that replaces it has the same first seq, hence the same name.
    const std::string path = paths.wal + "/" + wal::segment_file_name(recovered.active->first_seq);
    spdlog::info("{}: segment size changed to {} bytes; removing the empty last segment",
                 paths.root, segment_bytes);
    Status s = env->remove(path);
    if (s) s = env->fsync_dir(paths.wal);
    if (!s) return s;
    base_segment_no = recovered.active->segment_no;
  } else if (recovered.active) {
    spdlog::info("{}: segment size changed to {} bytes; the next record starts a new segment",
                 paths.root, segment_bytes);
  }
  ring = std::make_unique<pipeline::FrameRing>(
      ring_bytes, store::largest_frame_for_ring(ring_bytes), 2, recovered.last_seq + 1, start,
      segment_bytes, wal::kSegmentHeaderBytes);
  pipeline::Journaller::Options jo;
  jo.sync = options.sync;
  jo.segment_bytes = segment_bytes;
  jo.base_segment_no = base_segment_no;
  jo.max_batch_bytes = options.batch_bytes_max;
  jo.last_seq = recovered.last_seq;
  head.set_durable_seq(recovered.last_seq);
  store::JournalStage::Parts parts;
  parts.options = &options;
  parts.seams = seams;
  parts.root = paths.root;
  parts.ring = ring.get();
  parts.env = env.get();
  parts.head = &head;
  parts.health = &health;
  parts.host = this;
  parts.wait_mode = wait_mode(options.wait_strategy);
  journal = std::make_unique<store::JournalStage>(parts, std::move(writer), jo, start);
  pipeline::RingIndexer::Options io;
  io.segment_bytes = segment_bytes;
  io.consumer = 1;
  io.max_batch_bytes = std::max<size_t>(options.batch_bytes_max, 1 << 20);
  store::IndexStage::Parts ip;
  ip.options = &options;
  ip.boot_id = boot_id;
  ip.ring = ring.get();
  ip.index = index.get();
  ip.head = &head;
  ip.health = &health;
  ip.host = this;
  ip.wait_mode = wait_mode(options.wait_strategy);
  index_stage = std::make_unique<store::IndexStage>(ip, io, start);
  if (resume) {
    index_stage->indexer().note_segment(0, recovered.active->first_seq);
    if (recovered.last_frame_offset != 0) {
      index_stage->indexer().resume_after(recovered.active->first_seq, recovered.last_frame_offset);
    }
  }
  journal->start();
  index_stage->start();
  return Status::ok();
}

namespace store {

uint64_t ring_bytes_for(const StoreOptions& o) {
  // Ring positions are WAL positions (ring/byte_ring.h, "Segments"): the ring
  // size must divide the segment size.
  const uint64_t segment = o.segment_bytes_max;
  return std::min(std::bit_floor(std::max<uint64_t>(o.ring_bytes, 8192)), segment & (~segment + 1));
}

uint64_t largest_frame_for_ring(uint64_t ring_bytes) {
  return ring_bytes / 2 - wal::kSegmentHeaderBytes;
}

}  // namespace store

uint64_t largest_record_bytes(const StoreOptions& options) {
  const uint64_t ring = store::ring_bytes_for(options);
  if (ring < 4096) return 0;
  const uint64_t frame = store::largest_frame_for_ring(ring);
  // largest_frame_bytes() grows with its argument: the largest that fits.
  uint64_t lo = 0, hi = frame;
  while (lo < hi) {
    const uint64_t mid = lo + (hi - lo + 1) / 2;
    if (wal::largest_frame_bytes(mid) <= frame) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return std::min<uint64_t>(lo, wal::kMaxFrameBodyBytes);
}

namespace store {

Result<std::unique_ptr<Store>> open_store_with_env(const std::string& dir,
                                                   const StoreOptions& options,
                                                   std::unique_ptr<wal::IoEnv> env,
                                                   const TestSeams& seams) {
  if (dir.empty()) return Status::invalid_argument("store directory is empty");
  if (!options.create_if_missing && ::access((dir + "/wal").c_str(), F_OK) != 0) {
    return Status::not_found(dir + ": no reel store here");
  }
  if (options.segment_bytes_max < 4096) {
    return Status::invalid_argument("segment size must be at least 4096 bytes");
  }
  auto impl = std::make_unique<Store::Impl>(dir, options);
  impl->env = std::move(env);
  impl->seams = seams;
  Status s = impl->open_locked();
  if (!s) return s;
  return std::unique_ptr<Store>(new Store(std::move(impl)));
}

Status reindex_store(const std::string& dir, uint64_t* records_indexed,
                     const std::function<void(uint64_t)>& progress,
                     std::unique_ptr<wal::IoEnv> io) {
  StorePaths paths(dir);
  if (::access(paths.wal.c_str(), F_OK) != 0)
    return Status::not_found(dir + ": no reel store here");
  if (io == nullptr) {
    auto env = wal::make_uring_env();
    if (!env) return env.status();
    io = std::move(*env);
  }
  WriterLock lock;
  Status s = lock.acquire(paths.lock, io.get());
  if (!s) return s;
  auto idx = open_index_or_start_afresh(paths, StoreOptions().index_map_bytes, io.get());
  if (!idx) return idx.status();
  HeadFile probe;
  uint64_t store_id = 0;
  if (probe.open_for_read(paths.head)) store_id = probe.store_id();
  RecoveryOptions ro;
  ro.force_rebuild = true;
  ro.durable_seq = probe.is_open() ? probe.durable_seq() : 0;
  ro.progress = progress;
  auto result = recover_rebuilding_a_damaged_index(paths, io.get(), StoreOptions().index_map_bytes,
                                                   &idx->index, &store_id, std::move(ro));
  if (!result) return result.status();
  HeadFile head;
  s = head.open_for_write(paths.head, store_id, io.get());
  if (!s) return s;
  // Recovery may have cut: the durable point must not stay above the log.
  head.set_written_seq(result->last_seq);
  head.set_durable_seq(result->last_seq);
  head.set_indexed_seq(result->last_seq);
  head.mark_index_clean();
  s = head.persist();
  if (!s) return s;
  *records_indexed = result->frames_indexed;
  return Status::ok();
}

}  // namespace store
}  // namespace reel
