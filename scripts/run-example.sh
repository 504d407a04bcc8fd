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
# BEAT_STORE_EXAMPLE_SKIP_INSTALL=1 reuses a virtualenv that has the package already (the test of this script).
if [ "${BEAT_STORE_EXAMPLE_SKIP_INSTALL:-0}" != "1" ]; then
  EXTRAS="postgres,metrics"  # metrics: the Prometheus view at /beat-store/metrics/
  # MariaDB/MySQL's driver compiles against libmariadb-dev (apt-get install libmariadb-dev pkg-config).
  if [ "${EXAMPLE_DATABASE:-sqlite}" = "mysql" ]; then EXTRAS="$EXTRAS,mysql"; fi
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e ".[$EXTRAS]"
fi
VENV_PYTHON="$(cd "$VENV/bin" && pwd)/python"  # absolute: BEAT_STORE_VENV may be relative or not
cd example_project
exec "$VENV_PYTHON" run.py
