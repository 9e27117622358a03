// Google Benchmark micro-benchmarks of the per-record hot paths.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "util/crc32c.h"
#include "wal/frame.h"

namespace {

void BM_EncodeFrame(benchmark::State& state) {
  std::string payload(static_cast<size_t>(state.range(0)), 'x');
  reel::wal::FrameEncoder enc;
  std::vector<uint8_t> buf(payload.size() + 256);
  uint64_t seq = 0;
  for (auto _ : state) {
    reel::wal::RecordFields f;
    f.seq = ++seq;
    f.ts_ns = seq;
    f.stream = 1;
    f.payload = payload;
    benchmark::DoNotOptimize(enc.encode(f, 0, buf));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * payload.size()));
}
BENCHMARK(BM_EncodeFrame)->Arg(100)->Arg(1024);

void BM_DecodeFrame(benchmark::State& state) {
  std::string payload(static_cast<size_t>(state.range(0)), 'x');
  reel::wal::FrameEncoder enc;
  reel::wal::RecordFields f;
  f.seq = 1;
  f.payload = payload;
  std::vector<uint8_t> buf(enc.prepare(f));
  enc.write(0, buf);
  for (auto _ : state) {
    reel::wal::DecodedFrame d;
    benchmark::DoNotOptimize(reel::wal::decode_frame(buf, 0, &d));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * buf.size()));
}
BENCHMARK(BM_DecodeFrame)->Arg(100)->Arg(1024);

void BM_Crc32c(benchmark::State& state) {
  std::vector<uint8_t> data(static_cast<size_t>(state.range(0)), 7);
  for (auto _ : state) benchmark::DoNotOptimize(reel::crc32c::value(data.data(), data.size()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * data.size()));
}
BENCHMARK(BM_Crc32c)->Arg(128)->Arg(4096);

}  // namespace

BENCHMARK_MAIN();
