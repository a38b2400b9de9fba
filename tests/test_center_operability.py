"""What an operator watches and keeps: ``/healthz``, ``/metrics`` (Prometheus text), backups and restores, and the
periodic sweep that one process at a time does for all (docs/OPERATOR.md, "Running it in production")."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import ec
from prometheus_client.parser import text_string_to_metric_families

from center import app as center_app
from center import db, upkeep
from center.cli import main
from center.service import Center
from sync.client import CenterClient, DeviceCredential
from sync.protocol import API_BATCHES, software_signer
from tests.center_support import (
    ENTERPRISE,
    POSTGRES_URL,
    Client,
    Clock,
    Desk,
    center_database,
    count_batches,
    enroll,
    filing_payload,
    filings,
    loopback_client,
    open_center,
    race,
    run_cli,
)

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(client: Client) -> Samples:
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    samples: Samples = {}
    for family in text_string_to_metric_families(await response.text()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def grew(before: Samples, after: Samples, name: str, **labels: str) -> float:
    """How much one sample grew between two scrapes (the metrics are the process's, shared by all tests)."""
    key = (name, frozenset(labels.items()))
    return after.get(key, 0.0) - before.get(key, 0.0)


# Health.


async def test_health_tells_whether_this_process_can_serve(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    response = await client.get("/healthz")
    health = await response.json()
    assert (response.status, health["status"], health["database"], health["keys"]) == (200, "ok", "ok", "loaded")
    assert health["pid"] == os.getpid()

    def unreachable(center: Center) -> None:
        raise sa.exc.OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))

    monkeypatch.setattr(center_app, "_ping", unreachable)
    response = await client.get("/healthz")
    assert (response.status, (await response.json())["database"]) == (503, "unreachable")


# Metrics.


async def test_metrics_count_requests_batches_records_refusals_and_feed_lag(center: Center, client: Client) -> None:
    before = await scrape(client)
    desk = Desk(center, client, enroll(center))
    [form_no] = center.issue_forms(ENTERPRISE, 1)
    records = [{"form_no": form_no, "port": "5300"}, {"form_no": "999999999", "port": "5300"}]
    first = await desk.send("filings", records, batch_id="metrics-1")
    assert await desk.send("filings", records, batch_id="metrics-1") == first  # resent: the stored answer
    refused = await client.post(API_BATCHES, json=desk.card.sign(filing_payload("x", filings())) | {"signature": "x"})
    assert refused.status == 401

    device_key = ec.generate_private_key(ec.SECP256R1())
    device = center.enroll_device(ENTERPRISE, device_key.public_key(), "metrics PC")
    agent = CenterClient(str(client.make_url("")), device=DeviceCredential([device], software_signer(device_key)))
    try:
        updates = await agent.updates(0, 100)
    finally:
        await agent.close()
    after = await scrape(client)

    assert grew(before, after, "eport_center_records_total", kind="filings", outcome="OK") == 1
    assert grew(before, after, "eport_center_records_total", kind="filings", outcome="FORM_NOT_FOUND") == 1
    assert grew(before, after, "eport_center_batches_total", kind="filings", outcome="applied") == 1
    assert grew(before, after, "eport_center_batches_total", kind="filings", outcome="replayed") == 1
    assert grew(before, after, "eport_center_batch_duration_seconds_count", kind="filings") == 2
    assert grew(before, after, "eport_center_refusals_total", code="SIGNATURE_INVALID") == 1
    batches = {"route": API_BATCHES, "method": "POST"}
    assert grew(before, after, "eport_center_http_requests_total", **batches, status="200") == 2
    assert grew(before, after, "eport_center_http_requests_total", **batches, status="401") == 1
    assert grew(before, after, "eport_center_http_request_duration_seconds_count", route=API_BATCHES) == 3
    assert grew(before, after, "eport_center_feed_entries_total") == len(updates) == 2  # issued, filed
    assert grew(before, after, "eport_center_feed_lag_seconds_count") == 1


# Backups and restores.


async def test_a_running_center_is_backed_up_and_restored(tmp_path: Path) -> None:
    db_path = str(tmp_path / "center.db")
    backup_file = tmp_path / "backups" / "center-1.db"
    with open_center(db_path) as center:
        forms = center.issue_forms(ENTERPRISE, 40)
        async with loopback_client(center) as client:
            desk = Desk(center, client, enroll(center))
            kept = await desk.send("filings", [{"form_no": f, "port": "5300"} for f in forms[:10]], batch_id="kept")
            # The backup is taken while batches go on being applied.
            facts: dict[str, Any] = {}
            copying = threading.Thread(target=lambda: facts.update(upkeep.backup(db_path, backup_file)))
            copying.start()
            for n, form_no in enumerate(forms[10:20]):
                await desk.send("filings", [{"form_no": form_no, "port": "5300"}], batch_id=f"during-{n}")
            copying.join(timeout=60)
        assert facts["enterprises"] == 2 and 1 <= facts["batches"] <= count_batches(center)
        ca = center.ca_certificate_pem()

    refused = run_cli(main, "backup", "--db", db_path, "--to", str(backup_file))  # never overwrites
    assert refused.code == 1 and "exists" in refused.err
    assert run_cli(main, "restore", "--from", str(backup_file), "--db", db_path).code == 1  # nor does restore

    restored_path = str(tmp_path / "restored" / "center.db")
    restored = run_cli(main, "restore", "--from", str(backup_file), "--db", restored_path, "--json")
    assert restored.code == 0, restored.err
    assert restored.json()["batches"] == facts["batches"]
    with Center.open(restored_path) as center:
        assert center.ca_certificate_pem() == ca  # agents' pinned CA and receipts stay valid
        assert count_batches(center) == facts["batches"]
        async with loopback_client(center) as client:
            desk = Desk(center, client, desk.card, made=desk.made)  # the same agent, its batches as it made them
            records = [{"form_no": f, "port": "5300"} for f in forms[:10]]
            assert await desk.send("filings", records, batch_id="kept") == kept  # applied once, even after it
            await desk.send("filings", [{"form_no": forms[30], "port": "5300"}])
        # An agent whose cursor had gone past the backup's last entry still sees what changes now.
        [newest] = center.updates(ENTERPRISE, facts["last_feed_seq"] + 999_999, 10)
        assert (newest["seq"], newest["form_no"]) == (restored.json()["next_feed_seq"], forms[30])


