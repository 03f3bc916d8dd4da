#!/usr/bin/env bash
# Sets everything up, then runs the project's main job with its embedded defaults.
# Today that is the training engine on a built-in example (bank-marketing propensity); the
# HTTP service and its dashboard replace it when they land.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec .venv/bin/adamant train examples/bank-marketing-propensity.json --out var/runs/bank-marketing "$@"
