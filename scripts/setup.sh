#!/usr/bin/env bash
# Sets up everything the app and the tests need on a fresh machine with Python 3.11:
# a virtual environment in .venv with the pinned packages, TensorFlow's CUDA libraries where an
# NVIDIA GPU is present, Debian's chromium (figure export with kaleido, browser tests) and Debian's
# complete Fashion-MNIST.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -r requirements.txt -r requirements-dev.txt -r requirements-ray.txt
# the repository on the environment's path: `lth` imports from any folder (your own network's file, a notebook)
site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
pwd > "$site/lottery-ticket-lab.pth"

# An NVIDIA driver is present: add the CUDA libraries TensorFlow needs to use it.
if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
  tf_version=$(grep -E '^tensorflow==' requirements.txt | cut -d= -f3)
  .venv/bin/python -m pip install --quiet "tensorflow[and-cuda]==${tf_version}"
fi

# Debian's chromium: kaleido's image export and the browser tests use it.
if ! command -v chromium >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "setup: could not install chromium; PNG/SVG/PDF export and browser tests need it" >&2
  else
    echo "setup: chromium is missing (sudo apt-get install chromium); PNG/SVG/PDF export and browser tests need it" >&2
  fi
fi
# Debian's complete Fashion-MNIST (the full-scale dataset; the bundled MNIST sample needs nothing).
if [ ! -d /usr/share/datasets/fashion-mnist ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null) \
      || echo "setup: could not install dataset-fashion-mnist; --dataset fashion-mnist needs it (or --data-dir)" >&2
  else
    echo "setup: Fashion-MNIST is missing (sudo apt-get install dataset-fashion-mnist, or pass --data-dir)" >&2
  fi
fi
touch .venv/.installed