def test_backup_refuses_what_it_cannot_copy(tmp_path: Path) -> None:
    missing = run_cli(main, "backup", "--db", str(tmp_path / "none.db"), "--to", str(tmp_path / "b.db"))
    assert missing.code == 1 and "no database file" in missing.err
    not_center = tmp_path / "other.db"
    with sqlite3.connect(not_center) as conn:
        conn.execute("CREATE TABLE t (x)")
    other = run_cli(main, "backup", "--db", str(not_center), "--to", str(tmp_path / "b.db"))
    assert other.code == 1 and "not a center's database" in other.err
    assert not (tmp_path / "b.db").exists() and not (tmp_path / "b.db.part").exists()
    postgres = run_cli(main, "backup", "--db", "postgresql://eport@db.example/eport", "--to", str(tmp_path / "b.db"))
    assert postgres.code == 1 and "pg_dump" in postgres.err


FEED_GAP_SQL = (
    "SELECT setval(pg_get_serial_sequence('form_events', 'seq'), (SELECT coalesce(max(seq), 0) FROM form_events) "
    "+ 1000000)"
)


def _pg_tool(name: str) -> str | None:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=lambda p: int(p.parent.parent.name))
    return str(found[-1]) if found else shutil.which(name)


@pytest.mark.skipif(not POSTGRES_URL, reason="needs EPORT_TEST_POSTGRES_URL (scripts/test.sh starts a PostgreSQL)")
def test_a_postgresql_center_is_backed_up_with_pg_dump_and_restored_with_pg_restore(tmp_path: Path) -> None:
    """The procedure of docs/OPERATOR.md, 'Backups and restore', on the test cluster."""
    pg_dump, pg_restore = _pg_tool("pg_dump"), _pg_tool("pg_restore")
    assert pg_dump and pg_restore, "PostgreSQL's client tools are not installed"
    with center_database("postgresql", tmp_path) as url:
        with open_center(url) as center:
            card = enroll(center)
            [form_no] = center.issue_forms(ENTERPRISE, 1)
            payload = filing_payload("before-backup", filings((form_no, "5300")))
            answer = center.receive_batch(card.sign(payload))
            ca = center.ca_certificate_pem()
        parsed = sa.make_url(url)
        schema = parsed.query["options"].removeprefix("-csearch_path=")
        plain = parsed.set(drivername="postgresql", query={}).render_as_string(hide_password=False)
        dump = tmp_path / "center.dump"
        subprocess.run([pg_dump, "--format=custom", "--schema", schema, "--file", str(dump), plain], check=True)
        copy = f"r_{schema}"
        admin = sa.create_engine(db.database_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.exec_driver_sql(f"CREATE DATABASE {copy}")
            try:
                target = parsed.set(drivername="postgresql", query={}, database=copy)
                subprocess.run(
                    [pg_restore, "--dbname", target.render_as_string(hide_password=False), str(dump)], check=True
                )
                restored = parsed.set(database=copy).render_as_string(hide_password=False)
                with Center.open(restored) as center:
                    assert center.ca_certificate_pem() == ca
                    assert center.receive_batch(card.sign(payload)) == answer  # the stored answer, not applied again
                    with center.engine.begin() as conn:  # the feed's numbering moved on, as the guide says
                        last = conn.scalar(sa.text(FEED_GAP_SQL))
                    [other] = center.issue_forms(ENTERPRISE, 1)
                    assert center.updates(ENTERPRISE, last - 1, 10)[0]["form_no"] == other
            finally:
                with admin.connect() as conn:
                    conn.exec_driver_sql(f"DROP DATABASE {copy} WITH (FORCE)")
        finally:
            admin.dispose()


# The periodic sweep: one process at a time, for all.


def test_one_process_sweeps_for_all(db_url: str) -> None:
    clock = Clock()
    open_center(db_url, clock=clock, access=False).close()
    centers = [Center.open(db_url, clock=clock) for _ in range(3)]  # three processes of one center
    try:
        account = "02012345678@17999.e163"
        centers[0].access_register(ENTERPRISE, account, "old-annual")
        clock.advance(days=400)  # the account's year is over
        swept = race(*(lambda c=c: c.scheduled_access_sweep(600) for c in centers))
        assert sorted(map(str, swept)) == ["None", "None", "{'removed': 1}"]
        assert all(c.scheduled_access_sweep(600) is None for c in centers)  # done for this round
        clock.advance(seconds=600)
        assert centers[1].scheduled_access_sweep(600) == {"removed": 0}  # due again, for whoever comes first
        with centers[0].engine.connect() as conn:
            removal = conn.scalar(
                sa.select(db.access_accounts.c.removal).where(db.access_accounts.c.account == account)
            )
        assert removal == "expired"
    finally:
        for center in centers:
            center.close()
