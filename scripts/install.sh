#!/usr/bin/env bash
# Installs what the agent, the center and the tests need on a fresh Debian machine:
# the PC/SC stack (pcscd, the vpcd virtual reader driver), the tools to build pyscard, Tk for the tray's PIN dialog,
# Xvfb and a system tray (trayer) for the tray tests,
# PostgreSQL (the tests run the center's suite against a throwaway cluster too),
# and a virtual environment .venv with the project and its test tools.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
packages=(pcscd libpcsclite-dev swig vsmartcard-vpcd gcc python3-dev python3-venv python3-tk xvfb trayer postgresql)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'
