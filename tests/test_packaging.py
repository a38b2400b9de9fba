"""The Debian package as an IT person installs it: packaging/debian/build.sh builds it, `apt-get install ./….deb`
installs it with its dependencies (pcscd), the commands are on the PATH and work (`--version`, `init`, a center
made with `eport-center init`, the card stack's pyscard), the center gets its own system user and state folder, the
systemd units pass `systemd-analyze verify` (system and user) and the log-in entry is a valid desktop entry; purging
removes the programs and keeps the center's data.

Slow (it builds a Python environment from PyPI) and it changes the machine, so it runs only as root on a Debian
machine without another eport-agent package installed (CI is such a machine); it purges the package afterwards.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SYSTEM_UNIT = Path("/usr/lib/systemd/system/eport-center.service")
USER_UNIT = Path("/usr/lib/systemd/user/eport-agent-sync.service")
AUTOSTART = Path("/etc/xdg/autostart/eport-agent.desktop")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]


def run(*argv: str | Path, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive", **(env or {})}
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=timeout, env=environment)


def installed() -> bool:
    return "install ok installed" in run("dpkg-query", "-W", "-f=${Status}", "eport-agent").stdout


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    if os.geteuid() != 0 or not shutil.which("apt-get") or not shutil.which("dpkg-deb"):
        pytest.skip("installing a .deb needs root on a Debian machine (CI runs this as root)")
    if installed():
        pytest.skip("an eport-agent package is installed on this machine already: not ours to replace or purge")
    built = run(REPO / "packaging" / "debian" / "build.sh", tmp_path_factory.mktemp("dist"), timeout=1100)
    assert built.returncode == 0, built.stderr[-3000:]
    deb = Path(built.stdout.strip().splitlines()[-1])
    assert deb.name == f"eport-agent_{version('eport-agent')}_{run('dpkg', '--print-architecture').stdout.strip()}.deb"
    done = run("apt-get", "install", "-y", "-q", "--no-install-recommends", deb)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    try:
        yield deb
    finally:
        purged = run("apt-get", "purge", "-y", "-q", "eport-agent")
        assert purged.returncode == 0, purged.stderr
        assert not Path("/usr/bin/eport-agent").exists() and not Path("/opt/eport-agent").exists()
        assert Path("/var/lib/eport-center").is_dir()  # the center's data outlives the package


def test_the_installed_commands_work(package: Path, tmp_path: Path) -> None:
    # On the PATH of a system without a development environment in front (the test runner puts its own first).
    system_path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    assert shutil.which("eport-agent", path=system_path) == "/usr/bin/eport-agent"
    for program in ("eport-agent", "eport-center"):
        done = run(f"/usr/bin/{program}", "--version")
        assert (done.returncode, done.stdout.strip()) == (0, f"{program} {version('eport-agent')}")
    bare = run("/usr/bin/eport-agent")
    assert bare.returncode == 0 and "usage: eport-agent" in bare.stdout

    home = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / ".config"), "EPORT_AGENT_HOME": ""}
    workspace = tmp_path / "出口收汇"
    done = run("/usr/bin/eport-agent", "init", "--workspace", workspace, env=home)
    assert done.returncode == 0, done.stderr
    assert (workspace / "agent.toml").is_file() and (workspace / "inbox" / "filings").is_dir()
    first_run = run("/usr/bin/eport-agent", "sync-daemon", env=home)  # what the user service runs
    assert first_run.returncode == 2 and "eport-agent card enroll --center URL --code CODE" in first_run.stderr

    center = run("/usr/bin/eport-center", "init", "--db", tmp_path / "center.db")
    assert center.returncode == 0 and "the center is created" in center.stdout, center.stderr
    card_stack = run("/opt/eport-agent/venv/bin/python", "-c", "import smartcard.scard, psycopg; print('ok')")
    assert card_stack.stdout.strip() == "ok", card_stack.stderr


def test_the_center_has_its_own_user_and_state_folder(package: Path) -> None:
    user = run("getent", "passwd", "eport-center").stdout.split(":")
    assert user[5] == "/var/lib/eport-center"
    assert Path("/var/lib/eport-center").owner() == "eport-center"
    settings = Path("/etc/eport-center/center.env").read_text(encoding="utf-8")
    assert "EPORT_CENTER_DB=/var/lib/eport-center/center.db" in settings
    assert re.search(r"^EnvironmentFile=/etc/eport-center/center.env$", SYSTEM_UNIT.read_text(), re.M)


def test_the_units_and_the_log_in_entry_are_valid(package: Path, tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (scripts/install.sh --test installs systemd's tools)")
    system = run(analyze, "verify", SYSTEM_UNIT)
    assert system.returncode == 0, system.stderr
    # A user manager's paths need a runtime folder, which a container's root session may not have.
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    user = run(analyze, "--user", "verify", USER_UNIT, env={"XDG_RUNTIME_DIR": str(runtime)})
    assert user.returncode == 0, user.stderr
    assert "ExecStart=/usr/bin/eport-agent sync-daemon" in USER_UNIT.read_text()

    entry = AUTOSTART.read_text(encoding="utf-8")
    assert "\nExec=eport-agent run\n" in entry and "\nType=Application\n" in entry
    validate = shutil.which("desktop-file-validate")
    if validate is not None:
        checked = run(validate, AUTOSTART)
        assert checked.returncode == 0, checked.stdout + checked.stderr
