"""Two requests on the same forms at the same moment, through two Center instances on one database (as two server
processes or machines would be): every form ends in exactly one consistent state. On SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from center.service import Center
from tests.center_support import (
    ENTERPRISE,
    Card,
    enroll,
    filing_payload,
    open_center,
    status,
)


@pytest.fixture
def centers(db_url: str) -> Iterator[list[Center]]:
    open_center(db_url).close()
    opened = [Center.open(db_url) for _ in range(2)]
    yield opened
    for center in opened:
        center.close()


def race(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls in threads released at the same moment; their results (or exceptions) in call order."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            results[index] = call()
        except Exception as exc:  # reported in the assertion, not lost in the thread
            results[index] = exc

    threads = [threading.Thread(target=run, args=pair) for pair in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


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
        # Either the filing came first (and the form stays filed, but lost), or the loss did (filing refused).
        assert (filed[form_no], customs) in (("OK", "filed"), ("FORM_NOT_VALID", "unused"))


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
