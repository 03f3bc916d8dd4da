#!/usr/bin/env bash
# Sets everything up and runs the whole test suite (slow and integration tests included).
# Extra arguments go to pytest, e.g. ./scripts/test.sh -m "not slow" -x
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/services.sh
# Two test processes, whole files each: most integration tests wait on real processes (trainers
# starting, leases lapsing), so two overlap well even on two cores. ADAMANT_TEST_PROCESSES=0
# runs in one process.
exec .venv/bin/python -m pytest -n "${ADAMANT_TEST_PROCESSES:-2}" --dist loadfile "$@"
