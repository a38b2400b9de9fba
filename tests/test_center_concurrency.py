"""Two requests on the same forms at the same moment, through two Center instances on one database (as two server
processes or machines would be): every form ends in exactly one consistent state. On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from center import authority
from center.service import Center
from tests.center_support import (
    ENTERPRISE,
    Card,
    enroll,
    filing_payload,
    open_center,
    race,
    status,
    wait_until,
)


@pytest.fixture
def centers(db_url: str) -> Iterator[list[Center]]:
    open_center(db_url).close()
    opened = [Center.open(db_url) for _ in range(2)]
    yield opened
    for center in opened:
        center.close()


def batch(center: Center, card: Card, batch_id: str, kind: str, records: list[dict[str, Any]]) -> Callable[[], Any]:
    numbered = [{"seq": i, **r} for i, r in enumerate(records, start=1)]
    document = card.sign(filing_payload(batch_id, numbered, kind=kind))
    return lambda: {r["form_no"]: r["code"] for r in center.receive_batch(document)["results"]}


def test_overlapping_filings_in_opposite_orders(centers: list[Center]) -> None:
    card = enroll(centers[0])
    forms = centers[0].issue_forms(ENTERPRISE, 40)
    forward = [{"form_no": n, "port": "5300"} for n in forms]
    backward = [{"form_no": n, "port": "2200"} for n in reversed(forms)]
    first, second = race(
        batch(centers[0], card, "forward", "filings", forward), batch(centers[1], card, "backward", "filings", backward)
    )
    assert isinstance(first, dict) and isinstance(second, dict), (first, second)
    for form_no in forms:
        assert sorted((first[form_no], second[form_no])) == ["FORM_ALREADY_FILED", "OK"]
    # The whole of one batch won: locks are taken for all its forms before either writes.
    assert {(centers[0].form(n) or {})["port"] for n in forms} in ({"5300"}, {"2200"})


def test_loss_and_filing_of_the_same_forms_at_once(centers: list[Center]) -> None:
    card = enroll(centers[0])
    forms = centers[0].issue_forms(ENTERPRISE, 20)
    filed, lost = race(
        batch(centers[0], card, "file", "filings", [{"start_form_no": forms[0], "count": 20, "port": "5300"}]),
        batch(centers[1], card, "lose", "losses", [{"start_form_no": forms[0], "count": 20}]),
    )
    assert isinstance(filed, dict) and isinstance(lost, dict), (filed, lost)
    assert set(lost.values()) == {"OK"}  # losing a filed form is allowed, so the loss always succeeds
    for form_no in forms:
        safe, customs, _ = status(centers[0], form_no)
        assert safe == "lost"
        # Either the filing came first (and the loss then released the port filing: a lost form is never 可报关),
        # or the loss did (and the filing was refused); either way the form ends lost and not filed.
        assert filed[form_no] in ("OK", "FORM_NOT_VALID") and customs == "unused"


def test_two_authorities_confirm_and_refuse_one_cancellation_at_once(centers: list[Center]) -> None:
    card = enroll(centers[0])
    [form_no] = centers[0].issue_forms(ENTERPRISE, 1)
    batch(centers[0], card, "f", "filings", [{"form_no": form_no, "port": "5300"}])()
    batch(centers[0], card, "c", "cancellations", [{"form_no": form_no}])()
    outcomes = race(
        lambda: centers[0].customs_confirm_cancel(form_no), lambda: centers[1].customs_refuse_cancel(form_no)
    )
    refusals = [o for o in outcomes if isinstance(o, Exception)]
    assert len(refusals) == 1 and "CANCEL_NOT_PENDING" in str(refusals[0])
    assert status(centers[0], form_no)[1] in ("unused", "filed")


def test_the_feed_never_skips_a_change_that_commits_late(centers: list[Center], db_url: str) -> None:
    """An agent pulling the feed while two changes of its enterprise commit in the other order than their sequence
    numbers were handed out must still get both (PostgreSQL: SQLite writes one transaction at a time)."""
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite runs one write transaction at a time")
    card = enroll(centers[0])
    early, late = centers[0].issue_forms(ENTERPRISE, 2)
    batch(centers[0], card, "file-early", "filings", [{"form_no": early, "port": "5300"}])()
    cursor = max(u["seq"] for u in centers[0].updates(ENTERPRISE, 0, 1000))

    # Customs' change of ``early`` is numbered first and commits last; ``late``'s filing comes in between.
    numbered, commit = threading.Event(), threading.Event()

    def use_and_wait(conn: Connection, now: dt.datetime) -> None:
        authority.use(conn, early, "530020241000000001", "5300", "2024-05-06", now)
        numbered.set()
        assert commit.wait(30)

    slow = threading.Thread(target=lambda: centers[0]._write(use_and_wait))
    slow.start()
    assert numbered.wait(30)
    file_late = batch(centers[1], card, "file-late", "filings", [{"form_no": late, "port": "5300"}])
    filed: list[Any] = []
    other = threading.Thread(target=lambda: filed.append(file_late()))
    other.start()

    def waiting_for_a_lock() -> bool:
        with centers[1].engine.connect() as conn:
            return bool(conn.scalar(sa.text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")))

    wait_until(lambda: filed or waiting_for_a_lock(), 30, "the filing neither committed nor waited")
    received = centers[1].updates(ENTERPRISE, cursor, 1000)  # the agent pulls meanwhile ...
    cursor = received[-1]["seq"] if received else cursor
    commit.set()
    slow.join(30)
    other.join(30)
    received += centers[1].updates(ENTERPRISE, cursor, 1000)  # ... and once both have committed
    assert filed == [{late: "OK"}]
    assert [(u["form_no"], u["event"]) for u in received] == [(early, "used"), (late, "filed")]
