#!/usr/bin/env bash
# The full-scale results in docs/results/: both reference presets at their full budget on the complete
# Fashion-MNIST, two runs training at once (2-core CPU), then each preset's figures and table exported.
# Settings are the presets' own (lth/presets.py), fixed before the runs.
set -euo pipefail
cd "$(dirname "$0")/.."
export LTH_CACHE_DIR=${LTH_CACHE_DIR:-cache} LTH_MAX_CONCURRENT=${LTH_MAX_CONCURRENT:-2}
started=$(date +%s)
.venv/bin/python -m lth preset frankle-carbin-lenet300 --budget full --dataset fashion-mnist \
  --export docs/results/fashion-mnist > /dev/null &
sleep 30  # the lottery runs queue first
.venv/bin/python -m lth preset original-study --budget full --dataset fashion-mnist \
  --export docs/results/fashion-mnist > /dev/null &
wait
echo "full-scale presets: $(( $(date +%s) - started )) s wall time on $(nproc) cores" >&2
