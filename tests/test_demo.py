"""The README's main command: `eport-agent demo` runs the center as its own process, enrolls its emulated card and
PC over the wire, turns the dropped sample into results, stops everything cleanly on Ctrl-C and resumes on the same
folder."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from center.db import enrollment_codes
from center.service import Center
from tests.tables import read_table


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def start_demo(workspace: Path, port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "agent.cli", "demo", "--workspace", str(workspace), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for(path: Path, timeout: float = 60) -> Path:  # the demo starts a center and enrolls first
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.05)
    return path


def stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=20)
    assert process.returncode == 0, out
    return out


def test_demo_turns_the_sample_into_results_and_resumes(tmp_path: Path) -> None:
    workspace, port = tmp_path / "demo", free_port()
    demo = start_demo(workspace, port)
    try:
        result = wait_for(workspace / "outbox" / "results" / "filings.result.csv")
    finally:
        out = stop(demo)
    assert "NOT FOR PRODUCTION" in out and str(workspace / "inbox" / "filings") in out
    rows = read_table(result)
    assert [r["code"] for r in rows] == ["OK", "OK", "OK", "FORM_NOT_FOUND", "FORM_NOT_FOUND"]
    assert (workspace / "outbox" / "receipts" / "filings.receipt.jws").exists()
    info = json.loads((workspace / "demo.json").read_text(encoding="utf-8"))
    assert info["center_url"] == f"http://127.0.0.1:{port}" and info["enterprise"] == "DEMO000001"
    assert Path(info["center_db"]).exists()
    # The center ran as its own `eport-center serve` process, stopped with the demo; the card and the PC were
    # enrolled over the wire with the codes the demo had the center make, the CA pinned from them.
    assert "Running on" in (workspace / "logs" / "center.log").read_text(encoding="utf-8")
    assert port_is_free(port)
    with Center.open(info["center_db"]) as center:
        with center.engine.connect() as conn:
            codes = conn.execute(sa.select(enrollment_codes.c.kind, enrollment_codes.c.used_at)).all()
        assert sorted(kind for kind, used_at in codes if used_at is not None) == ["device", "operator"]
        pinned = (workspace / "state" / "center-ca.pem").read_text(encoding="ascii")
        assert pinned == center.ca_certificate_pem()

    # Again on the same folder (and another port): same center data, the sample is not dropped a second time,
    # and a file dropped now is answered by the same center (the form filed in the first run stays filed).
    port = free_port()
    demo = start_demo(workspace, port)
    try:
        first_form = rows[0]["form_no"]
        (workspace / "inbox" / "filings" / "again.csv").write_text(f"form_no,port\n{first_form},2200\n")
        again = wait_for(workspace / "outbox" / "results" / "again.result.csv")
    finally:
        stop(demo)
    assert "FORM_ALREADY_FILED" in again.read_text(encoding="utf-8-sig")
    assert sorted(p.name for p in (workspace / "outbox" / "results").iterdir()) == [
        "again.result.csv",
        "again.result.xlsx",
        "filings.result.csv",
        "filings.result.xlsx",
    ]
    assert json.loads((workspace / "demo.json").read_text())["center_url"] == f"http://127.0.0.1:{port}"
    assert port_is_free(port)


def test_init_creates_the_workspace_and_status_reports_the_queue(tmp_path: Path) -> None:
    from agent.cli import main

    workspace = tmp_path / "ws"
    assert main(["status", "--workspace", str(workspace)]) == 2  # not a workspace yet: a clear error, no crash
    assert main(["init", "--workspace", str(workspace)]) == 0
    for folder in (
        "inbox/filings",
        "inbox/queries",
        "outbox/results",
        "outbox/receipts",
        "outbox/errors",
        "outbox/updates",
        "outbox/queries",
        "archive",
        "templates",
        "state",
        "logs",
    ):
        assert (workspace / folder).is_dir(), folder
    assert "[center]" in (workspace / "agent.toml").read_text(encoding="utf-8")
    ran = subprocess.run(
        [sys.executable, "-m", "agent.cli", "status", "--json", "--workspace", str(workspace)],
        capture_output=True,
        text=True,
    )
    assert ran.returncode == 3  # no agent runs on it yet, and the exit code says so
    status = json.loads(ran.stdout)
    assert (status["workspace"], status["batches"]) == (str(workspace), {})
