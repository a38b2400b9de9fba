"""The load test (bench/center_load.py) at a tenth of its size: 100 simulated agents against ``serve --workers 1`` and
``--workers 2`` on a PostgreSQL cluster of its own, and afterwards every batch applied exactly once and every feed
entry delivered to its agent, once and in order (docs/PERFORMANCE.md has the full run's figures)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
POSTGRESQL = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not POSTGRESQL and not os.environ.get("CI"), reason="PostgreSQL is not installed (scripts/install.sh)"
    ),
]


@pytest.mark.timeout(900)
def test_a_hundred_agents_on_one_and_two_processes() -> None:
    command = [
        sys.executable,
        str(ROOT / "bench" / "center_load.py"),
        *("--agents", "100", "--workers", "1", "2", "--forms", "300"),
        *("--seconds", "20", "--batch-every", "5", "--poll-every", "5", "--saturation-seconds", "10"),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=840)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["errors"] == 0, [run["first_errors"] for run in result["runs"]]
    assert [run["workers"] for run in result["runs"]] == [1, 2]
    for run in result["runs"]:
        checked = run["verification"]
        assert checked["problems"] == {}
        assert checked["batches_stored"] == checked["batches_sent"] > 0
        assert checked["resent_identical_answers"] == checked["resent_at_once"] > 0
        assert checked["receipts_invalid"] == 0
        assert checked["feed_entries_delivered"] == checked["feed_entries"] > 0
        assert checked["metrics_agree"]  # /metrics of either process counts both
        assert run["paced"]["batches"] > 0 and run["saturated"]["batches"] > 0
        assert set(run["paced"]["batches_by_kind"]) == {"filings", "submissions", "queries"}
    assert result["verified"]
