#!/usr/bin/env bash
# Sets everything up, then runs Adamant with its embedded defaults: the API, the dashboard and
# one worker at http://localhost:8000, with SQLite, a filesystem broker and artifacts under ./var.
# Set DATABASE_URL / BROKER_URL / ADAMANT_ARTIFACTS to run the same against PostgreSQL and Redis.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec .venv/bin/python -m service.embedded "$@"
