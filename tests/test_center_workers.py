"""``eport-center serve --workers N``: N API processes on one PostgreSQL database, any request on any of them
(docs/OPERATOR.md, "Several API processes"); SQLite refuses more than one."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import ec
from prometheus_client.parser import text_string_to_metric_families

from center import db
from center.cli import main
from center.service import Center
from sync.client import CenterClient, DeviceCredential
from sync.protocol import API_BATCHES, software_signer, verify_answer
from tests.center_support import (
    BACKENDS,
    ENTERPRISE,
    CenterProcess,
    center_database,
    center_process,
    enroll,
    filing_payload,
    open_center,
    run_cli,
    wait_until,
)

POSTGRESQL = BACKENDS[1]


@pytest.fixture(params=[POSTGRESQL])
def pg_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with center_database(request.param, tmp_path) as url:
        yield url


def totals(served: CenterProcess, name: str) -> dict[str, float]:
    """One metric's samples by their outcome label, as one scrape of any process sees them."""
    status, body = served.get("/metrics")
    assert status == 200
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if sample.name == name:
                found[sample.labels["outcome"]] = found.get(sample.labels["outcome"], 0.0) + sample.value
    return found


async def test_two_processes_answer_one_batch_sent_many_times_once(pg_url: str, tmp_path: Path) -> None:
    with open_center(pg_url) as center:
        card = enroll(center)
        forms = center.issue_forms(ENTERPRISE, 30)
        device_key = ec.generate_private_key(ec.SECP256R1())
        device = center.enroll_device(ENTERPRISE, device_key.public_key(), "finance PC")
        ca = center.ca_certificate()
    records = [{"seq": i, "form_no": form_no, "port": "5300"} for i, form_no in enumerate(forms, start=1)]
    payload = filing_payload("sent-eight-times", records)
    document = card.sign(payload)
    environment = {**os.environ, "TMPDIR": str(tmp_path)}
    with center_process(pg_url, tmp_path / "center.log", "--workers", "2", env=environment) as served:

        async def send() -> tuple[int, Any]:
            # A connection of its own each time: any process may take it.
            async with (
                aiohttp.ClientSession() as session,
                session.post(served.url + API_BATCHES, json=document) as response,
            ):
                return response.status, await response.json()

        answers = await asyncio.gather(*(send() for _ in range(8)))
        assert {status for status, _ in answers} == {200}
        assert all(answer == answers[0][1] for _, answer in answers)
        verify_answer(answers[0][1], payload, ca)
        assert {r["code"] for r in answers[0][1]["results"]} == {"OK"}

        agent = CenterClient(served.url, device=DeviceCredential([device], software_signer(device_key)))
        try:
            feed = await agent.updates(0, 1000)
        finally:
            await agent.close()
        assert [u["event"] for u in feed] == ["issued"] * 30 + ["filed"] * 30
        assert [u["seq"] for u in feed] == sorted(u["seq"] for u in feed)

        # Whichever process a scrape reaches, it counts the work of both.
        assert totals(served, "eport_center_batches_total") == {"applied": 1.0, "replayed": 7.0}
        assert totals(served, "eport_center_batches_total") == {"applied": 1.0, "replayed": 7.0}
        assert totals(served, "eport_center_records_total") == {"OK": 30.0}
        pids = {entry["pid"] for entry in served.log_lines() if entry.get("logger") == "center.access"}
        assert served.stop() == 0
    assert len(pids) == 2  # both processes answered requests
    with Center.open(pg_url) as center, center.engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(db.batches)) == 1
    assert not list(tmp_path.glob("eport-center-metrics-*"))  # the metrics folder goes with the master


def test_a_worker_that_dies_is_replaced(pg_url: str, tmp_path: Path) -> None:
    open_center(pg_url).close()
    with center_process(pg_url, tmp_path / "center.log", "--workers", "2") as served:
        victim = served.health()["pid"]
        os.kill(victim, signal.SIGKILL)
        seen: set[int] = set()

        def replaced() -> bool:
            with contextlib.suppress(OSError):  # a connection the dying process had taken
                health = served.health()
                if health["status"] == "ok":
                    seen.add(health["pid"])
            return len(seen - {victim}) == 2

        wait_until(replaced, 60, "the killed worker was not replaced by a new process")


def test_the_processes_serve_tls_as_one_process_does(pg_url: str, tmp_path: Path) -> None:
    with open_center(pg_url) as center:
        key_pem, chain_pem = center.issue_tls_certificate(["127.0.0.1"])
        ca = center.ca_certificate()
    (tmp_path / "tls.key").write_text(key_pem)
    (tmp_path / "tls.pem").write_text(chain_pem)
    tls = ("--tls-cert", str(tmp_path / "tls.pem"), "--tls-key", str(tmp_path / "tls.key"))
    with center_process(pg_url, tmp_path / "center.log", "--workers", "2", *tls, ca=ca) as served:
        assert served.url.startswith("https://")
        status, body = served.get("/api/v1/ports/5300")
        assert (status, json.loads(body)["code"]) == (200, "5300")
        assert served.health()["status"] == "ok"


def test_sqlite_serves_one_process(tmp_path: Path) -> None:
    db_path = str(tmp_path / "center.db")
    open_center(db_path).close()
    with pytest.raises(SystemExit, match="needs PostgreSQL"):
        run_cli(main, "serve", "--db", db_path, "--workers", "2")
    with pytest.raises(SystemExit, match="1 or more"):
        run_cli(main, "serve", "--db", db_path, "--workers", "0")
