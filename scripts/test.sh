#!/usr/bin/env bash
# Runs the whole test suite: lint, types, then pytest through the real PC/SC stack.
# Starts pcscd when none is running, and stops what it started.
set -euo pipefail
cd "$(dirname "$0")/.."
PATH="$PWD/.venv/bin:$PATH"

started_pcscd=""
cleanup() {
  if [ -n "$started_pcscd" ]; then
    kill "$started_pcscd" 2>/dev/null || true
    wait "$started_pcscd" 2>/dev/null || true
  fi
}
trap cleanup EXIT

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
