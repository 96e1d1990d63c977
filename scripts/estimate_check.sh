#!/usr/bin/env bash
# The presets' time estimate against measured wall time, on runs of each full-budget preset's shape
# (Fashion-MNIST, the presets' budgets, a seed outside the presets' so nothing is cached), one after
# another in a fresh store. Run it on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
STORE=$(mktemp -d)
trap 'rm -rf "$STORE"' EXIT
PY=.venv/bin/python
run_and_compare() {
  local estimate started ended
  estimate=$($PY - "$@" <<'PYEOF'
import sys
from lth import presets
from lth.cli import build_parser, config_from_args
from lth.data.datasets import SIZES
args = build_parser().parse_args(["run", *sys.argv[1:]])
config = config_from_args(args)
print(round(presets.estimate_seconds([config], *SIZES[config.dataset])))
PYEOF
)
  started=$(date +%s.%N)
  $PY -m lth run "$@" --cache-dir "$STORE" > /dev/null 2>&1
  ended=$(date +%s.%N)
  python3 -c "import sys; e, m = float(sys.argv[1]), float(sys.argv[2]); print(f'{sys.argv[3]}: estimated {e:.0f} s, measured {m:.0f} s, estimate/measured {e / m:.2f}')" \
    "$estimate" "$(echo "$ended - $started" | bc)" "$*"
}
# the original study's shape: one tfmot run (pruned, ticket, reinit), batch 600, 300 iterations
run_and_compare --experiment tfmot --model lenet5 --target-density 0.1 --iterations 300 --batch-size 600 \
  --eval-every 50 --dataset fashion-mnist --seed 7
# Frankle & Carbin's shape: a lottery run's first round and one pruned round with its reinit control
run_and_compare --experiment lottery --rounds 1 --controls reinit --iterations 50000 --eval-every 100 \
  --dataset fashion-mnist --seed 7
