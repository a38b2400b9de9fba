"""Intake of a 100,000-row filing workbook (.xlsx, as Excel saves it) beside the same rows as CSV, in one run: rows
per second and peak memory of each, from drop to stored batch (read, validate, store; no signature, which costs the
same for both).

Each part runs in its own process so that its peak memory (max RSS) is its own.

    python bench/workbook_intake.py [--rows 100000]

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE))


def make_files(folder: Path, rows: int) -> tuple[Path, Path]:
    """The same rows twice: a CSV, and a workbook with its form numbers in a text column (as the template has it)."""
    import xlsxwriter

    csv_path, xlsx_path = folder / "filings.csv", folder / "filings.xlsx"
    with csv_path.open("w", encoding="utf-8", newline="") as out:
        out.write("核销单号,口岸\r\n")
        for n in range(rows):
            out.write(f"{n + 100000000:09d},2200\r\n")
    book = xlsxwriter.Workbook(str(xlsx_path), {"constant_memory": True})
    sheet = book.add_worksheet("口岸备案")
    text = book.add_format({"num_format": "@"})
    sheet.write_row(0, 0, ["核销单号", "口岸"])
    for n in range(rows):
        sheet.write_string(n + 1, 0, f"{n + 100000000:09d}", text)
        sheet.write_number(n + 1, 1, 2200)  # a port code typed into a General cell: a number, read as Excel shows it
    book.close()
    return csv_path, xlsx_path


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def intake(path: Path, work: Path) -> dict[str, Any]:
    from agent.intake import Intake
    from agent.store import Store
    from agent.workspace import Workspace

    workspace = Workspace(work / f"ws-{path.suffix[1:]}")
    workspace.init()
    store = Store(workspace.store_file)
    store.replace_ports([{"code": "2200", "name": "上海海关"}])
    dropped = workspace.inbox / "filings" / path.name
    dropped.hardlink_to(path)
    rss_before = max_rss_mb()
    start = time.perf_counter()
    batch_id = Intake(workspace, store, lambda kind, path: None).take(dropped)
    seconds = time.perf_counter() - start
    assert batch_id is not None and store.batch(batch_id)["record_count"] > 0
    return {"seconds": seconds, "max_rss_mb": max_rss_mb(), "rss_before_mb": rss_before}


def run_part(path: Path, work: Path) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--part", str(path), str(work)], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--part", nargs=2, metavar=("FILE", "WORK"))
    args = parser.parse_args()
    if args.part:
        print(json.dumps(intake(Path(args.part[0]), Path(args.part[1]))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        csv_path, xlsx_path = make_files(Path(tmp), args.rows)
        sizes = {p.suffix[1:]: p.stat().st_size / 1048576 for p in (csv_path, xlsx_path)}
        csv_run, xlsx_run = run_part(csv_path, Path(tmp)), run_part(xlsx_path, Path(tmp))
    print(
        json.dumps(
            {
                "benchmark": "workbook_intake",
                "rows": args.rows,
                "csv_mb": round(sizes["csv"], 1),
                "xlsx_mb": round(sizes["xlsx"], 1),
                "csv_rows_per_s": round(args.rows / csv_run["seconds"]),
                "xlsx_rows_per_s": round(args.rows / xlsx_run["seconds"]),
                "xlsx_vs_csv": round(csv_run["seconds"] / xlsx_run["seconds"], 3),
                "csv_peak_rss_mb": round(csv_run["max_rss_mb"], 1),
                "xlsx_peak_rss_mb": round(xlsx_run["max_rss_mb"], 1),
                "rss_before_intake_mb": round(xlsx_run["rss_before_mb"], 1),
            }
        )
    )


if __name__ == "__main__":
    main()
