"""What a person sees first: bare `eport-agent` prints its help, `--version` answers, and a PC that is set up but not
enrolled is told how to enroll instead of only what file is missing (Chinese first)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def eport(program: str, *argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    module = "agent.cli" if program == "eport-agent" else "center.cli"
    environment = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", module, *argv], capture_output=True, text=True, timeout=60, env=environment
    )


def test_bare_command_prints_help() -> None:
    done = eport("eport-agent")
    assert done.returncode == 0
    assert "usage: eport-agent" in done.stdout and "init" in done.stdout and "card" in done.stdout


@pytest.mark.parametrize("program", ["eport-agent", "eport-center"])
def test_version(program: str) -> None:
    from importlib.metadata import version

    done = eport(program, "--version")
    assert (done.returncode, done.stdout.strip()) == (0, f"{program} {version('eport-agent')}")


@pytest.mark.parametrize("command", ["run", "sync-daemon"])
def test_a_fresh_workspace_says_how_to_enroll(tmp_path: Path, command: str) -> None:
    workspace = str(tmp_path / "ws")
    assert eport("eport-agent", "init", "--workspace", workspace).returncode == 0
    extra = ["--no-tray"] if command == "run" else []
    done = eport("eport-agent", command, *extra, "--workspace", workspace)
    assert done.returncode == 2
    assert "eport-agent card enroll --center URL --code CODE" in done.stderr
    assert done.stderr.index("本机尚未注册到数据中心") < done.stderr.index("this PC is not enrolled")


def test_the_workspace_chosen_at_init_is_the_one_run_at_log_in_uses(tmp_path: Path) -> None:
    """The autostart entry and the sync service run `eport-agent run` / `sync-daemon` without --workspace."""
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config"), "EPORT_AGENT_HOME": ""}
    chosen = tmp_path / "出口收汇"
    done = eport("eport-agent", "init", "--workspace", str(chosen), env=env)
    assert done.returncode == 0 and "log-in entry use it" in done.stdout
    done = eport("eport-agent", "sync-daemon", env=env)  # no --workspace
    assert done.returncode == 2 and str(chosen / "state" / "center-ca.pem") in done.stderr
