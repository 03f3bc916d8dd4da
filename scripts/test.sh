#!/usr/bin/env bash
# Sets everything up and runs the whole test suite (slow and integration tests included).
# Extra arguments go to pytest, e.g. ./scripts/test.sh -m "not slow" -x
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
if ! ./scripts/services.sh; then
  # Under CI the run stops here; on a laptop without them the rest of the suite is still worth running.
  case "${CI:-}" in 1 | true | TRUE | True | yes) exit 1 ;; esac
  echo "test.sh: going on without them: their tests skip here (under CI=true a skip fails the run)" >&2
fi
# Lint and import order first (pyproject's [tool.ruff]): seconds, and a failure names file and line.
.venv/bin/ruff check .
# Two test processes, whole files each: most integration tests wait on real processes (trainers
# starting, leases lapsing), so two overlap well even on two cores. ADAMANT_TEST_PROCESSES=0
# runs in one process.
exec .venv/bin/python -m pytest -n "${ADAMANT_TEST_PROCESSES:-2}" --dist loadfile "$@"
