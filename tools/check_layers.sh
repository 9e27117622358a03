#!/bin/bash
# Fails when a lower layer of src/ includes a higher one (docs/design.md,
# "Layers"), or a public header in include/reel/ includes anything private.
#
#   bash tools/check_layers.sh        one line per offending include; exit 1 if any
#
# Layers, lowest first. A file may include its own layer and those below it.
# Public headers count as the layer that implements them; the vocabulary
# (status, types, options, record view, generated FlatBuffers code) is below
# every layer.
set -euo pipefail
cd "$(dirname "$0")/.."

LAYERS=(util wal json ring index pipeline store wire feed net ingest replay client capture)
declare -A RANK
for i in "${!LAYERS[@]}"; do RANK[${LAYERS[$i]}]=$i; done

# include/reel/NAME.h -> the layer that implements it (-1: vocabulary).
public_rank() {
  case "$1" in
    export.h | status.h | types.h | options.h | record_view.h | *_generated.h) echo -1 ;;
    store.h | reader.h | tailer.h) echo "${RANK[store]}" ;;
    replayer.h) echo "${RANK[replay]}" ;;
    publisher.h | subscriber.h | reel.h) echo "${RANK[client]}" ;;
    *) echo unknown ;;
  esac
}

bad=0
report() {
  echo "$1"
  bad=$((bad + 1))
}

for dir in src/*/; do
  layer=$(basename "$dir")
  [ "$layer" = pkg ] && continue
  own=${RANK[$layer]:-}
  if [ -z "$own" ]; then
    report "$dir: not a known layer; add it to LAYERS in tools/check_layers.sh and to docs/design.md"
    continue
  fi
  while IFS=: read -r file _ line; do
    inc=$(sed -E 's/^#include "([^"]+)".*/\1/' <<< "$line")
    top=${inc%%/*}
    [ "$top" = "$inc" ] && continue  # a header beside the file
    if [ "$top" = reel ]; then
      rank=$(public_rank "${inc#reel/}")
      if [ "$rank" = unknown ]; then
        report "$file: includes $inc, a public header tools/check_layers.sh does not place"
        continue
      fi
      what="$inc (implemented in a higher layer)"
    else
      rank=${RANK[$top]:-}
      if [ -z "$rank" ]; then
        report "$file: includes $inc, from no known layer"
        continue
      fi
      what="$inc ($top is above $layer)"
    fi
    if [ "$rank" -gt "$own" ]; then report "$file: includes $what"; fi
  done < <(grep -Hn '^#include "' "$dir"*.h "$dir"*.cc 2>/dev/null || true)
done

# The public face includes only itself.
while IFS=: read -r file _ line; do
  inc=$(sed -E 's/^#include "([^"]+)".*/\1/' <<< "$line")
  [[ "$inc" == reel/* ]] || report "$file: a public header includes $inc"
done < <(grep -Hn '^#include "' include/reel/*.h || true)

if [ "$bad" -gt 0 ]; then
  echo "layers: $bad includes break the layer order (${LAYERS[*]})"
  exit 1
fi
echo "layers: clean (${LAYERS[*]})"
