#!/usr/bin/env bash
# Sets everything up and runs the whole test suite (slow and integration tests included).
# Extra arguments go to pytest, e.g. ./scripts/test.sh -m "not slow" -x
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/services.sh
exec .venv/bin/python -m pytest "$@"
