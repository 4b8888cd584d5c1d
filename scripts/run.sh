#!/usr/bin/env bash
# Runs the whole service locally: makes .venv, installs requirements, starts every process.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh
exec python scripts/local_service.py
