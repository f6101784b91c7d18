#!/usr/bin/env bash
# Interleaved A/B of capture throughput between builds of waybill (docs/PERFORMANCE.md): each round
# runs `bench capture` once per binary, the order alternating by round, and prints each run's
# throughput, the writer's and the process's CPU per order, and the search index's line.
#   scripts/bench-capture-ab.sh ROUNDS BINARY... (e.g. 3 /tmp/waybill-base .build/release/waybill)
set -euo pipefail
rounds="$1"; shift
binaries=("$@")
for round in $(seq 1 "$rounds"); do
  order=("${binaries[@]}")
  if [ $((round % 2)) -eq 0 ]; then
    order=(); for ((i=${#binaries[@]}-1; i>=0; i--)); do order+=("${binaries[$i]}"); done
  fi
  for binary in "${order[@]}"; do
    out="$("$binary" bench capture --orders 30000 --rate 0 2>/dev/null)"
    echo "round $round $binary: $(grep -E '^waybill capture:' <<<"$out" | awk '{print $3}') orders/s | $(grep -E '^writer:' <<<"$out" | cut -d';' -f1) | $(grep -E '^process:' <<<"$out" | cut -d';' -f1) | $(grep -E '^search index:' <<<"$out" || true)"
  done
done
