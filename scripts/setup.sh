#!/usr/bin/env bash
# Set up everything the course needs, idempotently:
#   1. Graphviz's `dot` (system package; torchviz renders graphs with it) and
#      bubblewrap's `bwrap` (the sandbox `make grade` runs student code in),
#   2. a virtual environment in .venv with the exact versions of constraints.txt,
#      the course package installed in editable mode with its book/test/dev extras.
# A second run finishes in about a second: it reinstalls only when pyproject.toml,
# constraints.txt or the Python interpreter changed.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"

say() { printf '[setup] %s\n' "$*"; }

install_system_packages() {
    # $@: Debian package names
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        say "installing system packages with apt-get: $*"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "$@" >/dev/null
    else
        say "ERROR: missing system packages: $*"
        say "install them, then run this again:"
        say "  Debian/Ubuntu: sudo apt-get install -y $*"
        say "  macOS:         brew install graphviz  (and Chromium or Chrome for the browser test)"
        say "  conda:         conda install -c conda-forge graphviz"
        exit 1
    fi
}

# 1. System packages: Graphviz's `dot` (torchviz, needed by the notebooks),
#    bubblewrap (the grader's sandbox, needed by `make grade`) and Chromium (needed
#    only by the rendered-book test, `make browser`).
missing=()
command -v dot >/dev/null 2>&1 || missing+=(graphviz)
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        install_system_packages "${missing[@]}"
    elif ! command -v dot >/dev/null 2>&1; then
        install_system_packages graphviz  # explains what to install, then stops
    else
        command -v chromium >/dev/null 2>&1 ||
            say "note: no chromium found; everything works except 'make browser' (install chromium)"
        command -v bwrap >/dev/null 2>&1 ||
            say "note: no bwrap found; 'make grade' refuses to run without its sandbox (install bubblewrap)"
    fi
fi

# 2. The virtual environment.
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    say "ERROR: $PYTHON is $("$PYTHON" --version 2>&1); the course needs Python >= 3.11"
    exit 1
fi
stamp_value="$( (cat pyproject.toml constraints.txt; "$PYTHON" --version) | sha256sum | cut -c1-16)"
stamp_file="$VENV/.course-setup-stamp"
if [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$stamp_value" ] && [ -x "$VENV/bin/python" ]; then
    say "environment $VENV is up to date"
    exit 0
fi
if [ ! -x "$VENV/bin/python" ]; then
    say "creating virtual environment $VENV"
    "$PYTHON" -m venv "$VENV"
fi
say "installing pinned dependencies (first time: torch + torchvision, about 5 GB)"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    -c constraints.txt -e ".[book,test,dev]"
"$VENV/bin/python" -c 'import torch, torchvision, tutorial_lib; print(f"[setup] torch {torch.__version__}, torchvision {torchvision.__version__}: ok")'
echo "$stamp_value" > "$stamp_file"
