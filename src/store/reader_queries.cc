// Reader queries that return a Cursor: range, by_key, by_time.
#include <algorithm>

#include "index/time_index.h"
#include "store/reader_impl.h"

namespace reel {

// ---------------------------------------------------------------------------
// Cursor

Cursor::Cursor() = default;
Cursor::~Cursor() = default;
Cursor::Cursor(Cursor&&) noexcept = default;
Cursor& Cursor::operator=(Cursor&&) noexcept = default;
Cursor::Cursor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Cursor Cursor::failed(std::unique_ptr<Impl> impl, Status status) {
  impl->status = std::move(status);
  return Cursor(std::move(impl));
}

bool Cursor::next(RecordView* out) {
  if (!impl_ || !impl_->status.is_ok()) return false;
  if (impl_->scan) {
    if (impl_->scan->next(out)) return true;
    impl_->status = impl_->scan->status();
    return false;
  }
  if (impl_->source) return impl_->source->next(out, &impl_->status);
  while (impl_->next_index < impl_->seqs.size()) {
    const uint64_t seq = impl_->seqs[impl_->next_index++];
    // Seqs close after the previous one are reached by scanning forward;
    // anything else through the position cache, else a careful scan.
    if (!impl_->forward || seq <= impl_->forward_seq || seq - impl_->forward_seq > 64) {
      if (auto quick = impl_->reader->quick_get(seq)) {
        *out = *quick;
        impl_->forward.reset();
        return true;
      }
      impl_->forward = std::make_unique<SeqScan>(impl_->reader, seq, UINT64_MAX);
    }
    impl_->forward->advance_to(seq);
    if (impl_->forward->next(out) && out->seq() == seq) {
      impl_->forward_seq = seq;
      return true;
    }
    if (!impl_->forward->status().is_ok()) {
      impl_->status = impl_->forward->status();
      return false;
    }
    // Listed by the index but not in the WAL: an index ahead of an
    // unrecovered WAL. Skip it; `reel verify` reports the disagreement.
    impl_->forward.reset();
  }
  return false;
}

const Status& Cursor::status() const {
  static const Status kOk;
  return impl_ ? impl_->status : kOk;
}

// ---------------------------------------------------------------------------
// Reader

Cursor Reader::range(uint64_t from, uint64_t to) {
  auto impl = std::make_unique<Cursor::Impl>();
  impl->scan = std::make_unique<SeqScan>(impl_.get(), std::max<uint64_t>(from, 1), to);
  return Cursor(std::move(impl));
}

// The index's hits for (stream, key) as of one snapshot, then the records
// beyond that snapshot's indexed_seq with that key, read from the WAL; in
// seq order.
Cursor Reader::by_key(std::string_view stream, std::string_view key) {
  auto impl = std::make_unique<Cursor::Impl>();
  impl->reader = impl_.get();
  std::optional<uint32_t> id;
  uint64_t indexed = 0;
  {
    auto snap = impl_->snapshot();
    if (!snap) return Cursor::failed(std::move(impl), snap.status());
    if (*snap) {
      auto found = (*snap)->stream_id(stream);
      auto seq = (*snap)->indexed_seq();
      Status s = !found ? found.status() : !seq ? seq.status() : Status::ok();
      if (s && found->has_value()) s = (*snap)->seqs_by_key(**found, key, &impl->seqs);
      if (!s) return Cursor::failed(std::move(impl), s);
      id = *found;
      indexed = *seq;
    }
  }
  Status s = impl_->scan(indexed + 1, UINT64_MAX, [&](const RecordView& v) {
    if (!id) {
      const auto* declared = v.record()->stream_name();
      if (declared != nullptr && declared->string_view() == stream) id = v.stream();
    }
    if (id && v.stream() == *id && v.key() == key) impl->seqs.push_back(v.seq());
    return true;
  });
  if (!s) return Cursor::failed(std::move(impl), s);
  return Cursor(std::move(impl));
}

}  // namespace reel
