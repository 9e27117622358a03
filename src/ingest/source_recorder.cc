#include "ingest/source_recorder.h"

#include <chrono>
#include <thread>

#include <spdlog/spdlog.h>

namespace reel::ingest {

Result<uint64_t> SourceRecorder::record(const std::string& stream, const feed::SeqSpec& rule,
                                        std::span<const uint8_t> payload, uint64_t ts_ns,
                                        SourceCounts* counts) {
  if (!counts->rule_noted) {
    note_rule(stream, rule);
    counts->rule_noted = true;
  }
  AppendOptions ao;
  ao.ts_ns = ts_ns;
  const auto s = feed::extract_source_seq(rule, payload);
  if (s) {
    ao.source_seq = s->seq;
  } else if (rule.kind != feed::SeqSpec::Kind::kNone) {
    ++counts->no_seq;
  }
  auto seq = append(stream, payload, ao);
  if (!seq) {
    if (record_refused(seq.status())) ++counts->rejected;
    return seq.status();
  }
  if (s) (void)counts->gaps.observe(*s, *seq, ts_ns);
  ++counts->records;
  counts->bytes += payload.size();
  return *seq;
}

bool record_refused(const Status& s) {
  return s.code() == Code::kInvalidArgument;
}

Result<uint64_t> SourceRecorder::append(const std::string& stream, std::span<const uint8_t> payload,
                                        const AppendOptions& ao) {
  const std::string_view bytes{reinterpret_cast<const char*>(payload.data()), payload.size()};
  for (;;) {
    auto seq = store_->append(stream, bytes, ao);
    if (seq || seq.status().code() != Code::kNoSpace || !keep_waiting_ || !keep_waiting_()) {
      return seq;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // the stall retries on its own
  }
}

void SourceRecorder::note_rule(const std::string& stream, const feed::SeqSpec& rule) {
  if (rule.kind == feed::SeqSpec::Kind::kNone) return;
  if (!loaded_) {
    auto rules = load_seq_rules(store_->dir());
    if (!rules) {
      spdlog::warn("{}; starting it anew", rules.status().to_string());
    } else {
      rules_ = std::move(*rules);
    }
    loaded_ = true;
  }
  const std::string name = feed::seq_spec_name(rule);
  auto it = rules_.find(stream);
  if (it != rules_.end() && feed::seq_spec_name(it->second) == name) return;
  if (it != rules_.end()) {
    spdlog::warn("{}: stream {} was recorded with source seq {}, now {}: reel gaps reads it by {}",
                 store_->dir(), stream, feed::seq_spec_name(it->second), name, name);
  }
  rules_[stream] = rule;
  if (Status s = save_seq_rules(store_->dir(), rules_); !s) {
    spdlog::warn("{}: the stream's source seq rule was not kept (reel gaps needs --seq {}): {}",
                 stream, name, s.to_string());
  }
}

}  // namespace reel::ingest
