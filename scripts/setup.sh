#!/usr/bin/env bash
# Creates .venv and installs the project into it: torch first (pinned, CPU build from local
# disk), then the project with the worker and dev extras. Safe to run again: it only installs
# what is missing or changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
VENV="${VENV:-.venv}"

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)

# torch is pinned and installed before the project: a looser range would pull a CUDA build.
if ! "$VENV/bin/python" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '2.13.0')" 2>/dev/null; then
  echo "setup: installing torch==2.13.0"
  "${PIP[@]}" install torch==2.13.0 2> >(grep -v 'is ignored' >&2)
fi

stamp="$VENV/.adamant-installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing adamant and its dependencies"
  "${PIP[@]}" install -e ".[worker,dev]" 2> >(grep -v 'is ignored' >&2)
  touch "$stamp"
fi
