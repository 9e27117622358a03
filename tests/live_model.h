// A model of the store that live-reader tests write, and a checker of a
// Reader's answers against it. Every field of record `seq` is a function of
// seq, so any answer can be checked against the model's answer for the
// snapshot it claims: records 1..L, for some L at least the written_seq read
// before the query (no gap, no skipped record, nothing invented).
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "reel/reader.h"
#include "store/verify.h"

namespace reel::testing {

struct LiveModel {
  static constexpr uint64_t kBaseTs = 1'800'000'000'000'000'000ull;
  static constexpr uint64_t kTsStep = 1000;    // ns between consecutive seqs
  static constexpr uint64_t kTsBack = 25'000;  // every 10th record is this late
  static constexpr uint64_t kKeys = 7;

  static std::string stream(uint64_t seq) {
    static const char* const kNames[] = {"a", "b", "c"};
    return kNames[seq % 3];
  }
  static std::string key(uint64_t seq) { return std::string("k") + std::to_string(seq % kKeys); }
  static uint64_t ts(uint64_t seq) {
    return kBaseTs + seq * kTsStep - (seq % 10 == 0 ? kTsBack : 0);
  }
  static std::string payload(uint64_t seq) {
    return std::string("p") + std::to_string(seq) +
           std::string(seq % 61, static_cast<char>('a' + seq % 26));
  }
};

class LiveChecker {
 public:
  LiveChecker(Reader* reader, std::string dir, uint64_t seed)
      : r_(reader), dir_(std::move(dir)), rng_(seed) {}

  // One query of each kind (verify every `verify_every` rounds); "" when
  // every answer was right, else one line saying what was wrong.
  std::string round(int verify_every) {
    const uint64_t written = r_->watermarks().written_seq;
    if (written == 0) return "";
    ++rounds_;
    std::string e = check_get(written);
    if (e.empty()) e = check_range(written);
    if (e.empty()) e = check_by_time(written);
    if (e.empty()) e = check_by_key(written);
    if (e.empty()) e = check_streams(written);
    if (e.empty() && verify_every > 0 && rounds_ % verify_every == 0) e = check_verify(written);
    return e;
  }
  // Rounds that ran queries (the store had records).
  uint64_t rounds() const { return rounds_; }

 private:
  static std::string why(const std::string& what, uint64_t seq) {
    return what + " (seq " + std::to_string(seq) + ")";
  }
  uint64_t pick(uint64_t lo, uint64_t hi) { return lo + rng_() % (hi - lo + 1); }

  std::string check_record(const RecordView& v) {
    const uint64_t s = v.seq();
    if (v.payload() != LiveModel::payload(s)) return why("wrong payload", s);
    if (v.key() != LiveModel::key(s)) return why("wrong key", s);
    if (v.ts_ns() != LiveModel::ts(s)) return why("wrong ts", s);
    const std::string name = LiveModel::stream(s);
    auto it = ids_.find(name);
    if (it == ids_.end()) {
      auto id = r_->stream_id(name);
      if (!id || !id->has_value()) return why("stream " + name + " unknown", s);
      it = ids_.emplace(name, **id).first;
    }
    if (it->second != v.stream()) return why("wrong stream", s);
    return "";
  }

  std::string check_get(uint64_t written) {
    const uint64_t s = pick(1, written);
    auto v = r_->get(s);
    if (!v) return "get(" + std::to_string(s) + "): " + v.status().to_string();
    return check_record(*v);
  }

  std::string check_range(uint64_t written) {
    const uint64_t from = written > 400 ? pick(written - 400, written) : 1;
    Cursor c = r_->range(from);
    RecordView v;
    uint64_t expect = from;
    while (c.next(&v)) {
      if (v.seq() != expect) return why("range(" + std::to_string(from) + ") skipped", expect);
      if (auto e = check_record(v); !e.empty()) return e;
      ++expect;
    }
    if (!c.status()) return "range: " + c.status().to_string();
    if (expect <= written) return why("range ended before written_seq", expect);
    return "";
  }

  // The answer `got` (in order) must equal the model's matches in 1..L,
  // L = max(written, the highest seq returned).
  template <typename Pick, typename Less>
  std::string compare(const char* what, const std::string& stream, uint64_t lo, uint64_t written,
                      const std::vector<uint64_t>& got, Pick pick_fn, Less less) {
    uint64_t last = written;
    for (uint64_t s : got) last = std::max(last, s);
    std::vector<uint64_t> want;
    for (uint64_t s = std::max<uint64_t>(lo, 1); s <= last; ++s) {
      if (LiveModel::stream(s) == stream && pick_fn(s)) want.push_back(s);
    }
    std::sort(want.begin(), want.end(), less);
    if (got == want) return "";
    size_t i = 0;
    while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
    return std::string(what) + " on stream " + stream + ": " + std::to_string(got.size()) +
           " records where the model has " + std::to_string(want.size()) +
           "; first difference at position " + std::to_string(i) + " (got seq " +
           (i < got.size() ? std::to_string(got[i]) : "none") + ", want " +
           (i < want.size() ? std::to_string(want[i]) : "none") + ", written_seq " +
           std::to_string(written) + ")";
  }

