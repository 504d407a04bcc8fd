#!/usr/bin/env bash
# The whole test suite, from a fresh clone: venv + install, lint, types, unit + integration tests on SQLite,
# then the integration tests again on PostgreSQL and on MariaDB/MySQL, then the docs build.
# Services: PostgreSQL on 127.0.0.1:5432 (trust auth, user postgres), MariaDB on 127.0.0.1:3306 (user root, no
# password) and Redis on 127.0.0.1:6379.
# Locally a missing service skips its suite; with CI=true it fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${BEAT_STORE_VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
# mysqlclient (the `mysql` extra) compiles against the MariaDB client library: Debian's libmariadb-dev.
if ! pkg-config --exists libmariadb 2>/dev/null && ! pkg-config --exists mysqlclient 2>/dev/null; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq libmariadb-dev pkg-config >/dev/null
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e ".[test,postgres,mysql]"
if [ -x scripts/install-browser.sh ] || [ -f scripts/install-browser.sh ]; then
  bash scripts/install-browser.sh
fi
export PATH="$PWD/$VENV/bin:$PATH"

echo "== lint (ruff) and types (mypy)"
ruff check .
ruff format --check .
mypy beat_store

mysql_ok() { "$VENV/bin/python" -c "import MySQLdb; MySQLdb.connect(host='127.0.0.1', port=3306, user='root', connect_timeout=3).close()" 2>/dev/null; }
pg_ok() { "$VENV/bin/python" -c "import psycopg; psycopg.connect('host=127.0.0.1 port=5432 user=postgres dbname=postgres', connect_timeout=3).close()" 2>/dev/null; }

echo "== tests on SQLite (unit, integration with real beat/worker over Redis, browser)"
pytest -q "$@"

# integration_suite LABEL KIND CHECK WHERE: the integration tests on another database; skipped locally when CHECK
# fails, a failure under CI=true.
integration_suite() {
  echo "== integration tests on $1"
  if "$3"; then
    BEAT_STORE_DATABASE="$2" pytest -q tests/integration "${@:5}"
  elif [ "${CI:-}" = "true" ]; then
    echo "$1 is not reachable on $4 and CI=true: failing" >&2
    exit 1
  else
    echo "$1 is not reachable on $4: its suite SKIPPED (it must run in CI)"
  fi
}
integration_suite PostgreSQL postgres pg_ok "127.0.0.1:5432 (user postgres)" "$@"
integration_suite MariaDB mysql mysql_ok "127.0.0.1:3306 (user root)" "$@"

if [ -f docs/conf.py ]; then
  echo "== docs (Sphinx, warnings are errors)"
  sphinx-build -q -W --keep-going -b html docs docs/_build/html
fi
