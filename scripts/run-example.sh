#!/usr/bin/env bash
# Run the example project from a fresh clone: venv + install, migrate, seed, then admin + worker + beat.
# Defaults need no server (SQLite + kombu's filesystem transport); see example_project/proj/settings.py for the
# environment variables that switch to PostgreSQL, Redis or RabbitMQ.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${BEAT_STORE_VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e ".[postgres]"
cd example_project
exec "../$VENV/bin/python" run.py
