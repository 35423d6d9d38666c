#!/usr/bin/env bash
# Run every notebook of _toc.yml on a CUDA GPU, comparing outputs laxly (numbers
# printed on a GPU may differ in the last digits). Without a GPU: say so, skip.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${VENV:-.venv}/bin/python"
if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    echo "[test-gpu] no CUDA GPU on this machine: skipping the GPU notebook run."
    exit 0
fi
"$PY" -c 'import torch; print(f"[test-gpu] running on {torch.cuda.get_device_name(0)}")'
export TUTORIAL_DEVICE=cuda
# shellcheck disable=SC2046
"$PY" -m pytest --nbval-lax --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg \
    -p no:cacheprovider -q \
    $("$PY" scripts/booktools.py list)
