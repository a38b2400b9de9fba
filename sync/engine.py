"""The sync engine: one cycle signs what waits (through the agent's signer), refreshes the port table, sends what is
signed, has delivery write what was answered, and pulls the update feed; with backoff and retry while the center is
away.

Each cycle runs inside one error handler: the center's own errors (unreachable, refused) and every foreign error (a
file held open by Excel, a full disk, the local store) become the cycle's problem, one sentence a clerk can act on;
nothing stops the agent. ``problem`` always describes the latest cycle, so it clears once the cause is gone.

Sending and delivering run in one process at a time (`run` and `sync-daemon` may share a workspace): each cycle
takes the sender's turn (an OS file lock, released at the end of the cycle and by the kernel if the process dies).
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any, Protocol

from cryptography import x509

from sync.backoff import Backoff
from sync.client import CenterClient, CenterError, CenterFailed, CenterRefused, CenterUnavailable
from sync.protocol import SignatureError, batch_document, verify_answer
from sync.states import BatchState
from sync.vocabulary import FEED_PAGE

log = logging.getLogger("eport.sync")

PORTS_REFRESH_SECONDS = 3600
# A batch the center fails on itself (HTTP 500) this many times is set aside with a result that says so.
MAX_ATTEMPTS = 5
# Whole-batch refusals that mean the card's certificate or FX permission has run out (shown as warnings).
EXPIRY_REFUSALS = ("FX_PERMISSION_EXPIRED", "CERTIFICATE_EXPIRED")

# Runs blocking work (store, card, files) off the event loop, on the agent's worker thread.
Blocking = Callable[..., Awaitable[Any]]


class SyncStore(Protocol):
    """What the engine needs of the store."""

    def batches_in(self, *states: str) -> list[dict[str, Any]]: ...

    def records(self, batch_id: str) -> list[dict[str, Any]]: ...

    def move(self, batch_id: str, from_states: Iterable[str], to_state: str, **columns: Any) -> bool: ...

    def replace_ports(self, ports: Iterable[dict[str, str]]) -> None: ...

    def update_cursor(self) -> int: ...


class Turn(Protocol):
    """The sender's turn: one process of a workspace at a time sends and delivers."""

    def try_take(self) -> bool: ...

    def release(self) -> None: ...


class SigningStage(Protocol):
    """received | awaiting_signature → signed (the agent's signer; the headless daemon has none)."""

    problem: str | None  # the card's trouble in the latest pass

    def sign_waiting(self) -> None: ...


class DeliveryStage(Protocol):
    """acknowledged → delivered | rejected, and the update pages (outbox.deliver)."""

    def deliver_answered(self) -> None: ...

    def write_page(self, page: list[dict[str, Any]]) -> None: ...

    def refresh_forms(self) -> None: ...


DISK_FULL = (
    "磁盘已满：腾出空间后下次同步会接着做，什么也不会丢 / the disk is full: the next sync carries on once there is room"
)


def problem_of(exc: BaseException) -> str:
    """A foreign error as the sentence a clerk reads (Chinese first)."""
    if isinstance(exc, CenterError):
        return str(exc)
    if isinstance(exc, OSError):
        # A replace names the file it could not replace second: that is the clerk's file.
        name = exc.filename2 or exc.filename
        where = f" {name}" if name else ""
        if exc.errno == errno.ENOSPC:
            return DISK_FULL
        if isinstance(exc, PermissionError):
            return (
                f"无法写入{where}：文件被其他程序（如 Excel）打开或没有写入权限；下次同步时重试"
                f" / cannot write{where}: another program (Excel?) holds it open, or it is read-only;"
                " tried again at the next sync"
            )
        return f"文件操作失败{where} / file error{where}: {exc.strerror or exc}"
    if isinstance(exc, sqlite3.Error) and "full" in str(exc):  # SQLITE_FULL: "database or disk is full"
        return DISK_FULL
    if isinstance(exc, sqlite3.Error):
        return f"本地数据库出错 / the local store failed: {exc}"
    return f"意外错误，详见 logs/agent.log / unexpected error, see logs/agent.log: {type(exc).__name__}: {exc}"


