"""Customs and SAFE played automatically, so that a demo shows forms moving through their whole life.

Each pass does every step that is due: SAFE approves applications and issues the approved forms, customs confirms
cancellations, uses filed forms in declarations at their port and sends the declarations' data, SAFE verifies
submitted forms. A step acts only on what has been waiting at least its delay (a form's last change, an application's
or approval's time), so a clerk's batch is always answered before the simulator touches its forms.

    simulator = Simulator(center, Delays.every(10))
    await simulator.run(stop)          # until stop is set; or simulator.step() for one pass
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from center.db import applications, approvals, as_utc, declarations, forms, reading, utcnow
from center.refusals import Refusal
from center.service import Center
from center.statuses import CustomsStatus, SafeStatus, SubmissionStatus

log = logging.getLogger("eport.center.simulate")

BATCH = 200  # items per step and pass: a pass stays short, the rest waits for the next one
TRADE_MODE = "一般贸易"
CURRENCY = "USD"


@dataclass(frozen=True)
class Delays:
    """Seconds each step waits after the thing it acts on last changed."""

    approve: float = 10.0
    issue: float = 10.0
    confirm_cancel: float = 10.0
    use: float = 10.0
    declare: float = 10.0
    verify: float = 10.0

    @classmethod
    def every(cls, seconds: float) -> Delays:
        return cls(*(seconds for _ in dataclasses.fields(cls)))

    def with_step(self, step: str, seconds: float) -> Delays:
        if step not in STEPS:
            raise ValueError(f"unknown step {step!r}; steps are {', '.join(STEPS)}")
        return dataclasses.replace(self, **{step: seconds})


STEPS = tuple(f.name for f in dataclasses.fields(Delays))


@dataclass(frozen=True)
class Action:
    """What the simulator did (or tried): the step, its subject, and the refusal code if it was refused."""

    step: str
    subject: str
    code: str = "OK"


def _cutoff(now: dt.datetime, seconds: float) -> dt.datetime:
    return now - dt.timedelta(seconds=seconds)


def _forms(cutoff: dt.datetime, *conditions: Any) -> sa.Select[Any]:
    """Valid forms last changed before ``cutoff`` that meet ``conditions``."""
    return (
        sa.select(forms)
        .where(forms.c.safe_status == SafeStatus.VALID.value, forms.c.updated_at <= cutoff, *conditions)
        .order_by(forms.c.form_no)
    )


def _due_statement(step: str, cutoff: dt.datetime) -> sa.Select[Any]:
    if step == "approve":
        return (
            sa.select(applications.c.unified_no)
            .outerjoin(approvals, approvals.c.unified_no == applications.c.unified_no)
            .where(approvals.c.unified_no.is_(None), applications.c.created_at <= cutoff)
            .order_by(applications.c.unified_no)
        )
    if step == "issue":
        return (
            sa.select(approvals.c.unified_no)
            .where(approvals.c.issued_at.is_(None), approvals.c.approved_at <= cutoff)
            .order_by(approvals.c.unified_no)
        )
    if step == "declare":
        arrived = sa.select(declarations.c.declaration_no).where(
            declarations.c.declaration_no == forms.c.declaration_no
        )
        return _forms(cutoff, forms.c.customs_status == CustomsStatus.USED.value, ~arrived.exists())
    if step == "verify":
        return _forms(cutoff, forms.c.submission_status == SubmissionStatus.SUBMITTED.value)
    customs = CustomsStatus.CANCEL_PENDING if step == "confirm_cancel" else CustomsStatus.FILED
    return _forms(cutoff, forms.c.customs_status == customs.value)


class Simulator:
    def __init__(
        self,
        center: Center,
        delays: Delays | None = None,
        interval: float = 1.0,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self._center = center
        self.delays = delays or Delays()
        self.interval = interval
        self._clock = clock

    async def run(self, stop: asyncio.Event) -> None:
        """Pass after pass until ``stop`` is set; the database work runs off the event loop."""
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            try:
                await loop.run_in_executor(None, self.step)
            except Exception:  # one bad pass must not end the demo; the next pass tries again
                log.exception("simulation pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)

    def step(self) -> list[Action]:
        """One pass over every step; returns what was done."""
        now = as_utc(self._clock())
        actions: list[Action] = []
        for name in STEPS:
            due = self._due(name, _cutoff(now, getattr(self.delays, name)))
            actions += [self._act(name, subject) for subject in due]
        return actions

    def _due(self, step: str, cutoff: dt.datetime) -> list[Any]:
        with reading(self._center.engine) as conn, conn.begin():
            return list(conn.execute(_due_statement(step, cutoff).limit(BATCH)))

    def _act(self, step: str, subject: Any) -> Action:
        key = subject.form_no if hasattr(subject, "form_no") else subject.unified_no
        try:
            getattr(self, f"_{step}")(subject)
        except Refusal as refusal:  # a clerk changed it meanwhile: nothing to do this time
            log.info("simulated %s of %s refused: %s", step, key, refusal.code)
            return Action(step, key, refusal.code)
        log.info("simulated %s of %s", step, key)
        return Action(step, key)

    def _approve(self, row: Any) -> None:
        self._center.safe_approve(row.unified_no)

    def _issue(self, row: Any) -> None:
        self._center.safe_issue(unified_no=row.unified_no)

    def _confirm_cancel(self, form: Any) -> None:
        self._center.customs_confirm_cancel(form.form_no)

    def _use(self, form: Any) -> None:
        today = as_utc(self._clock()).date()
        number = self._center.new_declaration_no(form.port, today)
        self._center.customs_use(form.form_no, number, form.port, today.isoformat())

    def _declare(self, form: Any) -> None:
        # A made-up but stable amount per form, so that a demo's query shows varied data.
        amount = f"{1000 + int.from_bytes(form.form_no.encode(), 'big') % 90000}.00"
        self._center.customs_declare(
            form.declaration_no, form.form_no, form.export_date.isoformat(), form.port, TRADE_MODE, amount, CURRENCY
        )

    def _verify(self, form: Any) -> None:
        self._center.safe_verify(form.form_no)
