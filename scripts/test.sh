#!/usr/bin/env bash
# Runs the whole test suite: lint, types, then pytest through the real PC/SC stack.
# Starts pcscd when none is running, and a throwaway PostgreSQL cluster for the center's tests unless
# EPORT_TEST_POSTGRES_URL already names one; stops and removes what it started.
set -euo pipefail
cd "$(dirname "$0")/.."
PATH="$PWD/.venv/bin:$PATH"

started_pcscd=""
pg_dir=""
pg_bin=""
as_postgres() {
  # initdb refuses to run as root: the cluster belongs to the postgres user when we are root.
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
cleanup() {
  if [ -n "$started_pcscd" ]; then
    # The pcscd-restart test replaces the daemon it kills; that replacement is ours to stop too, found by the process
    # id in pcscd's pid file (never by name: another pcscd on the machine is not ours).
    replacement="$(tr -d '\0' < /run/pcscd/pcscd.pid 2>/dev/null || true)"
    kill "$started_pcscd" 2>/dev/null || true
    wait "$started_pcscd" 2>/dev/null || true
    if [ -n "$replacement" ] && [ "$replacement" != "$started_pcscd" ] \
        && [ "$(cat "/proc/$replacement/comm" 2>/dev/null)" = pcscd ]; then
      kill "$replacement" 2>/dev/null || true
    fi
  fi
  if [ -n "$pg_dir" ]; then
    as_postgres "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$pg_dir"
  fi
}
trap cleanup EXIT

if [ -z "${EPORT_TEST_POSTGRES_URL:-}" ]; then
  pg_bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  [ -n "$pg_bin" ] || { echo "PostgreSQL is not installed: run scripts/install.sh --test" >&2; exit 1; }
  pg_dir="$(mktemp -d)"
  [ "$(id -u)" != 0 ] || chown postgres: "$pg_dir"
  pg_port="$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  as_postgres "$pg_bin/initdb" -D "$pg_dir/data" -U postgres -A trust -E UTF8 --no-locale >/dev/null
  as_postgres "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w \
    -o "-k $pg_dir -p $pg_port -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
  as_postgres "$pg_bin/createdb" -h "$pg_dir" -p "$pg_port" -U postgres eport_test
  export EPORT_TEST_POSTGRES_URL="postgresql://postgres@127.0.0.1:$pg_port/eport_test"
fi

if ! python -c "import socket; s = socket.socket(socket.AF_UNIX); s.connect('/run/pcscd/pcscd.comm')" 2>/dev/null; then
  pcscd --foreground --error &
  started_pcscd=$!
  for _ in $(seq 50); do
    python -c "import socket; s = socket.socket(socket.AF_UNIX); s.connect('/run/pcscd/pcscd.comm')" 2>/dev/null && break
    sleep 0.1
  done
fi

ruff check .
ruff format --check .
mypy
python -m pytest -q "$@"
