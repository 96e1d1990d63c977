#!/usr/bin/env bash
# The README's analysis figures, on the bundled sample, in a store of their own: three seeds of a lottery
# run (8 rounds, random-reinit control), its masks and weights, the statistics over the seeds, an
# instability run on seed 0's tickets, and one exported ticket with the run's compression report.
# Settings fixed here before running; takes about 15 minutes on a 2-core CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
export LTH_CACHE_DIR=${LTH_CACHE_DIR:-cache/analysis-figures}
PY=.venv/bin/python
OUT=docs/results/analysis
mkdir -p "$OUT/compare" "$OUT/instability"
LOTTERY=(--experiment lottery --dataset mnist-sample --iterations 1500 --eval-every 100 --rounds 8 --controls reinit)
ids=()
for seed in 0 1 2; do
  ids+=("$($PY -m lth run "${LOTTERY[@]}" --seed "$seed" | $PY -c 'import json,sys; print(json.loads(sys.stdin.read().splitlines()[-1])["run_id"])')")
done
$PY -m lth analyze "${ids[0]}" --arm ticket --round 8 --other-seed "${ids[1]}" --export "$OUT"
$PY -m lth compare --experiment lottery --dataset mnist-sample --export "$OUT/compare" > "$OUT/compare/verdicts.txt"
instability=$($PY -m lth run --experiment instability --dataset mnist-sample --iterations 1500 --eval-every 100 \
  --rewind-points 0,100,500 --ticket-run "${ids[0]}" --ticket-rounds 3,8 --seed 0 \
  | $PY -c 'import json,sys; print(json.loads(sys.stdin.read().splitlines()[-1])["run_id"])')
$PY -m lth analyze "$instability" --export "$OUT/instability"
$PY -m lth compression "${ids[0]}" > "$OUT/compression.txt"
rm -rf "$OUT/export" && mkdir -p "$OUT/export"
for fmt in keras savedmodel tflite; do
  $PY -m lth export-model "${ids[0]}" --arm ticket --round 8 --format "$fmt" --out "$OUT/export/ticket_round08" > /dev/null
done
ls -l "$OUT/export" > "$OUT/export_sizes.txt"; du -sb "$OUT/export/ticket_round08" >> "$OUT/export_sizes.txt"
rm -rf "$OUT/export"  # the files are easily made again; their sizes are kept
du -sb "$LTH_CACHE_DIR"/*/checkpoint > "$OUT/kept_bytes.txt"
echo "lottery runs: ${ids[*]}; instability run: $instability" > "$OUT/runs.txt"
rm -f "$OUT"/*.html "$OUT"/*/*.html  # standalone HTML carries plotly.js (4.7 MB each): made, not committed
