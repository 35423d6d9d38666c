#!/usr/bin/env bash
# Install the lowest versions that pyproject.toml allows (scripts/lowest_versions.py)
# in their own virtual environment, and run every notebook of _toc.yml top to bottom
# with the lax comparison (older libraries may print numbers differently; a cell that
# raises fails). Proves the declared ranges, not just the exact pins.
#   make test-lowest                   # .venv-lowest, python3
#   PYTHON=python3.11 make test-lowest
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
VENV="${LOWEST_VENV:-.venv-lowest}"
OUT=_build/lowest
mkdir -p "$OUT"
"$PYTHON" scripts/lowest_versions.py --extra test > "$OUT/constraints.txt"
stamp="$( (cat "$OUT/constraints.txt"; "$PYTHON" --version) | sha256sum | cut -c1-16)"
if [ ! -f "$VENV/.lowest-stamp" ] || [ "$(cat "$VENV/.lowest-stamp")" != "$stamp" ]; then
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    echo "[test-lowest] installing the lowest allowed versions:"
    sed 's/^/    /' "$OUT/constraints.txt"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -c "$OUT/constraints.txt" -e ".[test]"
    echo "$stamp" > "$VENV/.lowest-stamp"
fi
"$VENV/bin/python" -m pip freeze --exclude-editable > "$OUT/installed.txt"
"$VENV/bin/python" -c 'import torch, torchvision, numpy; print(f"[test-lowest] torch {torch.__version__}, torchvision {torchvision.__version__}, numpy {numpy.__version__}")'
# shellcheck disable=SC2046
"$VENV/bin/python" -m pytest --nbval-lax --nbval-current-env -p no:cacheprovider -q \
    --toc-notebooks $("$VENV/bin/python" scripts/booktools.py list)
