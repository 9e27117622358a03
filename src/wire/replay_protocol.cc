#include "wire/replay_protocol.h"

#include <cmath>

#include "reel/replay_generated.h"
#include "wal/frame.h"
#include "wire/replay_wire.h"

namespace reel::replay {

Result<Ask> parse_request(std::span<const uint8_t> body, const StreamLookup& lookup) {
  flatbuffers::Verifier verifier(body.data(), body.size());
  if (!fb::VerifyReplayRequestBuffer(verifier)) {
    return Status::invalid_argument("request is not a ReplayRequest (schemas/replay.fbs)");
  }
  const fb::ReplayRequest* req = fb::GetReplayRequest(body.data());
  if (req->version() != 1) {
    return Status::invalid_argument("request version " + std::to_string(req->version()) +
                                    " (this server speaks 1)");
  }
  Ask ask;
  ask.tail.from_seq = req->from_seq();
  ask.tail.from_ts_ns = req->from_seq() == 0 ? req->from_ts_ns() : 0;
  ask.tail.follow = req->level() == fb::ReplayLevel::Durable ? Level::kDurable : Level::kWritten;
  ask.to_seq = req->to_seq();
  ask.to_ts = req->to_ts_ns();
  ask.follow = req->follow();
  ask.speed = req->speed();
  if (ask.follow && ask.to_ts != 0 && ask.to_seq == 0) {
    return Status::invalid_argument("to_ts_ns with follow never ends: give to_seq, or no follow");
  }
  if (!(ask.speed >= 0) || !std::isfinite(ask.speed) || (ask.speed > 0 && ask.speed < 1e-6)) {
    return Status::invalid_argument("speed " + std::to_string(ask.speed) +
                                    " (0: flat out, else a multiple of the recorded pace)");
  }
  if (req->streams() != nullptr && req->streams()->size() > 0) {
    for (const auto* name : *req->streams()) {
      auto id = lookup(name->string_view());
      if (!id) return id.status();
      if (!*id) return Status::not_found("no stream '" + name->str() + "'");
      ask.streams.insert(**id);
    }
    if (ask.streams.size() == 1) {
      ask.tail.stream = req->streams()->Get(0)->str();
      ask.streams.clear();
    }
  }
  return ask;
}

Result<Header> parse_header(std::span<const uint8_t> body) {
  flatbuffers::Verifier v(body.data(), body.size());
  if (!v.VerifyBuffer<fb::ReplayHeader>(nullptr)) {
    return Status::corruption("the replay header is not a ReplayHeader");
  }
  const auto* h = flatbuffers::GetRoot<fb::ReplayHeader>(body.data());
  Header out;
  out.version = h->version();
  out.store_id = h->store_id();
  if (h->error() != nullptr) out.error = h->error()->str();
  if (h->streams() != nullptr) {
    for (const auto* s : *h->streams()) {
      out.streams[s->id()] = s->name() != nullptr ? s->name()->str() : std::string();
    }
  }
  return out;
}

namespace {

Message need(size_t bytes) {
  Message m;
  m.bytes = bytes;
  return m;
}

}  // namespace

Result<Message> parse_message(std::span<const uint8_t> data, uint64_t last_seq) {
  if (data.size() < 4) return need(4);
  const uint32_t word = get_u32(data.data());
  Message m;
  if (word == kHeartbeat) {
    m.kind = Message::Kind::kHeartbeat;
    m.bytes = 4;
    return m;
  }
  if (word == kEnd) {
    if (data.size() < 12) return need(12);
    m.kind = Message::Kind::kEnd;
    m.bytes = 12;
    for (int i = 0; i < 8; ++i) m.end_seq |= static_cast<uint64_t>(data[4 + i]) << (8 * i);
    return m;
  }
  if (word == kError) {
    if (data.size() < 8) return need(8);
    const uint32_t len = get_u32(data.data() + 4);
    if (len > kMaxErrorBytes) {
      return Status::corruption("an error message of " + std::to_string(len) + " bytes");
    }
    if (data.size() < 8 + len) return need(8 + len);
    m.kind = Message::Kind::kError;
    m.bytes = 8 + len;
    m.error.assign(reinterpret_cast<const char*>(data.data() + 8), len);
    return m;
  }
  const std::string where = "after seq " + std::to_string(last_seq) + ": ";
  if (word == 0 || word > wal::kMaxFrameBodyBytes) {
    return Status::corruption(where + "not a frame (length word " + std::to_string(word) + ")");
  }
  const size_t total = wal::frame_bytes_for_body(word);
  if (data.size() < total) return need(total);
  wal::DecodedFrame f;
  const uint32_t segment_no = get_u32(data.data() + wal::kFrameSegmentNoOffset);
  const wal::FrameStatus fs =
      wal::decode_frame(data.first(total), segment_no, &f, wal::BodyCheck::kVerify);
  if (fs != wal::FrameStatus::kOk) {
    return Status::corruption(where + "frame " + wal::frame_status_name(fs));
  }
  if (f.seq <= last_seq) return Status::corruption(where + "frame seq out of order");
  m.kind = Message::Kind::kFrame;
  m.bytes = total;
  m.record = RecordView(f.data, f.frame_bytes, f.record);
  return m;
}

}  // namespace reel::replay
