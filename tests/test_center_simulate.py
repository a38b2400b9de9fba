"""``eport-center simulate``: customs and SAFE played automatically, each step only after its delay, on SQLite and
PostgreSQL; and the command line."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from center.cli import main
from center.service import Center
from center.simulate import Delays, Simulator
from tests.center_support import (
    ENTERPRISE,
    Card,
    Clock,
    enroll,
    eventually,
    filing_payload,
    open_center,
    status,
)


@pytest.fixture
def center(db_url: str, clock: Clock) -> Iterator[Center]:
    """A center whose changes happen at the test's clock, as the simulator sees it."""
    with open_center(db_url, clock=clock) as center:
        yield center


def send(center: Center, card: Card, kind: str, *records: dict[str, object]) -> list[str]:
    numbered = [{"seq": i, **r} for i, r in enumerate(records, start=1)]
    answer = center.receive_batch(card.sign(filing_payload(f"{kind}-{id(records)}", numbered, kind=kind)))
    return [r["code"] for r in answer["results"]]


def test_a_whole_life_played_by_the_simulator(center: Center, clock: Clock) -> None:
    card = enroll(center)
    simulator = Simulator(center, Delays.every(10), clock=clock)
    [applied] = center.receive_batch(card.sign(filing_payload("a", [{"seq": 1, "copies": 2}], kind="applications")))[
        "results"
    ]
    assert simulator.step() == []  # nothing has waited its delay yet
    clock.advance(seconds=11)
    assert [(a.step, a.subject) for a in simulator.step()] == [("approve", applied["unified_no"])]
    clock.advance(seconds=11)
    assert [a.step for a in simulator.step()] == ["issue"]
    first, second = center.form("000000001"), center.form("000000002")
    assert first and second and first["enterprise_code"] == ENTERPRISE
    send(center, card, "filings", {"form_no": "000000001", "port": "5300"}, {"form_no": "000000002", "port": "5300"})
    send(center, card, "cancellations", {"form_no": "000000002"})
    assert simulator.step() == []  # the filings are fresh: the clerk's answers come first
    clock.advance(seconds=11)
    assert sorted(a.step for a in simulator.step()) == ["confirm_cancel", "use"]
    assert status(center, "000000001") == ("valid", "used", "not_submitted")
    assert status(center, "000000002") == ("valid", "unused", "not_submitted")
    clock.advance(seconds=11)
    assert [a.step for a in simulator.step()] == ["declare"]
    assert send(center, card, "submissions", {"form_no": "000000001"}) == ["OK"]
    clock.advance(seconds=11)
    assert [a.step for a in simulator.step()] == ["verify"]
    assert status(center, "000000001") == ("verified", "used", "submitted")
    clock.advance(seconds=11)
    assert simulator.step() == []


def test_step_delays_are_separate(center: Center, clock: Clock) -> None:
    card = enroll(center)
    forms = center.issue_forms(ENTERPRISE, 1)
    send(center, card, "filings", {"form_no": forms[0], "port": "5300"})
    simulator = Simulator(center, Delays.every(100).with_step("use", 1), clock=clock)
    clock.advance(seconds=2)
    assert [a.step for a in simulator.step()] == ["use"]
    clock.advance(seconds=2)
    assert simulator.step() == []  # declaring waits 100 s
    with pytest.raises(ValueError, match="unknown step"):
        Delays().with_step("smuggle", 1)


async def test_run_stops_when_told(center: Center) -> None:
    card = enroll(center)
    [form_no] = center.issue_forms(ENTERPRISE, 1)
    send(center, card, "filings", {"form_no": form_no, "port": "5300"})
    stop = asyncio.Event()
    task = asyncio.create_task(Simulator(center, Delays.every(0), interval=0.05).run(stop))
    await eventually(lambda: status(center, form_no)[1] == "used", 10, "the running simulator did not use the form")
    stop.set()
    await asyncio.wait_for(task, 10)


def test_simulate_command(center: Center, db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    card = enroll(center)
    [form_no] = center.issue_forms(ENTERPRISE, 1)
    send(center, card, "filings", {"form_no": form_no, "port": "5300"})
    assert main(["simulate", "--db", db_url, "--once", "--delay", "3600"]) == 0
    assert capsys.readouterr().out == ""
    assert main(["simulate", "--db", db_url, "--once", "--delay", "3600", "--step-delay", "use=0"]) == 0
    assert capsys.readouterr().out.split() == ["use", form_no, "OK"]
    assert main(["simulate", "--db", db_url, "--once", "--step-delay", "nothing"]) == 1
