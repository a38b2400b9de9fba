"""Status page load (issue 16): time to first byte and to a filtered list, with 10,000 files and 100,000 forms.

A store is filled straight through SQL with 10,000 files (10 filing rows each, one form per row, spread over 30
days: mostly delivered, some with refused rows, refused as a whole or with an errors file, every state's time
noted) and the forms mirror with 100,000 forms and their history; then a center on loopback and the agent on that
workspace (emulated card, in process, as tests/rigs.py builds it) serve the page, and a client on another thread
opens it through its one-time link and times each request over loopback:

- ``first``: the first page request after start (the page's code is loaded then);
- ``page``: the files page, unfiltered (time to first byte, and to the whole body);
- ``filtered``: the files list filtered by day, kind and outcome (what the page's script reloads each second);
- ``search_form``: the files naming one form number; ``forms_page``: the forms page filtered by a status.

    python bench/page_load.py [--rounds 20]

Prints one JSON object (milliseconds; medians and maxima over the rounds).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import http.client
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE))

from agent.store import Store  # noqa: E402
from tests.center_support import open_center  # noqa: E402
from tests.rigs import ENTERPRISE, loopback_agent  # noqa: E402

FILES, ROWS, FORMS = 10_000, 10, 100_000
TARGET_MS = 200


def fill(path: Path, now: dt.datetime) -> str:
    """The store with FILES files and FORMS forms; returns a local day that has files."""
    Store(path)  # the schema, by the store's own migrations
    conn = sqlite3.connect(path)
    rng = random.Random(16)
    files, batches, events, chunks = [], [], [], []
    for n in range(FILES):
        at = now - dt.timedelta(minutes=n * 30 * 24 * 60 / FILES)
        stamp = at.isoformat(timespec="milliseconds")
        sha, batch = f"{n:064x}", f"b{n:031x}"
        roll = rng.random()
        if roll < 0.05:  # an errors file: no batch
            files.append((sha, 0, f"备案{n:05d}.csv", stamp, None, "rejected", f"/ws/outbox/errors/{n}.errors.csv"))
            continue
        files.append((sha, 0, f"备案{n:05d}.csv", stamp, batch, "batch", None))
        state = "rejected" if roll < 0.10 else "delivered"
        refused = ROWS if state == "rejected" else (rng.randint(1, 3) if roll < 0.20 else 0)
        batches.append(
            (
                batch,
                "filings",
                f"备案{n:05d}.csv",
                f"备案{n:05d}",
                "csv",
                state,
                stamp,
                stamp,
                ROWS,
                ROWS - refused,
                refused,
            )
        )
        for step, state_name in enumerate(("signed", "sent", "acknowledged", state), start=1):
            events.append(
                (batch, state_name, (at + dt.timedelta(milliseconds=50 * step)).isoformat(timespec="milliseconds"))
            )
        records = ",".join(
            f'{{"form_no":"{(n * ROWS + r) % FORMS:09d}","port":"2200","seq":{r + 1}}}' for r in range(ROWS)
        )
        chunks.append((batch, 0, records))
    conn.executemany(
        "INSERT INTO files (sha256, copy, name, received_at, batch_id, outcome, report_file) VALUES (?,?,?,?,?,?,?)",
        files,
    )
    conn.executemany(
        "INSERT INTO batches (id, kind, source_name, stem, format, state, created_at, updated_at, record_count,"
        " ok_count, error_count) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        batches,
    )
    conn.executemany("INSERT INTO batch_events (batch_id, state, at) VALUES (?,?,?)", events)
    conn.executemany("INSERT INTO record_chunks (batch_id, chunk, body) VALUES (?,?,?)", chunks)
    statuses = [("已用", "used"), ("未用，已上传海关，可报关", "filed"), ("未用", "unused")]
    forms = []
    for n in range(FORMS):
        zh, en = statuses[n % 3]
        at = (now - dt.timedelta(minutes=n)).isoformat(timespec="seconds")
        forms.append((f"{n:09d}", n + 1, en, "valid", "有效", en, zh, "not_submitted", "未交单", "2200", at))
    conn.executemany("INSERT INTO forms VALUES (?,?,?,?,?,?,?,?,?,?,?)", forms)
    conn.executemany(
        "INSERT INTO form_events (seq, form_no, event, safe_status_zh, customs_status_zh, submission_status_zh,"
        " port, at) VALUES (?,?,?,?,?,?,?,?)",
        [(f[1], f[0], f[2], f[4], f[6], f[8], f[9], f[10]) for f in forms],
    )
    conn.commit()
    conn.close()
    return (now - dt.timedelta(days=3)).astimezone().date().isoformat()  # a day in the middle of the files


class Browser:
    """A client that logs in through the one-time link and keeps the cookie, as a browser does."""

    def __init__(self, link: str) -> None:
        parts = urlsplit(link)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.cookie = ""
        status, headers, _ = self.get(f"{parts.path}?{parts.query}")
        assert status == 303, status
        self.cookie = headers["Set-Cookie"].split(";")[0]

    def get(self, path: str) -> tuple[int, dict[str, str], float]:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            connection.request("GET", path, headers={"Cookie": self.cookie} if self.cookie else {})
            response = connection.getresponse()
            body = response.read()
            return response.status, dict(response.getheaders()), float(body.count(b'<tr class="file'))
        finally:
            connection.close()

    def timed(self, path: str) -> tuple[float, float]:
        """(time to first byte, time to the whole body), ms."""
        connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            start = time.perf_counter()
            connection.request("GET", path, headers={"Cookie": self.cookie})
            response = connection.getresponse()  # the status line and headers: the first bytes
            first = time.perf_counter()
            body = response.read()
            end = time.perf_counter()
            assert response.status == 200 and body, (path, response.status)
            return (first - start) * 1000, (end - start) * 1000
        finally:
            connection.close()


def summary(samples: list[tuple[float, float]]) -> dict[str, float]:
    firsts, wholes = [s[0] for s in samples], [s[1] for s in samples]
    return {
        "ttfb_ms_median": round(statistics.median(firsts), 1),
        "ttfb_ms_max": round(max(firsts), 1),
        "full_ms_median": round(statistics.median(wholes), 1),
        "full_ms_max": round(max(wholes), 1),
    }


async def measure(rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        day = fill(root / "ws" / "state" / "agent.db", dt.datetime.now(dt.UTC))
        with open_center(root, [ENTERPRISE]) as center:
            async with loopback_agent(center, root / "ws") as (agent, _workspace, _port):
                link = agent.page_link()
                assert link is not None

                def run() -> dict[str, Any]:
                    browser = Browser(link)
                    first = browser.timed("/page/")
                    shown = browser.get(f"/page/live?day={day}&kind=filings&outcome=partly")[2]
                    assert shown > 0, "the filtered list is empty: it would measure nothing"
                    paths = {
                        "page": "/page/",
                        "filtered": f"/page/live?day={day}&kind=filings&outcome=partly",
                        "search_form": "/page/?q=000012345",
                        "forms_page": "/page/forms?status=%E5%B7%B2%E7%94%A8",
                    }
                    found: dict[str, Any] = {"first": {"ttfb_ms": round(first[0], 1), "full_ms": round(first[1], 1)}}
                    for name, path in paths.items():
                        found[name] = summary([browser.timed(path) for _ in range(rounds)])
                    return found

                timings = await asyncio.to_thread(run)
    return {
        "benchmark": "page_load",
        "files": FILES,
        "forms": FORMS,
        "rows_per_file": ROWS,
        "rounds": rounds,
        **timings,
        "target_ms": TARGET_MS,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    print(json.dumps(asyncio.run(measure(parser.parse_args().rounds)), ensure_ascii=False))


if __name__ == "__main__":
    main()
