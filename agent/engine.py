"""The agent's engine and facade: intake → sign → send → deliver, each step a store transaction.

Front ends (CLI, demo, tray) only call the facade methods (`start`, `stop`, `unlock`, `sync_now`, `status`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger
from cryptography import x509
from cryptography.x509.oid import NameOID

from agent import store as st
from agent.card.errors import CardError, InvalidPinError, PinBlockedError
from agent.control import CONTROL_FILE, ControlServer
from agent.intake import Intake
from agent.operator_card import CardState, OperatorCard
from agent.store import Store
from agent.updates import UpdatePuller
from agent.workspace import Workspace
from inbox.schema import KINDS
from inbox.watcher import InboxWatcher
from outbox.delivery import query_csv, result_csv, result_xml
from outbox.files import free_path, remove_stale_drafts, write_atomic
from sync.backoff import Backoff
from sync.client import BatchRefused, CenterClient, CenterUnavailable
from sync.protocol import (
    PROTOCOL_VERSION,
    SignatureError,
    batch_document,
    canonical_payload_chunks,
    sign_detached_stream,
    verify_answer,
)

log = logging.getLogger("eport.agent")
PORTS_REFRESH_SECONDS = 3600
# Sending and delivering run in one process at a time (`run` and `sync-daemon` may share a workspace); a lease that
# its holder stops renewing (it died) runs out after this long.
SYNC_LEASE = "sync"
# What `eport-agent status` shows of a running agent without asking it.
SHARED_STATUS = ("last_sync", "next_sync", "problem", "center_unreachable_since", "card")
LEASE_SECONDS = 120.0
# A draft older than this was not being written by anyone any more: the process writing it crashed.
STALE_DRAFT_SECONDS = 600.0
# Whole-batch refusals that mean the card's certificate or FX permission has run out (shown as warnings).
EXPIRY_REFUSALS = ("FX_PERMISSION_EXPIRED", "CERTIFICATE_EXPIRED")


def enterprise_of(certificate: x509.Certificate) -> str:
    """The operator certificate names its enterprise in O (the center's CA puts it there)."""
    values = certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    return str(values[0].value) if values else ""


class Agent:
    def __init__(
        self,
        workspace: Workspace,
        card: OperatorCard,
        client: CenterClient,
        center_ca: x509.Certificate,
        schedule: BaseTrigger | None = None,
        settle_quiet: float = 0.1,
        retry_cap: float = 300.0,
        watch: bool = True,
    ) -> None:
        self.workspace = workspace
        self.card = card
        self.client = client
        self.center_ca = center_ca
        self.schedule = schedule or IntervalTrigger(seconds=60)
        self.backoff = Backoff(cap=retry_cap)
        self.unreachable_since: str | None = None
        self.store = Store(workspace.store_file)
        # The headless sync daemon does not watch: files are read by the process that holds the card.
        self.watcher = InboxWatcher(workspace.inbox, self.intake, quiet=settle_quiet) if watch else None
        self._intake = Intake(workspace, self.store, self._announce)
        self._updates = UpdatePuller(workspace, self.store, client.updates, self._run)
        self.last_sync: str | None = None
        self.last_problem: str | None = None
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="agent-work")
        self._sync_lock = asyncio.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._scheduler: AsyncIOScheduler | None = None
        self._kicked = False
        self._owner = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._ports_fetched: float | None = None
        self.paused = False
        self._listeners: list[Callable[[dict[str, Any]], None]] = []
        self._control: ControlServer | None = None
        self.refusal: dict[str, str] | None = None  # the latest whole-batch refusal, until a batch goes through

    # -- facade -------------------------------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._scheduler = AsyncIOScheduler(event_loop=self._loop)
        self._scheduler.add_job(self.sync_now, self.schedule, id="sync", coalesce=True, max_instances=1)
        self._scheduler.start()
        await self._run(self._remove_stale_drafts)
        if self.watcher is not None:
            self.watcher.start()
            log.info("watching %s", self.workspace.inbox)
        self.card.start(on_ready=self._kick)  # a card that becomes unlocked has batches to sign
        if self.watcher is not None:  # the process that reads the inbox holds the card: `unlock` etc. talk to it
            self._control = ControlServer(self, self.workspace.state / CONTROL_FILE)
            await self._control.start()
        self._kick()

    async def stop(self) -> None:
        if self._control is not None:
            await self._control.stop()
        if self.watcher is not None:
            self.watcher.stop()
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
        async with self._sync_lock:  # let a running sync finish its step
            pass
        await self.client.close()
        await self._run(self.store.release_lease, SYNC_LEASE, self._owner)
        self._worker.shutdown(wait=True)
        self.card.close()

    def unlock(self, pin: str) -> None:
        """Give the PIN to the card once (blocking: card I/O); waiting batches are signed right after."""
        self.card.unlock(pin)

    def card_info(self) -> dict[str, Any]:
        """The card as last read (no card I/O): reader, serial, certificate, enterprise, expiry, PIN tries left."""
        return {**self.card.info.as_dict(), "warnings": self.card.warnings()}

    def warnings(self) -> list[str]:
        """Trouble ahead: the operator certificate running out, or the center saying the permission has ended."""
        found = self.card.warnings()
        if self.refusal is not None and self.refusal["code"] in EXPIRY_REFUSALS:
            found.append(self.refusal["message"])
        return found

    def try_unlock(self, pin: str) -> dict[str, Any]:
        """:meth:`unlock` as plain data for front ends (the tray): ``unlocked``, ``tries_left``, ``blocked`` and a
        ``message`` a clerk can act on. The PIN is tried once, as always."""
        outcome: dict[str, Any] = {"unlocked": False, "tries_left": None, "blocked": False, "message": ""}
        try:
            self.unlock(pin)
        except InvalidPinError as exc:
            outcome.update(
                tries_left=exc.tries_left, message=f"Wrong PIN: {exc.tries_left} tries left before the card locks."
            )
        except PinBlockedError as exc:
            outcome.update(tries_left=0, blocked=True, message=str(exc))
        except (CardError, ValueError) as exc:  # no card, the card's own trouble, a PIN of the wrong form
            outcome.update(message=str(exc))
        else:
            outcome.update(unlocked=True, message="unlocked")
        return outcome

    async def sync_now(self) -> None:
        """Sign what waits for the card, send what is signed, deliver what is answered. One at a time."""
        async with self._sync_lock:
            self._kicked = False
            if self.paused:
                return
            try:
                await self._refresh_ports()
                await self._run(self.sign_waiting)
                if await self._run(self.store.take_lease, SYNC_LEASE, self._owner, LEASE_SECONDS):
                    await self._send_signed()
                    await self._run(self._deliver_answered)
                    await self._pull_updates()
                else:
                    log.debug("another process on this workspace is syncing; this one leaves it to it")
            except Exception as exc:  # a failed cycle is reported and retried next time; the agent keeps running
                self.last_problem = f"sync failed: {exc!r}"
                log.exception("sync failed")
            self.last_sync = st.now_iso()
            status = self.status()
            await self._run(self.store.set_meta, **{name: status[name] for name in SHARED_STATUS})

    async def _pull_updates(self) -> None:
        """Form changes into outbox/updates and outbox/forms.csv; needs the device credential, not the card."""
        if self.client.device is None:
            return
        try:
            new = await self._updates.pull()
        except CenterUnavailable as exc:
            self._center_failed(exc)
            return
        except BatchRefused as exc:
            self.last_problem = f"updates refused: {exc}"
            log.warning("the center refused the update pull: %s", exc)
            return
        if new:
            self._announce("updates", self.workspace.outbox / "forms.csv")

    async def _refresh_ports(self) -> None:
        """Keep the port table for checking files offline; refreshed at most hourly, kept when the center is away."""
        now = time.monotonic()
        if self._ports_fetched is not None and now - self._ports_fetched < PORTS_REFRESH_SECONDS:
            return
        try:
            ports = await self.client.ports()
        except (CenterUnavailable, BatchRefused) as exc:
            log.info("port table not refreshed: %s", exc)
            return
        await self._run(self.store.replace_ports, ports)
        self._ports_fetched = now

    def _center_failed(self, problem: Exception) -> None:
        """The center is away: queued batches stay queued, and a retry comes after a growing, jittered wait."""
        delay = self.backoff.failed()
        self.unreachable_since = self.unreachable_since or st.now_iso()
        self.last_problem = f"{problem}; next try in {delay:.0f} s"
        if self._scheduler is not None:
            when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=delay)
            self._scheduler.add_job(self.sync_now, "date", run_date=when, id="retry", replace_existing=True)

    def _center_answered(self) -> None:
        if self.backoff.failures:
            log.info("the center answers again (unreachable since %s)", self.unreachable_since)
        self.backoff.succeeded()
        self.unreachable_since = self.last_problem = None

    def _remove_stale_drafts(self) -> None:
        outbox = self.workspace.outbox
        folders = [outbox, *(outbox / name for name in ("results", "receipts", "errors", "updates", "queries"))]
        removed = sum(remove_stale_drafts(folder, STALE_DRAFT_SECONDS) for folder in folders if folder.is_dir())
        if removed:
            log.info("removed %d half-written outbox files left by an earlier crash", removed)

    def request_sync(self) -> None:
        """Sync now, from any thread (the tray's "Sync now")."""
        self._kick()

    def pause(self) -> None:
        """Stop sending and signing until resumed; files dropped meanwhile are still read and queued."""
        self.paused = True
        log.info("sync paused")

    def resume(self) -> None:
        self.paused = False
        log.info("sync resumed")
        self._kick()

    def subscribe(self, listener: Callable[[dict[str, Any]], None]) -> None:
        """``listener({"type": "result"|"errors", "path": str})`` is called (from a worker thread) per file written."""
        self._listeners.append(listener)

    def _announce(self, kind: str, path: Path) -> None:
        for listener in self._listeners:
            try:
                listener({"type": kind, "path": str(path)})
            except Exception:  # a front end's failure must not stop the engine
                log.exception("listener failed")

    def status(self) -> dict[str, Any]:
        next_run = self._scheduler.get_job("sync") if self._scheduler is not None else None
        return {
            "workspace": str(self.workspace.root),
            "card": self.card.state.value,
            "pin_tries_left": self.card.tries_left,
            "batches": self.store.counts(),
            "paused": self.paused,
            "last_sync": self.last_sync,
            "next_sync": next_run.next_run_time.isoformat() if next_run and next_run.next_run_time else None,
            "problem": self.last_problem,
            "center_unreachable_since": self.unreachable_since,
            "refused": self.refusal,
            "warnings": self.warnings(),
        }

    # -- plumbing -----------------------------------------------------------------------------------------------

    async def _run(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Blocking work (store, card, files) runs on the one worker thread, off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self._worker, functools.partial(fn, *args, **kwargs))

    def _kick(self) -> None:
        """Ask for a sync soon, from any thread; requests made before it starts are folded into one."""
        loop = self._loop
        if loop is None or loop.is_closed() or self._kicked:
            return
        self._kicked = True
        loop.call_soon_threadsafe(lambda: loop.create_task(self.sync_now()))

    # -- intake (watcher thread) --------------------------------------------------------------------------------

    def intake(self, path: Path) -> None:
        try:
            batch_id = self._intake.take(path)
        except PermissionError:
            log.info("file %s is locked by another program; trying again shortly", path.name)
            if self.watcher is not None:
                threading.Timer(1.0, self.watcher.touch, (path,)).start()
            return
        if batch_id is not None:
            self._kick()

    # -- signing (worker thread) --------------------------------------------------------------------------------

    def sign_waiting(self) -> None:
        """Sign every batch waiting for the card, if it is unlocked (blocking: card I/O)."""
        for batch in self.store.batches_in(st.RECEIVED, st.AWAITING_SIGNATURE):
            if self.card.state is not CardState.UNLOCKED:
                if self.store.move(batch["id"], [st.RECEIVED], st.AWAITING_SIGNATURE):
                    log.info(
                        "batch %s (%s) awaits the card (%s)", batch["id"], batch["source_name"], self.card.state.value
                    )
                continue
            try:
                self._sign(batch)
            except CardError as exc:
                self.last_problem = f"card: {exc}"
                log.warning("batch %s not signed: %s", batch["id"], exc)
                self.store.move(batch["id"], [st.RECEIVED], st.AWAITING_SIGNATURE)
                return

    def _sign(self, batch: dict[str, Any]) -> None:
        """One card signature over the whole batch; its records stream from the store into the digest."""
        certificate = self.card.certificate()
        header = {
            "v": PROTOCOL_VERSION,
            "batch_id": batch["id"],
            "kind": batch["kind"],
            "enterprise": enterprise_of(certificate),
            "created_at": batch["created_at"],
        }
        chunks = canonical_payload_chunks(header, self.store.record_texts(batch["id"]))
        signature = sign_detached_stream(chunks, [certificate], self.card.sign_digest)
        if self.store.move(
            batch["id"],
            [st.RECEIVED, st.AWAITING_SIGNATURE],
            st.SIGNED,
            payload=json.dumps(header),
            signature=signature,
        ):
            log.info(
                "batch %s signed (%s): %d records, one card signature",
                batch["id"],
                batch["source_name"],
                batch["record_count"],
            )

    # -- sending (event loop) -----------------------------------------------------------------------------------

    async def _send_signed(self) -> None:
        for batch in await self._run(self.store.batches_in, st.SIGNED, st.SENT):
            records = await self._run(self.store.records, batch["id"])
            payload = {**json.loads(batch["payload"]), "records": records}
            # Marked sent before the request: after a crash we know it may have been applied, and resending the
            # same batch id is answered from the center's stored answer, never applied twice.
            if await self._run(self.store.move, batch["id"], [st.SIGNED], st.SENT):
                log.info("batch %s sent (%s): %d records", batch["id"], batch["source_name"], batch["record_count"])
            try:
                answer = await self.client.send_batch(batch_document(payload, batch["signature"]))
                verify_answer(answer, payload, self.center_ca)
            except CenterUnavailable as exc:
                self._center_failed(exc)
                log.warning("batch %s stays queued (%s): %s", batch["id"], batch["source_name"], exc)
                return
            except BatchRefused as exc:
                await self._run(self._refuse, batch, payload, exc)
                continue
            except SignatureError as exc:
                self.last_problem = f"batch {batch['id']}: the center's answer did not verify: {exc}"
                log.error("batch %s: answer rejected: %s", batch["id"], exc)
                continue
            self._center_answered()
            self.refusal = None  # a batch went through: whatever refused the last one is settled
            ok = sum(1 for r in answer["results"] if r["status"] == "OK")
            await self._run(
                self.store.move, batch["id"], [st.SENT], st.ACKNOWLEDGED, answer=json.dumps(answer, ensure_ascii=False)
            )
            log.info(
                "batch %s acknowledged (%s): %d OK, %d refused",
                batch["id"],
                batch["source_name"],
                ok,
                len(answer["results"]) - ok,
            )

    def _refuse(self, batch: dict[str, Any], payload: dict[str, Any], refusal: BatchRefused) -> None:
        """A whole-batch refusal is final: every row gets its result, with the center's reason."""
        results = [
            {
                "seq": r["seq"],
                "status": "ERROR",
                "code": refusal.code,
                "message_zh": refusal.zh,
                "message_en": refusal.en,
            }
            for r in payload["records"]
        ]
        answer = json.dumps({"results": results, "refused": refusal.code}, ensure_ascii=False)
        self.store.move(batch["id"], [st.SENT], st.ACKNOWLEDGED, answer=answer, problem=str(refusal))
        log.warning(
            "batch %s refused by the center (%s, %d records): %s",
            batch["id"],
            batch["source_name"],
            len(results),
            refusal,
        )
        self.refusal = {"batch": batch["source_name"], "code": refusal.code, "message": refusal.en}

    # -- delivery (worker thread) -------------------------------------------------------------------------------

    def _deliver_answered(self) -> None:
        for batch in self.store.batches_in(st.ACKNOWLEDGED):
            answer = json.loads(batch["answer"])
            kind = KINDS[batch["kind"]]
            result_file, receipt_file = self._output_paths(batch)
            records = self.store.records(batch["id"])
            if "rows" in answer and all(r["status"] == "OK" for r in answer["results"]):
                write_atomic(result_file, query_csv(answer["rows"]))
            elif batch["format"] == "xml":
                write_atomic(result_file, result_xml(kind, records, answer["results"]))
            else:
                write_atomic(result_file, result_csv(kind, records, answer["results"]))
            if "receipt" in answer:
                write_atomic(receipt_file, answer["receipt"].encode("ascii"))
            final = st.REJECTED if "refused" in answer else st.DELIVERED
            self.store.move(batch["id"], [st.ACKNOWLEDGED], final)
            self._announce("result", result_file)
            log.info(
                "batch %s %s (%s): %d result rows in %s",
                batch["id"],
                final,
                batch["source_name"],
                len(answer["results"]),
                result_file.name,
            )

    def _output_paths(self, batch: dict[str, Any]) -> tuple[Path, Path]:
        """Chosen once and recorded, so a delivery re-run after a crash rewrites the same two files."""
        if batch["result_file"]:
            return Path(batch["result_file"]), Path(batch["receipt_file"])
        taken = self.store.claimed_outputs()
        folder = self.workspace.queries if batch["kind"] == "queries" else self.workspace.results
        suffix = "xml" if batch["format"] == "xml" and batch["kind"] != "queries" else "csv"
        result = free_path(folder, f"{batch['stem']}.result.{suffix}", taken)
        receipt = free_path(self.workspace.receipts, f"{batch['stem']}.receipt.jws", taken)
        self.store.move(
            batch["id"], [st.ACKNOWLEDGED], st.ACKNOWLEDGED, result_file=str(result), receipt_file=str(receipt)
        )
        return result, receipt
