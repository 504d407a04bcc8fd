#!/usr/bin/env bash
# The whole test suite, from a fresh clone: venv + install, lint, types, unit + integration tests on SQLite,
# then the integration tests again on PostgreSQL, then the docs build.
# Services: PostgreSQL on 127.0.0.1:5432 (trust auth, user postgres) and Redis on 127.0.0.1:6379.
# Locally a missing service skips its suite; with CI=true it fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${BEAT_STORE_VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e ".[test,postgres]"
if [ -x scripts/install-browser.sh ] || [ -f scripts/install-browser.sh ]; then
  bash scripts/install-browser.sh
fi
export PATH="$PWD/$VENV/bin:$PATH"

echo "== lint (ruff) and types (mypy)"
ruff check .
ruff format --check .
mypy beat_store

pg_ok() { "$VENV/bin/python" -c "import psycopg; psycopg.connect('host=127.0.0.1 port=5432 user=postgres dbname=postgres', connect_timeout=3).close()" 2>/dev/null; }

echo "== tests on SQLite (unit, integration with real beat/worker over Redis, browser)"
pytest -q "$@"

echo "== integration tests on PostgreSQL"
if pg_ok; then
  BEAT_STORE_DATABASE=postgres pytest -q tests/integration "$@"
elif [ "${CI:-}" = "true" ]; then
  echo "PostgreSQL is not reachable on 127.0.0.1:5432 and CI=true: failing" >&2
  exit 1
else
  echo "PostgreSQL is not reachable on 127.0.0.1:5432: Postgres suite SKIPPED (it must run in CI)"
fi

if [ -f docs/conf.py ]; then
  echo "== docs (Sphinx, warnings are errors)"
  sphinx-build -q -W --keep-going -b html docs docs/_build/html
fi
