"""Notices the operator card coming and going, from one thread, through pcscd restarts and reader unplugs.

pyscard's ``CardMonitor`` stops for good when pcscd goes away (docs: PCSC.md), so this is our own
``SCardGetStatusChange`` loop. It owns one PC/SC context at a time: when pcscd stops, the context is dead for good,
so the loop reports "no card", drops it and establishes a new one as soon as pcscd answers again. Readers are listed
afresh after every change and every ``poll`` seconds, so a reader plugged in or out is picked up as well.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from agent.card.errors import CardError, NoReaderError, PcscUnavailableError
from agent.card.pcsc import (
    PNP_NOTIFICATION,
    STATE_UNAWARE,
    ReaderStatus,
    cancel,
    context_readers,
    establish_context,
    release_context,
    wait_for_change,
)

log = logging.getLogger(__name__)

AUTO = "auto"  # watch every reader; any other value watches the readers whose name contains it
_JOIN_TIMEOUT = 5.0


@dataclass(frozen=True)
class Presence:
    """Where the card is. A new ``card_events`` value in the same reader means the card was out in between."""

    reader: str | None
    card_events: int = 0
    service: bool = True  # False while pcscd is unreachable

    @property
    def present(self) -> bool:
        return self.reader is not None


NO_CARD = Presence(None)
NO_SERVICE = Presence(None, service=False)


class CardMonitor:
    """Calls ``on_change(presence)`` from its own thread whenever the card's presence changes.

    The first call comes as soon as the readers have been looked at. A card counts as present when its reader
    reports it powered and answering (not mute); when several watched readers hold one, the first listed wins.
    """

    def __init__(
        self, on_change: Callable[[Presence], None], wanted: str = AUTO, poll: float = 1.0, retry: float = 0.1
    ) -> None:
        self._on_change = on_change
        self._wanted = wanted
        self._poll = poll
        self._retry = retry
        self._stopping = threading.Event()
        self._context_lock = threading.Lock()
        self._context: int | None = None
        self._thread: threading.Thread | None = None
        self.presence: Presence | None = None  # None until the first look

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="card-monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop and wait for the thread; safe to call twice."""
        self._stopping.set()
        with self._context_lock:
            if self._context is not None:
                cancel(self._context)  # wakes the thread out of its status-change wait at once
        if self._thread is not None:
            self._thread.join(_JOIN_TIMEOUT)
            self._thread = None

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                context = establish_context()
            except PcscUnavailableError:
                self._report(NO_SERVICE)
                self._stopping.wait(self._retry)
                continue
            except CardError as exc:
                log.warning("card monitor: %s", exc)
                self._stopping.wait(self._retry)
                continue
            with self._context_lock:
                self._context = context
            try:
                self._watch(context)
            except PcscUnavailableError:
                log.warning("the smart-card service went away: the card counts as removed until it is back")
                self._report(NO_SERVICE)
            except CardError as exc:
                log.warning("card monitor: %s; looking again", exc)
            finally:
                with self._context_lock:
                    self._context = None
                release_context(context)
            self._stopping.wait(self._retry)

    def _watch(self, context: int) -> None:
        """Wait for changes on one context until it fails (PcscUnavailableError) or we are stopped."""
        known: dict[str, ReaderStatus] = {}
        pnp = STATE_UNAWARE
        while not self._stopping.is_set():
            readers = [r for r in context_readers(context) if self._wanted == AUTO or self._wanted in r]
            known = {r: known.get(r, ReaderStatus(r, STATE_UNAWARE)) for r in readers}
            waits = [(PNP_NOTIFICATION, pnp), *((r, s.event_state) for r, s in known.items())]
            try:
                changed = wait_for_change(context, waits, self._poll)
            except NoReaderError:
                # A reader went away between listing and waiting: list again (after a breath, not in a spin).
                self._stopping.wait(self._retry)
                continue
            if changed is None:
                continue  # timeout: list the readers again, in case no plug-and-play notice came
            for status in changed:
                if status.reader == PNP_NOTIFICATION:
                    pnp = status.event_state
                elif status.reader in known:
                    known[status.reader] = status
            self._report(_presence_of(readers, known))

    def _report(self, presence: Presence) -> None:
        if presence == self.presence:
            return
        self.presence = presence
        log.debug("card presence: %s", presence)
        try:
            self._on_change(presence)
        except Exception:  # the listener's failure must not end the watch
            log.exception("card presence listener failed")


def _presence_of(readers: list[str], known: dict[str, ReaderStatus]) -> Presence:
    for reader in readers:
        status = known[reader]
        if status.has_card and not status.gone:
            return Presence(reader, status.card_events)
    return NO_CARD
