#!/bin/bash
# reel's one entry point for people and CI, on Debian 12 as root.
#
#   bash tools/dev.sh demo    install dependencies, build, run the demo
#   bash tools/dev.sh test    install dependencies, build, run every test
#                             (Release build, then ASan+UBSan, then TSan for
#                             the concurrent tests, then the clang build, which
#                             checks the lock annotations (-Wthread-safety)
#                             and runs each libFuzzer target briefly; the
#                             layer check comes first)
#   bash tools/dev.sh deps    only install dependencies
#   bash tools/dev.sh build   only build (build/)
#
# Installing is idempotent: when every package is present apt is not run.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
JOBS=$(nproc 2>/dev/null || echo 2)

PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  liblmdb-dev libflatbuffers-dev flatbuffers-compiler liburing-dev libdpdk-dev
  libzstd-dev libspdlog-dev
  googletest libgtest-dev libbenchmark-dev
  clang libclang-rt-14-dev clang-format
  # real network clients and judges for the ingest and replay tests
  libpcap-dev socat netcat-openbsd tcpreplay tshark tcpdump iproute2
  # the durable-path benchmark's peers; never linked into libreel
  libsqlite3-dev librocksdb-dev
)

log() { printf '\n== %s\n' "$*"; }

deps() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$p")
    fi
  done
  if [ ${#missing[@]} -eq 0 ]; then
    log "dependencies: all ${#PACKAGES[@]} packages already installed"
    return
  fi
  log "dependencies: installing ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" > /tmp/reel-apt.log 2>&1 ||
    { tail -20 /tmp/reel-apt.log; exit 1; }
}

# configure_build DIR [cmake args...]: configure once, then build.
configure_build() {
  local dir=$1
  shift
  if [ ! -f "$dir/build.ninja" ]; then
    mkdir -p "$dir"
    cmake -S "$ROOT" -B "$dir" -G Ninja "$@" > "$dir/configure.log" 2>&1 ||
      { cat "$dir/configure.log"; exit 1; }
  fi
  cmake --build "$dir" -j "$JOBS"
}

build() {
  log "build (build/)"
  configure_build build -DCMAKE_BUILD_TYPE=Release
}

demo() {
  build
  local reel="$ROOT/build/reel"
  local store
  store=$(mktemp -d /tmp/reel-demo-XXXXXX)/S
  log "demo: a store at $store"
  run() { printf '\n$ %s\n' "$*"; "$@"; }
  printf '\n$ seq 1 1000000 | reel append %s --segment-size 128MiB\n' "$store"
  seq 1 1000000 | "$reel" append "$store" --segment-size 128MiB
  run "$reel" stat "$store"
  run "$reel" get "$store" 777777 --format payload
  run "$reel" cat "$store" --from 999998 --format json
  printf '\n$ printf "AAPL 101.5\\nMSFT 410.2\\n" | reel append %s --stream trades\n' "$store"
  printf 'AAPL 101.5\nMSFT 410.2\n' | "$reel" append "$store" --stream trades
  run "$reel" cat "$store" --stream trades --format hex
  run "$reel" verify "$store"
  log "demo done; the store is left at $store (remove it with: rm -rf $(dirname "$store"))"
}

# The clang fuzz build (library, CLI and libFuzzer targets, -Werror; see
# docs/testing.md, "Fuzzers"),
# then each fuzzer for SECONDS on a scratch copy of its corpus.
fuzz_build_and_run() {
  local seconds=$1
  log "clang build (build-fuzz/): -Wthread-safety, libFuzzer targets, ${seconds}s per fuzzer"
  configure_build build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang \
    -DCMAKE_CXX_COMPILER=clang++ -DREEL_FUZZ=ON -DREEL_TESTS=OFF -DREEL_BENCH=OFF
  local scratch
  scratch=$(mktemp -d /tmp/reel-fuzz-XXXXXX)
  for corpus in "$ROOT"/fuzz/corpus/*/; do
    local name
    name=$(basename "$corpus")
    mkdir "$scratch/$name"  # new inputs go here; the corpus stays as committed
    "$ROOT/build-fuzz/fuzz/${name}_fuzz" "$scratch/$name" "$corpus" -max_total_time="$seconds" \
      -print_final_stats=1 > "$scratch/$name.log" 2>&1 ||
      { tail -40 "$scratch/$name.log"; exit 1; }
    grep -E 'stat::number_of_executed_units' "$scratch/$name.log" | sed "s/^/${name}_fuzz: /"
  done
  rm -rf "$scratch"
}

test_all() {
  log "layers: no lower layer of src/ includes a higher one"
  bash "$ROOT/tools/check_layers.sh"
  build
  log "tests: release build"
  (cd build && ctest -j "$JOBS" --output-on-failure --timeout 900)

  log "tests: ASan + UBSan (build-asan/)"
  configure_build build-asan -DCMAKE_BUILD_TYPE=Debug -DREEL_SANITIZE=address,undefined \
    -DREEL_BENCH=OFF
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1 \
    ctest -j "$JOBS" --output-on-failure --timeout 900 -E install_and_consume)

  log "tests: TSan, concurrent parts (build-tsan/)"
  configure_build build-tsan -DCMAKE_BUILD_TYPE=Debug -DREEL_SANITIZE=thread -DREEL_BENCH=OFF
  (cd build-tsan && TSAN_OPTIONS=halt_on_error=1 \
    ctest -j "$JOBS" --output-on-failure --timeout 900 -R 'Threads|Background|Watermarks|SecondWriter|ByteRing|BlockingWait|FrameRing|Journaller|RingIndexer|Pipeline|Zeroer\.Store|QuietWrite|SyncTicket|IndexDelay|Tailer|LiveReaders|CliLive|^ReplayServer\.|ServeAttack|NetworkIngest|LogLimit')

  fuzz_build_and_run 20

  log "format: clang-format"
  local unformatted
  unformatted=$(git ls-files '*.h' '*.cc' | xargs clang-format --dry-run 2>&1 | grep -c warning || true)
  if [ "$unformatted" != "0" ]; then
    echo "clang-format: $unformatted places differ; run: git ls-files '*.h' '*.cc' | xargs clang-format -i"
    exit 1
  fi
  log "all tests passed"
}

case "${1:-}" in
  deps) deps ;;
  build) deps; build ;;
  demo) deps; demo ;;
  test) deps; test_all ;;
  *)
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
    [ -z "${1:-}" ] || exit 2
    ;;
esac
