#!/usr/bin/env bash
# Same herd, two commits, alternated in the same hour: is a change faster or slower than noise?
#
#   bash bench/compare.sh OLD_REV [NEW_REV=HEAD] [ROUNDS=2] [N=10000]
#
# Each revision gets a worktree and venv under $BENCH_COMPARE_DIR/<rev> (default /tmp/beat_store-compare; kept), its own bench database
# (bench_cmp_<rev>) and Redis db 8 (flushed before each run, like bench.run does). Prints one line per run:
# revision, herd p50/p100, all fire times, start-up, peak RSS, duplicates, misses; then the CPU seconds of one
# herd tick in-process (bench/herd_cpu.py), which other load on the machine barely moves. Figures go to docs with
# the date and the machine's load: on a busy 2-core machine, alternate rounds and compare medians.
set -euo pipefail
cd "$(dirname "$0")/.."
OLD=$(git rev-parse --short "$1"); NEW=$(git rev-parse --short "${2:-HEAD}"); ROUNDS=${3:-2}; N=${4:-10000}
export BENCH_REDIS_URL=${BENCH_REDIS_URL:-redis://127.0.0.1:6379/8}
ROOT=${BENCH_COMPARE_DIR:-/tmp/beat_store-compare}
mkdir -p "$ROOT"
for rev in "$OLD" "$NEW"; do
  if [ ! -d "$ROOT/$rev" ]; then
    git worktree add -q --detach "$ROOT/$rev" "$rev"
    python3 -m venv "$ROOT/$rev/.venv"
    "$ROOT/$rev/.venv/bin/pip" install -q -e "$ROOT/$rev[test,bench]" 2>&1 | grep -v "is ignored" || true
    cp bench/herd_cpu.py "$ROOT/$rev/bench/herd_cpu.py" 2>/dev/null || true  # older commits lack it
  fi
done
for round in $(seq 1 "$ROUNDS"); do
  for rev in "$OLD" "$NEW"; do
    cd "$ROOT/$rev"
    export BENCH_PG_NAME="bench_cmp_$rev"
    .venv/bin/python -m bench.run setup >/dev/null
    .venv/bin/python -m bench.run run --schedulers beat_store --n "$N" --beats 1 --fire-times 2 | tail -1 |
      .venv/bin/python -c "
import json, sys
r = json.load(sys.stdin); h = r['herd_s']; t = r['tally']
print(f\"round $round {r['code'][:7]}: herd p50 {h['p50']:.2f} s p100 {h['p100']:.2f} s, both fire times \"
      f\"{r['all_fire_times_in_s']:.2f} s, start-up {r['startup_s']:.2f} s, peak RSS {max(r['peak_rss_mib']):.0f} MiB, \"
      f\"dup {t['duplicates']} miss {t['misses']}, load {__import__('os').getloadavg()[0]:.1f}\")"
    echo "round $round $rev: one herd tick in-process, CPU and wall seconds: $(.venv/bin/python -m bench.herd_cpu --n "$N" --attempts 2)"
    .venv/bin/python -m bench.run drop >/dev/null
  done
done
