"""The agent's facade: what the front ends (CLI, demo, tray, control channel) call to act on a running agent.

It composes the stages that ``agent.runtime`` built — intake (called by the inbox watcher on its own thread), the
card, the sync engine (which drives signing and delivery) — and owns the scheduler and the worker thread on which
the sync cycle's blocking work (store, card, files) runs. Its methods return plain data.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import sqlite3
from pathlib import Path
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger

from agent import form_listing, listing, memory, permission, port_table
from agent.control import CONTROL_FILE, ControlServer
from agent.intake import Intake
from agent.operator_card import OperatorCard
from agent.roles import AlreadyRunning, Role, running_pid
from agent.store import Store, now_iso
from agent.unlock import try_unlock
from agent.worker import Announcer, Listener, Worker
from agent.workspace import Workspace
from inbox.watcher import InboxWatcher
from outbox.deliver import Delivery
from sync.engine import SyncEngine

log = logging.getLogger("eport.agent")

# What `eport-agent status` shows of a running agent without asking it.
SHARED_STATUS = ("last_sync", "next_sync", "problem", "center_unreachable_since", "card")


class Agent:
    def __init__(
        self,
        workspace: Workspace,
        store: Store,
        engine: SyncEngine,
        delivery: Delivery,
        worker: Worker,
        announcer: Announcer,
        card: OperatorCard | None = None,
        watcher: InboxWatcher | None = None,
        intake: Intake | None = None,
        resident: Role | None = None,
        schedule: BaseTrigger | None = None,
    ) -> None:
        self.workspace, self.store, self.engine, self.delivery = workspace, store, engine, delivery
        self.card, self.watcher, self.resident = card, watcher, resident
        self.intake = intake  # its problem: a file it could not read
        self._worker, self._announcer = worker, announcer
        self.schedule = schedule or IntervalTrigger(seconds=60)
        self.paused = False
        self.last_sync: str | None = None
        self._sync_lock = asyncio.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._scheduler: AsyncIOScheduler | None = None
        self._kicked = False
        self._stopping = False
        self._forced = False  # the next sync was asked for by the clerk
        self._control: ControlServer | None = None
        engine.on_retry = self._retry_in

    # -- life --------------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start watching, holding the card and syncing; AlreadyRunning (nothing touched) when another agent is the
        resident agent of this workspace."""
        if self.resident is not None and not self.resident.try_take():
            raise AlreadyRunning(self.workspace.root, running_pid(self.workspace.state))
        self._loop = asyncio.get_running_loop()
        self._scheduler = AsyncIOScheduler(event_loop=self._loop)
        # A sync that came due while the PC slept runs when it wakes (once), instead of being skipped.
        self._scheduler.add_job(
            self.sync_now, self.schedule, id="sync", coalesce=True, max_instances=1, misfire_grace_time=None
        )
        self._scheduler.start()
        await self._worker.run(self.delivery.remove_stale_drafts)
        if self.intake is not None:
            await self._worker.run(self.intake.recover)
        await self._worker.run(self.delivery.keep_tidy)  # and once a day at a sync
        if self.watcher is not None:
            self.watcher.start()
            log.info("watching %s", self.workspace.inbox)
        if self.card is not None:
            self.card.start(on_ready=self.request_sync)  # a card that becomes unlocked has batches to sign
            # The process that holds the card answers `unlock`, `status` and `card info`.
            self._control = ControlServer(self, self.workspace.state / CONTROL_FILE)
            await self._control.start()
        self.request_sync()

    async def stop(self) -> None:
        self._stopping = True  # no new sync from here on (a late card or intake callback is ignored)
        if self._control is not None:
            await self._control.stop()
        if self.watcher is not None:
            self.watcher.stop()
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
        async with self._sync_lock:  # a running sync finishes its step; none starts after it
            if self.card is not None:  # `status` must not show a card or a next sync nobody holds any more
                await self._worker.run(self.store.set_meta, card=None, next_sync=None)
            await self.engine.client.close()
            self._worker.shutdown()
        if self.card is not None:
            self.card.close()
        if self.resident is not None:
            self.resident.release()

    # -- the card ------------------------------------------------------------------------------------------------

    def unlock(self, pin: str) -> None:
        """Give the PIN to the card once (blocking: card I/O); waiting batches are signed right after."""
        self._holding_card().unlock(pin)

    def try_unlock(self, pin: str) -> dict[str, Any]:
        """:meth:`unlock` as plain data for front ends: ``unlocked``, ``tries_left``, ``blocked``, ``message``."""
        return try_unlock(self._holding_card(), pin)

    def card_info(self) -> dict[str, Any]:
        """The card as last read (no card I/O): reader, serial, certificate, enterprise, expiry, PIN tries left."""
        card = self._holding_card()
        fx = permission.fact(self.store)  # the center's word on the card's 出口收汇 permission (agent.permission)
        return {**card.info.as_dict(), "fx_permission": fx, "warnings": self.warnings()}

    def _holding_card(self) -> OperatorCard:
        if self.card is None:
            raise RuntimeError("the headless sync daemon holds no card")
        return self.card

    # -- sync ----------------------------------------------------------------------------------------------------

    async def sync_now(self, force: bool = False) -> None:
        """One sync cycle (sign, send, deliver, pull), one at a time; then the shared status facts are stored. While
        the center is away, only the retry (or ``force``, the clerk's own "sync now") talks to it again."""
        async with self._sync_lock:
            force, self._forced = force or self._forced, False
            self._kicked = False
            if self.paused or self._stopping:
                return
            if self.watcher is not None:  # a file whose events were lost (overflow, network share) is found now
                await self._worker.run(self.watcher.rescan)
            await self.engine.cycle(force=force)
            if self.engine.unreachable_since is None:  # the card's 出口收汇 permission, said up front
                serial = self.card.info.serial if self.card is not None else None
                await permission.refresh(self.engine.client, self.store, serial, self._worker.run)
            await self._worker.run(self.delivery.keep_tidy)
            await self._worker.run(port_table.keep_current, self.workspace, self.store)  # templates/ports.csv
            await self._worker.run(memory.give_back)
            self.last_sync = now_iso()
            status = self.status()
            shared = [name for name in SHARED_STATUS if name != "card" or self.card is not None]
            try:
                await self._worker.run(self.store.set_meta, **{name: status[name] for name in shared})
            except (sqlite3.Error, OSError) as exc:  # a full disk: the running agent still knows; the cycle said so
                log.warning("status not recorded for other processes: %s", exc)

    def request_sync(self, force: bool = False) -> None:
        """Ask for a sync soon, from any thread (a new batch, an unlocked card; with ``force`` the clerk's "Sync
        now", which does not wait for the retry while the center is away); requests made before it starts are folded
        into one."""
        self._forced = self._forced or force
        loop = self._loop
        if loop is None or loop.is_closed() or self._kicked or self._stopping:
            return
        self._kicked = True
        loop.call_soon_threadsafe(lambda: loop.create_task(self.sync_now()))

    def pause(self) -> None:
        """Stop sending and signing until resumed; files dropped meanwhile are still read and queued."""
        self.paused = True
        log.info("sync paused")

    def resume(self) -> None:
        self.paused = False
        log.info("sync resumed")
        self.request_sync()

    def _retry_in(self, delay: float) -> None:
        if self._scheduler is not None:
            when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=delay)
            self._scheduler.add_job(
                self._retry, "date", run_date=when, id="retry", replace_existing=True, misfire_grace_time=None
            )

    async def _retry(self) -> None:
        """The retry the backoff scheduled: due now, whatever the clocks say to the millisecond."""
        await self.sync_now(force=True)

    # -- what front ends see -------------------------------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> None:
        """``listener({"type": "result"|"errors"|"updates", "path": str})`` is called per file written, from the
        thread that wrote it (the worker, or the watcher's for errors files)."""
        self._announcer.listeners.append(listener)

    def warnings(self) -> list[str]:
        """Trouble ahead: the operator certificate running out, the card's 出口收汇 permission missing or ending (as
        the center last described it), or the center refusing a batch for either."""
        fx = permission.warning(permission.fact(self.store))
        refused = self.engine.refusal is not None and self.engine.refusal["code"].startswith("FX_PERMISSION")
        center = [] if fx and refused else self.engine.warnings()
        return [*(self.card.warnings() if self.card is not None else []), *([fx] if fx else []), *center]

    def problem(self) -> str | None:
        """What went wrong in the latest cycle, in words a clerk can act on (the card's trouble first)."""
        signer = self.engine.signer
        found = [
            signer.problem if signer is not None else None,
            self.engine.problem,
            self.intake.problem if self.intake is not None else None,
        ]
        return "；".join(text for text in found if text) or None

    def status(self) -> dict[str, Any]:
        next_run = self._scheduler.get_job("sync") if self._scheduler is not None else None
        return {
            "workspace": str(self.workspace.root),
            "card": self.card.state.value if self.card is not None else None,
            "pin_tries_left": self.card.tries_left if self.card is not None else None,
            "batches": self.store.counts(),
            "paused": self.paused,
            "last_sync": self.last_sync,
            "next_sync": next_run.next_run_time.isoformat() if next_run and next_run.next_run_time else None,
            "problem": self.problem(),
            "center_unreachable_since": self.engine.unreachable_since,
            "refused": self.engine.refusal,
            "warnings": self.warnings(),
        }

    # -- the status page (page/, a front end like the tray) ---------------------------------------------------------

    def page_link(self) -> str | None:
        """A one-time link that opens the status page in a browser (None without the control channel)."""
        return self._control.page_link() if self._control is not None else None

    def overview(self) -> dict[str, Any]:
        """The page's top: the status (as the tray has it), the card as last read, the 17999 account as last heard."""
        from agent.access import last_heard

        card = self.card_info() if self.card is not None else None
        return {"status": self.status(), "card": card, "access": last_heard(self.workspace)}

    def files(self, **wanted: Any) -> dict[str, Any]:
        """A page of the files taken in, newest first, with their timelines (``agent.listing.FileFilter``)."""
        return listing.files(self.store, listing.FileFilter(**wanted))

    def file(self, key: str) -> dict[str, Any] | None:
        return listing.one_file(self.store, key)

    def file_path(self, key: str, what: str) -> Path | None:
        """A file's ``result``, ``errors``, ``receipt`` or ``source``, only ever inside outbox/ or archive/."""
        return listing.linked(self.store, key, what, self.workspace.outbox, self.workspace.archive)

    def forms(self, **wanted: Any) -> dict[str, Any]:
        """A page of the enterprise's forms (``agent.listing.FormFilter``), with the statuses to filter by."""
        return {
            **form_listing.forms(self.store, form_listing.FormFilter(**wanted)),
            "statuses": form_listing.form_statuses(self.store),
        }

    def form_history(self, form_no: str) -> list[dict[str, Any]]:
        return form_listing.form_history(self.store, form_no)

    def check_receipt(self, key: str) -> dict[str, Any] | None:
        """A delivered file's receipt checked now: the center's signature and the batch's digest (None: no receipt)."""
        from agent.receipt_check import check_receipt

        found, path = self.file(key), self.file_path(key, "receipt")
        return check_receipt(self.store, self.engine.center_ca, found["batch_id"], path) if found and path else None

    def resend(self, key: str) -> dict[str, Any]:
        """Put a refused file's archived source back into the inbox as a new file (``agent.resend``)."""
        from agent.resend import resend

        return resend(self.workspace, self.store, key)

    def preview(self, **given: str) -> dict[str, Any]:
        """A check (核对) asked for on the page: into inbox/checks/ if the files' rules take it (``agent.preview``)."""
        from agent import preview

        return preview.ask(self.workspace, self.store, **given)

    def preview_answer(self, ref: str) -> dict[str, Any] | None:
        from agent import preview

        return preview.answer(self.store, ref)
