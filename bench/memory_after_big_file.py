"""Memory comes back after a big file (issue 18): the resident `eport-agent run`'s RSS idle, then after a
1,000,000-row filing file has been answered (in 200 parts), then after a 100 MB file (refused at the per-file limit
of two million rows, after reading it that far). Target: each "after" within 2x the idle RSS.

Starts `eport-center serve` (SQLite) and `eport-agent run` on a fresh workspace with the emulated card, unlocks the
card with `eport-agent unlock --pin-stdin`, drops each file into inbox/filings/ and waits until it is answered.
Also reports the resident agent's peak RSS while each file was taken and answered.

    python bench/memory_after_big_file.py [--rows 1000000] [--big-mb 100]

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE))

from agent.store import Store  # noqa: E402
from bench.idle_footprint import HEADLESS, rss_mb, running_agent  # noqa: E402
from sync.limits import MAX_BATCH_RECORDS  # noqa: E402
from tests.rigs import PIN  # noqa: E402

TARGET_RATIO = 2.0


def filings_file(path: Path, rows: int, first: int = 260000000) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.write("form_no,port\n")
        for start in range(0, rows, 100_000):
            out.write("".join(f"{first + i:09d},2200\n" for i in range(start, min(rows, start + 100_000))))


def watch(pid: int, done: Callable[[], bool], timeout: float) -> tuple[float, float]:
    """Sample the process's RSS until ``done`` (seconds taken, peak MB)."""
    start, peak = time.monotonic(), 0.0
    while not done():
        peak = max(peak, rss_mb(pid))
        if time.monotonic() - start > timeout:
            raise TimeoutError("the file was not answered in time")
        time.sleep(0.25)
    return time.monotonic() - start, peak


def all_answered(store: Store, batches: int = 0) -> bool:
    """Every batch answered (and at least ``batches`` of them)."""
    counts = store.counts()
    answered = counts.get("delivered", 0) + counts.get("rejected", 0)
    return answered == sum(counts.values()) and answered >= batches


def settled_rss(pid: int, seconds: float = 5) -> float:
    """The mean RSS over a few quiet seconds."""
    samples = []
    for _ in range(int(seconds * 4)):
        samples.append(rss_mb(pid))
        time.sleep(0.25)
    return sum(samples) / len(samples)


def measure(rows: int, big_mb: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, running_agent(Path(tmp), business=True) as (workspace, pid):
        subprocess.run(
            [sys.executable, "-m", "agent.cli", "unlock", "--workspace", str(workspace.root), "--pin-stdin"],
            input=PIN,
            text=True,
            check=True,
            capture_output=True,
            env=HEADLESS,
        )
        idle = settled_rss(pid)
        store = Store(workspace.store_file)

        filings_file(workspace.root / "million.csv", rows)
        size_mb = (workspace.root / "million.csv").stat().st_size / 2**20
        os.rename(workspace.root / "million.csv", workspace.inbox / "filings" / "million.csv")  # as Excel saves
        parts = -(-rows // MAX_BATCH_RECORDS)  # filing rows are short: only the row count cuts parts
        seconds, peak = watch(pid, lambda: all_answered(store, parts), 1800)
        after_million = settled_rss(pid)

        big = workspace.root / "big.csv"
        filings_file(big, big_mb * 2**20 // 20, first=300000000)  # 20 bytes a row
        big_size = big.stat().st_size / 2**20
        dropped = workspace.inbox / "filings" / "big.csv"
        os.rename(big, dropped)
        big_seconds, big_peak = watch(pid, lambda: not dropped.exists() and all_answered(store), 1800)
        after_big = settled_rss(pid)
        refused = (workspace.errors / "big.errors.csv").exists()
    return {
        "benchmark": "memory_after_big_file",
        "idle_rss_mb": round(idle, 1),
        "million_rows": {
            "rows": rows,
            "file_mb": round(size_mb, 1),
            "parts": parts,
            "answered_s": round(seconds, 1),
            "peak_rss_mb": round(peak, 1),
            "after_rss_mb": round(after_million, 1),
            "ratio_to_idle": round(after_million / idle, 2),
        },
        "big_file": {
            "file_mb": round(big_size, 1),
            "refused_at_file_limit": refused,
            "answered_s": round(big_seconds, 1),
            "peak_rss_mb": round(big_peak, 1),
            "after_rss_mb": round(after_big, 1),
            "ratio_to_idle": round(after_big / idle, 2),
        },
        "target_ratio": TARGET_RATIO,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--big-mb", type=int, default=100)
    args = parser.parse_args()
    print(json.dumps(measure(args.rows, args.big_mb)))


if __name__ == "__main__":
    main()
