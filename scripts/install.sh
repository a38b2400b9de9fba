#!/usr/bin/env bash
# Installs what the demo needs on a fresh Debian machine (root or sudo): the tools to build pyscard (the card stack's
# PC/SC binding) and a virtual environment .venv with the project. Nothing is started.
#
#   scripts/install.sh          the demo:  .venv/bin/eport-agent demo --workspace demo-workspace
#   scripts/install.sh --test   and what the tests need: the PC/SC daemon and the vpcd virtual reader, Tk, Xvfb and a
#                               system tray (trayer), PostgreSQL (a throwaway cluster for the center's suite),
#                               systemd's and the desktop entries' checkers (the Debian package's test), chromium and
#                               its driver with a Chinese font (the status page's browser tests) and the test tools in
#                               .venv
#
# A clerk's PC or a center installs the Debian package instead (packaging/debian/build.sh, docs/OPERATOR.md).
set -euo pipefail
cd "$(dirname "$0")/.."

test_too=""
case "${1:-}" in
  "") ;;
  --test) test_too=1 ;;
  *) echo "usage: scripts/install.sh [--test]" >&2; exit 2 ;;
esac

SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
packages=(gcc python3-dev python3-venv swig libpcsclite-dev)
if [ -n "$test_too" ]; then
  packages+=(pcscd vsmartcard-vpcd python3-tk xvfb trayer postgresql systemd desktop-file-utils)
  packages+=(chromium chromium-driver fonts-wqy-zenhei)
fi
# The OpenSSL command line: the independent check of our SM2 signatures and certificates (tests/test_sm2.py).
[ -z "$test_too" ] || packages+=(openssl)
# LibreOffice Calc, headless: the slow test that opens the agent's CSV and workbooks in a real spreadsheet program.
[ -z "$test_too" ] || packages+=(libreoffice-calc-nogui)
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
if [ -n "$test_too" ]; then
  .venv/bin/python -m pip install -q -e '.[test]'
else
  .venv/bin/python -m pip install -q -e .
fi
