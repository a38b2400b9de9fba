"""Center ingest of filing batches (issue 3): records/s, against a floor measured in the same run.

A fresh center (SQLite file, WAL, full durability) with one enterprise holding N×R issued forms; N signed filing
batches of R records each (ports by code and by exact name) are prepared first, then applied one after another
through ``Center.receive_batch`` (signature and certificate checks, the filing rule per record, the form updates and
their events, the stored answer and its signed receipt, one transaction per batch). The floor is plain inserts of
the same rows (batch id, seq, form number, port) into a SQLite file in one transaction (sqlite3's executemany).
Target: ≥ 25% of the floor. For scale it also times the same rows inserted one statement each through SQLAlchemy
Core, the storage layer the center is written on.

    python bench/center_ingest.py [--batches 1000] [--records 100]

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import ec

from center.service import Center
from sync.protocol import batch_document, canonical_json, sign_detached, software_signer

ENTERPRISE = "BENCH00001"
PORTS = ("5300", "2200", "深圳海关", "5100", "上海海关")
ISSUE_CHUNK = 1000


def prepare(center: Center, batches: int, records: int) -> list[dict[str, Any]]:
    """The signed batch documents, filing every issued form once."""
    center.create_enterprise(ENTERPRISE, "基准测试进出口有限公司")
    center.access_register(ENTERPRISE, "bench0001@17999.e163", "leased-line")  # business opens (rule 12)
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = center.enroll_operator(ENTERPRISE, key.public_key(), "基准", "BENCH", fx_days=365)
    forms: list[str] = []
    for start in range(0, batches * records, ISSUE_CHUNK):
        forms += center.issue_forms(ENTERPRISE, min(ISSUE_CHUNK, batches * records - start))
    documents = []
    for b in range(batches):
        rows = [
            {"seq": s + 1, "form_no": forms[b * records + s], "port": PORTS[(b + s) % len(PORTS)]}
            for s in range(records)
        ]
        payload = {
            "v": 1,
            "batch_id": f"bench-{b:05d}",
            "kind": "filings",
            "enterprise": ENTERPRISE,
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),  # the center takes recent ones
            "records": rows,
        }
        signature = sign_detached(canonical_json(payload), [certificate], software_signer(key))
        documents.append(batch_document(payload, signature))
    return documents


def ingest(center: Center, documents: list[dict[str, Any]]) -> float:
    started = time.perf_counter()
    for document in documents:
        answer = center.receive_batch(document)
        if any(r["code"] != "OK" for r in answer["results"]):
            raise RuntimeError(f"a record was refused: {answer['results'][:3]}")
    return time.perf_counter() - started


def _rows(documents: list[dict[str, Any]]) -> list[tuple[str, int, str, str]]:
    return [
        (d["payload"]["batch_id"], r["seq"], r["form_no"], r["port"])
        for d in documents
        for r in d["payload"]["records"]
    ]


def floor_executemany(path: Path, documents: list[dict[str, Any]]) -> float:
    """The floor of the target: the rows inserted by sqlite3's executemany, one transaction."""
    rows = _rows(documents)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE filings (batch_id TEXT, seq INTEGER, form_no TEXT, port TEXT)")
        started = time.perf_counter()
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO filings VALUES (?, ?, ?, ?)", rows)
        conn.execute("COMMIT")
        return time.perf_counter() - started
    finally:
        conn.close()


def floor_core(path: Path, documents: list[dict[str, Any]]) -> float:
    """For scale: the same rows inserted one statement each through SQLAlchemy Core (the center's storage layer)."""
    engine = sa.create_engine(f"sqlite:///{path}")
    table = sa.Table(
        "filings", sa.MetaData(), *(sa.Column(n, sa.String) for n in ("batch_id", "seq", "form_no", "port"))
    )
    table.metadata.create_all(engine)
    rows = [dict(zip(("batch_id", "seq", "form_no", "port"), r, strict=True)) for r in _rows(documents)]
    try:
        started = time.perf_counter()
        with engine.begin() as conn:
            for row in rows:
                conn.execute(table.insert(), row)
        return time.perf_counter() - started
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=1000)
    parser.add_argument("--records", type=int, default=100)
    args = parser.parse_args()
    total = args.batches * args.records
    with tempfile.TemporaryDirectory() as tmp:
        with Center.open(str(Path(tmp) / "center.db")) as center:
            documents = prepare(center, args.batches, args.records)
            ingest_seconds = ingest(center, documents)
        floor_seconds = floor_executemany(Path(tmp) / "floor.db", documents)
        core_seconds = floor_core(Path(tmp) / "core.db", documents)
    ingest_rate, floor_rate, core_rate = total / ingest_seconds, total / floor_seconds, total / core_seconds
    print(
        json.dumps(
            {
                "batches": args.batches,
                "records_per_batch": args.records,
                "ingest_seconds": round(ingest_seconds, 3),
                "ingest_records_per_s": round(ingest_rate),
                "floor_seconds": round(floor_seconds, 3),
                "floor_records_per_s": round(floor_rate),
                "ratio": round(ingest_rate / floor_rate, 4),
                "target_ratio": 0.25,
                "core_per_row_records_per_s": round(core_rate),
                "ratio_to_core_per_row": round(ingest_rate / core_rate, 4),
            }
        )
    )


if __name__ == "__main__":
    main()
