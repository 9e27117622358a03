// A store under two producers and a tailer, then read back after a reopen:
// shared by the tests of the writer's concurrent paths (zeroing ahead, quiet
// writes, syncs with the journal lock free).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "reel/reel.h"

namespace reel::testing {

struct StressPlan {
  uint64_t each = 1000;      // records per producer
  size_t max_payload = 500;  // payloads of 1 to this many bytes
  uint32_t pause_us = 0;     // before one append in 8, a sleep of up to this (0: none)
  int lead_every = 4;        // one append in this many waits for kDurable (leads its sync)
};

// Two producers append to a store opened at `path` with `options` while a
// Tailer from seq 1 must see every record in order; then the store is
// closed and every record read back. Failures name `seed`.
inline void stress_producers_and_tailer(const std::string& path, const StoreOptions& options,
                                        const StressPlan& plan, uint64_t seed) {
  std::map<uint64_t, std::string> written[2];
  {
    auto store = Store::open(path, options);
    ASSERT_TRUE(store) << store.status().to_string();
    std::string tail_error;
    std::thread tail([&] {
      Tailer::Options from_start;
      from_start.from_seq = 1;
      auto tailer = Tailer::open(path, from_start);
      if (!tailer) return void(tail_error = tailer.status().to_string());
      RecordView v;
      for (uint64_t s = 1; s <= 2 * plan.each; ++s) {
        if (!(*tailer)->next(&v, std::chrono::seconds(20)) || v.seq() != s) {
          return void(tail_error = "tailer stopped at " + std::to_string(s) + ": " +
                                   (*tailer)->status().to_string());
        }
      }
    });
    std::vector<std::thread> producers;
    for (int t = 0; t < 2; ++t) {
      producers.emplace_back([&, t] {
        std::mt19937_64 rng(seed + t);
        for (uint64_t i = 0; i < plan.each; ++i) {
          if (plan.pause_us != 0 && rng() % 8 == 0) {
            std::this_thread::sleep_for(std::chrono::microseconds(rng() % plan.pause_us));
          }
          std::string p(1 + rng() % plan.max_payload, static_cast<char>('a' + (i + t) % 26));
          auto seq = (*store)->append("s", p);
          if (!seq) return;
          written[t][*seq] = std::move(p);
          if (rng() % plan.lead_every == 0 && !(*store)->wait(*seq, Level::kDurable)) return;
        }
      });
    }
    for (auto& p : producers) p.join();
    tail.join();
    EXPECT_EQ(tail_error, "") << "seed " << seed;
    ASSERT_TRUE((*store)->close());
  }
  ASSERT_EQ(written[0].size() + written[1].size(), 2 * plan.each) << "seed " << seed;
  auto reader = Reader::open(path);
  ASSERT_TRUE(reader) << reader.status().to_string();
  for (const auto& m : written) {
    for (const auto& [seq, payload] : m) {
      auto v = (*reader)->get(seq);
      ASSERT_TRUE(v) << "seq " << seq << ": " << v.status().to_string() << "; seed " << seed;
      ASSERT_EQ(v->payload(), payload) << "seq " << seq << "; seed " << seed;
    }
  }
}

}  // namespace reel::testing