  std::string check_by_time(uint64_t written) {
    const std::string stream = LiveModel::stream(pick(0, 2));
    const uint64_t t0 = LiveModel::ts(pick(1, written)) - 30'000;
    const uint64_t t1 = t0 + pick(0, 300'000);
    Cursor c = r_->by_time(stream, t0, t1);
    std::vector<uint64_t> got;
    RecordView v;
    while (c.next(&v)) {
      if (auto e = check_record(v); !e.empty()) return e;
      got.push_back(v.seq());
    }
    if (!c.status()) return "by_time: " + c.status().to_string();
    // Nothing before this seq can fall in the window.
    const uint64_t lo =
        t0 > LiveModel::kBaseTs ? (t0 - LiveModel::kBaseTs) / LiveModel::kTsStep : 1;
    return compare(
        "by_time", stream, lo > 2 ? lo - 2 : 1, written, got,
        [&](uint64_t s) { return LiveModel::ts(s) >= t0 && LiveModel::ts(s) <= t1; },
        [](uint64_t a, uint64_t b) {
          return LiveModel::ts(a) != LiveModel::ts(b) ? LiveModel::ts(a) < LiveModel::ts(b) : a < b;
        });
  }

  std::string check_by_key(uint64_t written) {
    const std::string stream = LiveModel::stream(pick(0, 2));
    const uint64_t k = pick(0, LiveModel::kKeys - 1);
    Cursor c = r_->by_key(stream, "k" + std::to_string(k));
    std::vector<uint64_t> got;
    RecordView v;
    while (c.next(&v)) {
      if (auto e = check_record(v); !e.empty()) return e;
      got.push_back(v.seq());
    }
    if (!c.status()) return "by_key: " + c.status().to_string();
    return compare(
        "by_key", stream, 1, written, got, [&](uint64_t s) { return s % LiveModel::kKeys == k; },
        [](uint64_t a, uint64_t b) { return a < b; });
  }

  std::string check_streams(uint64_t written) {
    auto streams = r_->streams();
    if (!streams) return "streams: " + streams.status().to_string();
    uint64_t total = 0;
    for (const auto& info : *streams) total += info.count;
    if (total < written) {
      std::string d;
      for (const auto& info : *streams) {
        d += " " + info.name + ":" + std::to_string(info.count) + "/" +
             std::to_string(info.first_seq) + ".." + std::to_string(info.last_seq);
      }
      auto again = r_->streams();
      if (again) {
        d += " again:";
        for (const auto& info : *again) d += " " + std::to_string(info.count);
      }
      d += " idx " + std::to_string(r_->watermarks().indexed_seq);
      return "streams count " + std::to_string(total) + " < written_seq " +
             std::to_string(written) + d;
    }
    for (const auto& info : *streams) {
      uint64_t count = 0, first = 0, last = 0, t_min = UINT64_MAX, t_max = 0;
      for (uint64_t s = 1; s <= total; ++s) {
        if (LiveModel::stream(s) != info.name) continue;
        ++count;
        if (first == 0) first = s;
        last = s;
        t_min = std::min(t_min, LiveModel::ts(s));
        t_max = std::max(t_max, LiveModel::ts(s));
      }
      if (info.count != count || info.first_seq != first || info.last_seq != last ||
          info.first_ts_ns != t_min || info.last_ts_ns != t_max) {
        return "streams: " + info.name + " has " + std::to_string(info.count) + " records (seq " +
               std::to_string(info.first_seq) + ".." + std::to_string(info.last_seq) +
               "), the model " + std::to_string(count) + " in a store of " + std::to_string(total);
      }
    }
    return "";
  }

  std::string check_verify(uint64_t written) {
    auto report = store::verify_store(dir_, nullptr);
    if (!report) return "verify: " + report.status().to_string();
    if (!report->clean()) return "verify: " + report->faults.front();
    if (report->last_seq < written) return "verify stopped before written_seq";
    return "";
  }

  Reader* r_;
  std::string dir_;
  std::mt19937_64 rng_;
  std::map<std::string, uint32_t> ids_;  // stream ids never change
  uint64_t rounds_ = 0;
};

}  // namespace reel::testing
