#!/bin/bash
# Installs reel from BUILD_DIR into a scratch prefix, then builds and runs a
# tiny outside program against it twice: with find_package(reel) and with
# pkg-config.
set -euo pipefail
BUILD_DIR=$1
SOURCE_DIR=$2
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cmake --install "$BUILD_DIR" --prefix "$WORK/prefix" > "$WORK/install.log"
test -f "$WORK/prefix/include/reel/reel.h"
test -f "$WORK/prefix/include/reel/record_generated.h"
test -f "$WORK/prefix/share/reel/schemas/record.fbs"
test -f "$WORK/prefix/share/reel/schemas/record.bfbs"
test -x "$WORK/prefix/bin/reel"
expected=$'1 alpha demo\n2 beta -\n3 gamma -'

cmake -S "$SOURCE_DIR/tests/install_consumer" -B "$WORK/consumer" \
  -DCMAKE_PREFIX_PATH="$WORK/prefix" > "$WORK/configure.log"
cmake --build "$WORK/consumer" > "$WORK/build.log"
out=$("$WORK/consumer/consumer" "$WORK/store1")
[ "$out" == "$expected" ] || { echo "find_package consumer printed: $out"; exit 1; }

libdir=$(ls -d "$WORK"/prefix/lib*/pkgconfig | head -1)
grep -qx "Requires: flatbuffers" "$libdir/reel.pc" || { echo "reel.pc lacks Requires: flatbuffers"; exit 1; }
PKG_CONFIG_PATH="$libdir" c++ "$SOURCE_DIR/tests/install_consumer/main.cc" -o "$WORK/consumer_pc" \
  $(PKG_CONFIG_PATH="$libdir" pkg-config --cflags --libs reel)
out=$(LD_LIBRARY_PATH="$(dirname "$libdir")" "$WORK/consumer_pc" "$WORK/store2")
[ "$out" == "$expected" ] || { echo "pkg-config consumer printed: $out"; exit 1; }
# The installed CLI reads what the consumer wrote.
LD_LIBRARY_PATH="$(dirname "$libdir")" "$WORK/prefix/bin/reel" get "$WORK/store2" 2 --format payload | grep -qx beta
echo "install test passed"
