#!/usr/bin/env bash
# Builds dist/eport-agent_<version>_<arch>.deb with dpkg-deb: the agent and the center in a Python virtual
# environment of their own under /opt/eport-agent (Debian's python3, the project and its dependencies from PyPI),
# eport-agent and eport-center on the PATH, the agent's log-in entry (/etc/xdg/autostart), its sync daemon as a
# systemd user unit and the center as a system unit with its own user and settings (/etc/eport-center/center.env).
#
# Needs, besides dpkg: python3-venv, and to build pyscard: gcc, python3-dev, swig, libpcsclite-dev
# (scripts/install.sh --test installs them). Usage: packaging/debian/build.sh [OUTPUT_DIR]   (default: dist)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out="$(mkdir -p "${1:-$repo/dist}" && cd "${1:-$repo/dist}" && pwd)"

PYTHON=/usr/bin/python3  # the system's: the package depends on its python3.X
PREFIX=/opt/eport-agent
version="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$repo/pyproject.toml" | head -n 1)"
arch="$(dpkg --print-architecture)"
pyver="$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
root="$work/root"

# The project from a copy of the work tree without what git ignores (no .venv, build/ or egg-info).
mkdir -p "$work/src"
(
    cd "$repo"
    git ls-files -z --cached --others --exclude-standard \
        | while IFS= read -r -d '' file; do [ -e "$file" ] && printf '%s\0' "$file"; done \
        | xargs -0 cp --parents -t "$work/src"
)

# The environment, built where it will live in the package, then moved: scripts and pyvenv.cfg name their home.
"$PYTHON" -m venv "$root$PREFIX/venv"
"$root$PREFIX/venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-compile "$work/src[postgres]"
grep -rlI --null "$root$PREFIX" "$root$PREFIX/venv/bin" "$root$PREFIX/venv/pyvenv.cfg" \
    | xargs -0 sed -i "s#$root$PREFIX#$PREFIX#g"
find "$root$PREFIX/venv" -name __pycache__ -type d -prune -exec rm -rf {} +
find "$root$PREFIX/venv" -name direct_url.json -delete  # it names the build's temporary folder
"$PYTHON" -m compileall -q -j 0 -s "$root" -p / "$root$PREFIX/venv/lib" >/dev/null

install -d "$root$PREFIX/doc" "$root/usr/bin" "$root/etc/xdg/autostart" "$root/etc/eport-center" \
    "$root/usr/lib/systemd/system" "$root/usr/lib/systemd/user" "$root/usr/share/doc/eport-agent"
cp "$repo/README.md" "$repo"/docs/*.md "$root$PREFIX/doc/"
ln -s "$PREFIX/venv/bin/eport-agent" "$root/usr/bin/eport-agent"
ln -s "$PREFIX/venv/bin/eport-center" "$root/usr/bin/eport-center"
install -m 0644 "$here/eport-agent.desktop" "$root/etc/xdg/autostart/eport-agent.desktop"
install -m 0640 "$here/center.env" "$root/etc/eport-center/center.env"
install -m 0644 "$here/eport-center.service" "$root/usr/lib/systemd/system/eport-center.service"
install -m 0644 "$here/eport-agent-sync.service" "$root/usr/lib/systemd/user/eport-agent-sync.service"
printf 'eport-agent %s, built from the project repository; documents in %s/doc\n' "$version" "$PREFIX" \
    >"$root/usr/share/doc/eport-agent/README"

install -d "$root/DEBIAN"
for script in postinst prerm postrm; do install -m 0755 "$here/$script" "$root/DEBIAN/$script"; done
printf '/etc/xdg/autostart/eport-agent.desktop\n/etc/eport-center/center.env\n' >"$root/DEBIAN/conffiles"
size="$(du -sk --exclude=DEBIAN "$root" | cut -f1)"
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" -e "s/@PYVER@/$pyver/" \
    "$here/control.in" >"$root/DEBIAN/control"

deb="$out/eport-agent_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zgzip --build "$root" "$deb" >/dev/null
echo "$deb"
