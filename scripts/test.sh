#!/usr/bin/env bash
# Runs the test suite against real Redis (TEST_REDIS_URL) and real PostgreSQL (TEST_POSTGRES_URL).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh
exec python -m pytest "$@"
