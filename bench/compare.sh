#!/usr/bin/env bash
# Side by side with Prefect, measured in one run on this machine:
#   1. bench/e2e.py (Tocsin: fresh engine per scenario, SQLite, loopback webhook sink)
#   2. ../shared/bench/prefect-anchor/run.sh (Prefect 3.9.1's open-source server, same scenarios)
#   3. bench/compare_table.py writes the table into bench/RESULTS.md ("## Side by side with Prefect")
# Usage: bench/compare.sh [--sizes 1000[,5000]]   (about 6 minutes on 2 cores with the defaults; Prefect's venv is
#        built once). SCENARIOS=restart,paced,reactive,fanout100,proactive adds the 10,000-action fan-out.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES="1000"
if [ "${1:-}" = "--sizes" ]; then SIZES="$2"; fi
ANCHOR="${ANCHOR:-../shared/bench/prefect-anchor}"
OUT="${OUT:-bench/results}"
mkdir -p "$OUT"
SCENARIOS="${SCENARIOS:-restart,paced,reactive,proactive}"

echo "== Tocsin (bench/e2e.py)"
.venv/bin/python bench/e2e.py --sizes "$SIZES" --scenarios "$SCENARIOS" --out "$OUT/tocsin.json"

echo "== Prefect ($ANCHOR/run.sh)"
BENCH_OUT="$PWD/$OUT/prefect" bash "$ANCHOR/run.sh" --scenarios "$SCENARIOS" --sizes "$SIZES" \
  --fanout-n 100 --restarts 3 --max-wait 600

.venv/bin/python bench/compare_table.py "$OUT/tocsin.json" "$OUT/prefect/results.json" --write bench/RESULTS.md