class SyncEngine:
    def __init__(
        self,
        store: SyncStore,
        client: CenterClient,
        center_ca: x509.Certificate,
        delivery: DeliveryStage,
        blocking: Blocking,
        turn: Turn,
        signer: SigningStage | None = None,
        retry_cap: float = 300.0,
    ) -> None:
        self.store, self.client, self.center_ca = store, client, center_ca
        self.delivery, self.signer, self.blocking, self.turn = delivery, signer, blocking, turn
        self.backoff = Backoff(cap=retry_cap)
        self.unreachable_since: str | None = None
        self.problem: str | None = None
        self.refusal: dict[str, str] | None = None  # the latest whole-batch refusal, until a batch goes through
        # Called with the delay (seconds) after which the next try should come, while the center is away.
        self.on_retry: Callable[[float], None] = lambda delay: None
        self._ports_fetched: float | None = None
        self._logged: set[str] = set()  # the failures of the last cycle, whose tracebacks were logged then
        self._away: CenterUnavailable | None = None  # the center went away during this cycle
        self._hold_until = 0.0  # monotonic time before which the center is left alone (the backoff's delay)

    async def cycle(self, force: bool = False) -> None:
        """Sign, refresh ports, send, deliver, pull: one pass. Each step runs on its own, so a step that fails (a
        file held open, the center away) never keeps the others from their work; its trouble becomes ``problem``.
        While the center is away the backoff holds: until the retry is due, a cycle (a new file, the schedule) signs
        and delivers but does not call the center, unless ``force`` (the clerk's own "sync now")."""
        if not force and time.monotonic() < self._hold_until:
            if self.signer is not None:
                await self._step(self.blocking(self.signer.sign_waiting), set())
            return
        self.problem, self._away = None, None
        failed: set[str] = set()
        if self.signer is not None:
            await self._step(self.blocking(self.signer.sign_waiting), failed)
        if await self._step(self.blocking(self.turn.try_take), failed) is not True:
            log.debug("another process on this workspace is sending; this one leaves it to it")
        else:
            try:
                await self._step(self._send(), failed)
                # Batches answered before the center went away still get their files.
                await self._step(self.blocking(self.delivery.deliver_answered), failed)
                if self._away is None:
                    await self._step(self._pull_updates(), failed)
            finally:
                await self._step(self.blocking(self.turn.release), failed)
        self._logged = failed
        if self._away is not None:
            self._center_failed(self._away)

    async def _step(self, work: Awaitable[Any], failed: set[str]) -> Any:
        """The one error handler: the center away is noted for the backoff; anything else becomes the problem."""
        try:
            return await work
        except CenterUnavailable as exc:
            self._away = self._away or exc
        except Exception as exc:  # reported, and tried again next cycle; the agent keeps running
            problem = problem_of(exc)
            self._report(problem)
            if problem in self._logged:  # the same failure as last time: one line, not the same traceback again
                log.warning("sync step failed again: %s", problem)
            else:
                log.exception("sync step failed")
            failed.add(problem)
        return None

    async def _send(self) -> None:
        try:
            await self._refresh_ports()
        except CenterUnavailable as exc:  # noted (the center may be away), but reference data never holds up business
            self._away = exc
        await self._send_signed()

    def warnings(self) -> list[str]:
        """The center saying the card's certificate or FX permission has ended."""
        if self.refusal is not None and self.refusal["code"] in EXPIRY_REFUSALS:
            return [self.refusal["message"]]
        return []

    # -- sending -------------------------------------------------------------------------------------------------

    async def _send_signed(self) -> None:
        for batch in await self.blocking(self.store.batches_in, BatchState.SIGNED, BatchState.SENT):
            records = await self.blocking(self.store.records, batch["id"])
            payload = {**json.loads(batch["payload"]), "records": records}
            # Marked sent before the request: after a crash we know it may have been applied, and resending the
            # same batch id is answered from the center's stored answer, never applied twice.
            if await self.blocking(self.store.move, batch["id"], [BatchState.SIGNED], BatchState.SENT):
                log.info("batch %s sent (%s): %d records", batch["id"], batch["source_name"], batch["record_count"])
            try:
                answer = await self.client.send_batch(batch_document(payload, batch["signature"]))
                verify_answer(answer, payload, self.center_ca)
            except CenterUnavailable:
                log.warning("batch %s stays queued (%s)", batch["id"], batch["source_name"])
                raise
            except CenterRefused as exc:
                self._center_answered()
                await self.blocking(self._refuse, batch, payload, exc)
                continue
            except CenterFailed as exc:  # this batch's own trouble: counted, and the batches behind it go on
                self._center_answered()
                await self.blocking(self._failed, batch, payload, exc)
                continue
            except SignatureError as exc:
                self._report(
                    f"中心的回执验证失败 / batch {batch['source_name']}: the center's answer did not verify: {exc}"
                )
                log.error("batch %s: answer rejected: %s", batch["id"], exc)
                continue
            self._center_answered()
            self.refusal = None  # a batch went through: whatever refused the last one is settled
            await self.blocking(
                self.store.move,
                batch["id"],
                [BatchState.SENT],
                BatchState.ACKNOWLEDGED,
                answer=json.dumps(answer, ensure_ascii=False),
            )
            ok = sum(1 for r in answer["results"] if r["status"] == "OK")
            log.info(
                "batch %s acknowledged (%s): %d OK, %d refused",
                batch["id"],
                batch["source_name"],
                ok,
                len(answer["results"]) - ok,
            )

    def _failed(self, batch: dict[str, Any], payload: dict[str, Any], failure: CenterFailed) -> None:
        """The center failed on this batch: tried again at the next syncs, and set aside (every row answered with
        why) after MAX_ATTEMPTS, so that one batch the center cannot take never holds up the others."""
        attempts = int(batch.get("attempts") or 0) + 1
        name = batch["source_name"]
        if attempts < MAX_ATTEMPTS:
            self.store.move(batch["id"], [BatchState.SENT], BatchState.SENT, attempts=attempts)
            self._report(f"{failure}：{name}，第 {attempts} 次；下次同步再试 / {name}: attempt {attempts}, tried again")
            log.warning("batch %s (%s): %s; attempt %d of %d", batch["id"], name, failure, attempts, MAX_ATTEMPTS)
            return
        set_aside = CenterRefused(
            failure.status,
            "CENTER_FAILED",
            f"数据中心处理此文件时出错（HTTP {failure.status}），已尝试 {attempts} 次，文件已搁置，后面的文件照常发送；"
            "请联系数据中心，问题解决后可重新提交此文件",
            f"the center failed on this file (HTTP {failure.status}) {attempts} times; it is set aside and the files"
            " behind it go on; ask the data center, and send the file again once it is fixed",
        )
        self.store.move(batch["id"], [BatchState.SENT], BatchState.SENT, attempts=attempts)
        self._refuse(batch, payload, set_aside)

    def _refuse(self, batch: dict[str, Any], payload: dict[str, Any], refusal: CenterRefused) -> None:
        """A whole-batch refusal is final: every row gets its result, with the center's reason."""
        results = list(_refused_results(payload["records"], refusal))
        answer = json.dumps({"results": results, "refused": refusal.code}, ensure_ascii=False)
        self.store.move(batch["id"], [BatchState.SENT], BatchState.ACKNOWLEDGED, answer=answer, problem=str(refusal))
        log.warning(
            "batch %s refused by the center (%s, %d records): %s",
            batch["id"],
            batch["source_name"],
            len(results),
            refusal,
        )
        self.refusal = {"batch": batch["source_name"], "code": refusal.code, "message": refusal.en}

    # -- reference data and the update feed ------------------------------------------------------------------------

    async def _refresh_ports(self) -> None:
        """Keep the port table for checking files offline; refreshed at most hourly, kept when the center is away."""
        now = time.monotonic()
        if self._ports_fetched is not None and now - self._ports_fetched < PORTS_REFRESH_SECONDS:
            return
        try:
            ports = await self.client.ports()
        except CenterRefused as exc:  # the center away (CenterUnavailable) is the cycle's to handle
            log.info("port table not refreshed: %s", exc)
            return
        await self.blocking(self.store.replace_ports, ports)
        self._ports_fetched = now

    async def _pull_updates(self) -> None:
        """Form changes since the cursor, a page at a time, handed to delivery; needs the device credential."""
        if self.client.device is None:
            return
        try:
            while page := await self.client.updates(await self.blocking(self.store.update_cursor), FEED_PAGE):
                await self.blocking(self.delivery.write_page, page)
        except CenterRefused as exc:
            self._report(f"中心拒绝了状态更新 / updates refused: {exc}")
            log.warning("the center refused the update pull: %s", exc)
        else:
            self._center_answered()
        await self.blocking(self.delivery.refresh_forms)  # pages written before a refusal count too

    # -- the center away and back ----------------------------------------------------------------------------------

    def _center_failed(self, problem: Exception) -> None:
        """The center is away: queued batches stay queued, and a retry comes after a growing, jittered wait."""
        delay = self.backoff.failed()
        self._hold_until = time.monotonic() + delay
        self.unreachable_since = self.unreachable_since or _now_iso()
        self._report(f"{problem}（{delay:.0f} 秒后重试 / next try in {delay:.0f} s）")
        log.warning("the center is unreachable: %s; next try in %.0f s", problem, delay)
        self.on_retry(delay)

    def _center_answered(self) -> None:
        if self.backoff.failures:
            log.info("the center answers again (unreachable since %s)", self.unreachable_since)
        self.backoff.succeeded()
        self.unreachable_since = self._away = None
        self._hold_until = 0.0

    def _report(self, text: str) -> None:
        self.problem = text if self.problem is None else f"{self.problem}；{text}"


def _refused_results(records: list[dict[str, Any]], refusal: CenterRefused) -> Iterator[dict[str, Any]]:
    for record in records:
        yield {
            "seq": record["seq"],
            "status": "ERROR",
            "code": refusal.code,
            "message_zh": refusal.zh,
            "message_en": refusal.en,
        }


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
