"""Intake throughput of a 1,000,000-row filing CSV (issue 4): read, validate, store, one card signature a batch (a
file over one batch's limits is stored as several, its parts: 200 for a million rows).

Against a floor measured in the same run on the same file: ``csv.reader`` over it plus one ``executemany`` of its
rows into SQLite. Each part runs in its own process so that its peak memory (max RSS) is its own.

    python bench/intake_throughput.py [--rows 1000000]

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PIN = "123456"


def make_file(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("form_no,port\r\n")
        for n in range(rows):
            out.write(f"{n + 100000000:09d},2200\r\n")


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def floor(path: Path, work: Path) -> dict[str, Any]:
    start = time.perf_counter()
    db = sqlite3.connect(work / "floor.db", isolation_level=None)
    db.execute("CREATE TABLE rows (form_no TEXT, port TEXT)")
    db.execute("BEGIN")
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        db.executemany("INSERT INTO rows VALUES (?, ?)", reader)
    db.execute("COMMIT")
    return {"seconds": time.perf_counter() - start, "max_rss_mb": max_rss_mb()}


def agent_intake(path: Path, work: Path) -> dict[str, Any]:
    from cryptography.hazmat.primitives.asymmetric import ec

    from agent.card.emulated import EmulatedConnection, EmulatedPivCard, self_signed_certificate
    from agent.intake import Intake
    from agent.operator_card import OperatorCard
    from agent.signer import Signer
    from agent.store import Store
    from agent.workspace import Workspace

    key = ec.generate_private_key(ec.SECP256R1())
    card = EmulatedPivCard(pin=PIN, key=key, certificate=self_signed_certificate(key))
    workspace = Workspace(work / "ws")
    workspace.init()
    # The two stages a dropped file goes through before it is sent, as the agent wires them.
    store = Store(workspace.store_file)
    operator_card = OperatorCard(lambda: EmulatedConnection(card))
    operator_card.unlock(PIN)
    intake, signer = Intake(workspace, store, lambda kind, path: None), Signer(store, operator_card)
    store.replace_ports([{"code": "2200", "name": "上海海关"}])
    dropped = workspace.inbox / "filings" / path.name
    dropped.hardlink_to(path)
    rss_before = max_rss_mb()
    start = time.perf_counter()
    batch_id = intake.take(dropped)
    read_validated_stored = time.perf_counter() - start
    signer.sign_waiting()
    seconds = time.perf_counter() - start
    parts = store.parts(batch_id) if batch_id is not None else []
    assert parts and all(store.batch(part)["state"] == "signed" for part in parts) and card.signatures == len(parts)
    return {
        "parts": len(parts),
        "seconds": seconds,
        "read_validate_store_seconds": read_validated_stored,
        "sign_seconds": seconds - read_validated_stored,
        "max_rss_mb": max_rss_mb(),
        "rss_before_intake_mb": rss_before,
    }


def run_part(part: str, path: Path, work: Path) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--part", part, str(path), str(work)], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--part", choices=("floor", "agent"))
    parser.add_argument("paths", nargs="*")
    args = parser.parse_args()
    if args.part:
        path, work = Path(args.paths[0]), Path(args.paths[1])
        print(json.dumps(floor(path, work) if args.part == "floor" else agent_intake(path, work)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "filings-1m.csv"
        make_file(path, args.rows)
        floor_run = run_part("floor", path, Path(tmp))
        agent_run = run_part("agent", path, Path(tmp))
        size_mb = path.stat().st_size / 1048576
    floor_rate = args.rows / floor_run["seconds"]
    agent_rate = args.rows / agent_run["seconds"]
    print(
        json.dumps(
            {
                "benchmark": "intake_throughput",
                "rows": args.rows,
                "file_mb": round(size_mb, 1),
                "floor_rows_per_s": round(floor_rate),
                "agent_rows_per_s": round(agent_rate),
                "agent_vs_floor": round(agent_rate / floor_rate, 3),
                "target_vs_floor": 0.5,
                "agent_read_validate_store_s": round(agent_run["read_validate_store_seconds"], 2),
                "agent_sign_s": round(agent_run["sign_seconds"], 2),
                "agent_peak_rss_mb": round(agent_run["max_rss_mb"], 1),
                "agent_rss_before_intake_mb": round(agent_run["rss_before_intake_mb"], 1),
                "floor_peak_rss_mb": round(floor_run["max_rss_mb"], 1),
            }
        )
    )


if __name__ == "__main__":
    main()
