"""Throughput from drop to result files (issue 5): 100 files × 1,000 filing rows dropped at once into inbox/filings/,
timed until the last result file exists. The center runs on loopback (SQLite file), the agent in the same process
with the emulated card in process.

    python bench/sync_throughput.py [--files 100] [--rows 1000]

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from center.service import Center
from tests.rigs import ENTERPRISE, PIN, agent_for, enrolled_card, free_port, serve, workspace_for


async def run(files: int, rows: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        center = Center.open(str(root / "center.db"))
        center.create_enterprise(ENTERPRISE, "bench")
        center.access_register(ENTERPRISE, "bench0001@17999.e163", "leased-line")  # business opens (rule 12)
        card, port = enrolled_card(center), free_port()
        forms = [f for _ in range(files * rows // 1000) for f in center.issue_forms(ENTERPRISE, 1000)]
        workspace = workspace_for(root / "ws", center, port)
        runner = await serve(center, port)
        agent = agent_for(workspace, center, card, port)
        await agent.start()
        await asyncio.get_running_loop().run_in_executor(None, agent.unlock, PIN)
        staging = root / "staging"
        staging.mkdir()
        for n in range(files):
            lines = "".join(f"{f},2200\r\n" for f in forms[n * rows : (n + 1) * rows])
            (staging / f"f{n:03d}.csv").write_text("form_no,port\r\n" + lines, encoding="utf-8")
        start = time.perf_counter()
        for path in sorted(staging.iterdir()):
            path.rename(workspace.inbox / "filings" / path.name)  # a drop: the file appears whole
        last = workspace.results / f"f{files - 1:03d}.result.csv"
        while len(list(workspace.results.glob("*.result.csv"))) < files:
            await asyncio.sleep(0.01)
        seconds = time.perf_counter() - start
        assert last.exists()
        await agent.stop()
        await runner.cleanup()
        center.close()
    return {
        "benchmark": "sync_throughput",
        "files": files,
        "rows_per_file": rows,
        "seconds": round(seconds, 2),
        "records_per_s": round(files * rows / seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--rows", type=int, default=1000)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.files, args.rows))))


if __name__ == "__main__":
    main()
