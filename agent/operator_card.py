"""The operator's IC card as the agent uses it: unlocked once by the clerk, then signing whole batches.

What the card holds (its certificate, serial, expiry warnings) and its enrollment are agent.card_identity; this is
the resident card's state machine: absent, locked, unlocked, blocked.

The PIN goes to the card and nowhere else: it is not kept, logged or retried. After a wrong PIN the card stays
locked until the clerk tries again. With a presence watcher (PC/SC readers), a removed card is noticed at once:
the session is dropped, signing stops, and the card comes back LOCKED, to be unlocked by the clerk again.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from cryptography import x509

from agent.card.apdu import Connection
from agent.card.errors import (
    ApduError,
    CardError,
    InvalidPinError,
    PinBlockedError,
)
from agent.card.piv import ALGORITHM_ECCP256, PIV_ALGORITHMS, PivSession
from agent.card_identity import CardInfo, describe_card, select_piv
from sync.algorithms import algorithm_of_certificate

if TYPE_CHECKING:
    from agent.card.monitor import Presence

log = logging.getLogger(__name__)


class CardState(enum.Enum):
    ABSENT = "absent"  # no card, or it was removed
    LOCKED = "locked"  # present, PIN not (yet) verified in this card session
    UNLOCKED = "unlocked"
    BLOCKED = "blocked"  # too many wrong PINs: only the card issuer can unblock it


class CardNotReady(CardError):
    """The card cannot sign now: it is out, locked or blocked. Batches wait for it."""


class PresenceWatcher(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...


# Builds a watcher that reports to the given callback (agent.card.monitor.CardMonitor for PC/SC readers).
WatchFactory = Callable[[Callable[["Presence"], None]], PresenceWatcher]


class OperatorCard:
    """The card behind one lock: the watcher thread, the signer and the clerk's unlock never interleave."""

    def __init__(
        self, open_connection: Callable[[], Connection], watch: WatchFactory | None = None, label: str | None = None
    ) -> None:
        """``watch`` notices a card coming and going (PC/SC readers); ``label`` names a card that is always there
        (the emulated one), looked at once by :meth:`start`. With neither, the card is opened when first used."""
        self._open_connection = open_connection
        self._watch = watch
        self._lock = threading.Lock()
        self._session: PivSession | None = None
        self._connection: Connection | None = None
        self._certificate: x509.Certificate | None = None
        self._watcher: PresenceWatcher | None = None
        self._seen: tuple[str, int] | None = None  # (reader, card events) of the card session we know
        self._reader: str | None = label
        self._on_ready: Callable[[], None] = lambda: None
        self.state = CardState.ABSENT
        self.tries_left: int | None = None
        self.info = CardInfo(CardState.ABSENT.value)

    # -- life ------------------------------------------------------------------------------------------------

    def start(self, on_ready: Callable[[], None] | None = None) -> None:
        """Start noticing the card; ``on_ready()`` is called (from any thread) each time it becomes unlocked."""
        if on_ready is not None:
            self._on_ready = on_ready
        if self._watch is not None:
            self._watcher = self._watch(self._presence_changed)
            self._watcher.start()
        elif self._reader is not None:
            with self._lock:  # a card that is always there: look once, so the clerk sees "locked", not "absent"
                self._reopen()

    def close(self) -> None:
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.stop()  # outside the lock: the watcher thread may be waiting for it
        with self._lock:
            self._drop_session()

    def _presence_changed(self, presence: Presence) -> None:
        with self._lock:
            if presence.reader is None:
                if self._session is not None or self.state is not CardState.ABSENT:
                    log.warning(
                        "card removed%s: signing stops, batches wait for it",
                        "" if presence.service else " (the smart-card service is not running)",
                    )
                self._seen = None
                self._drop_session()
                return
            seen = (presence.reader, presence.card_events)
            if seen == self._seen:
                return
            first_look, self._seen = self._seen is None, seen
            if first_look and self._session is not None:
                # The clerk got to the card before this report did; the session is on the card now in the reader
                # (a session opened on a card pulled since then fails at first use and is dropped there).
                return
            self._drop_session()  # another card session: whatever PIN state we had is gone
            self._reader = presence.reader
            self._reopen()
            if self.state is not CardState.ABSENT:
                log.info("card inserted in %s: %s", presence.reader, self.state.value)

    # -- sessions (callers hold the lock) ---------------------------------------------------------------------

    def _ensure_session(self) -> PivSession:
        if self._session is None:
            connection = self._open_connection()
            try:
                session = select_piv(connection)
                tries = session.pin_tries_left()
                state = CardState.BLOCKED if tries == 0 else CardState.LOCKED
                info, certificate = describe_card(session, self._reader, state.value, tries)
            except BaseException:
                with contextlib.suppress(CardError):
                    connection.close()
                raise
            self._connection, self._session, self._certificate = connection, session, certificate
            self._set(state, tries, info)
        return self._session

    def _reopen(self) -> None:
        """Open a session on the card now in the reader; a card we cannot use leaves the state ABSENT."""
        try:
            self._ensure_session()
        except CardError as exc:
            self._drop_session()
            self.info = CardInfo(CardState.ABSENT.value, self._reader, problem=str(exc))
            log.warning("card in %s not usable: %s", self._reader, exc)

    def _drop_session(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(CardError):
                self._connection.close()
        self._session = self._connection = None
        self._certificate = None
        self._set(CardState.ABSENT, None, CardInfo(CardState.ABSENT.value))

    def _lost_if_transport(self, error: CardError) -> None:
        """A failure below the card's own answers (removed, reset, pcscd gone, a transfer that failed) may leave the
        connection dead: drop it and look again. A card still there (reset by another program, a reader's glitch)
        comes back LOCKED — the clerk unlocks it again; the PIN is never replayed."""
        if isinstance(error, ApduError):
            return  # the card answered: the connection is fine
        log.warning("card connection lost: %s", error)
        self._drop_session()
        self._reopen()

    def _set(self, state: CardState, tries_left: int | None, info: CardInfo | None = None) -> None:
        self.state, self.tries_left = state, tries_left
        base = info if info is not None else self.info
        # One new object, swapped in whole: status readers never take the lock and never see half an update.
        self.info = CardInfo(**{**base.as_dict(), "state": state.value, "pin_tries_left": tries_left})

    # -- verbs ------------------------------------------------------------------------------------------------

    def unlock(self, pin: str) -> None:
        """Verify the PIN once. Raises InvalidPinError (with tries left) or PinBlockedError; never retries. An
        unlocked card is left alone: a mistyped PIN must not spend one of its tries."""
        with self._lock:
            if self.state is CardState.UNLOCKED:
                log.info("card already unlocked: the PIN was not sent to it")
                return
            session = self._ensure_session()  # no card, no reader: said as it is, nothing to clean up
            try:
                session.verify_pin(pin)
            except InvalidPinError as exc:
                self._set(CardState.LOCKED, exc.tries_left)
                log.warning("card unlock failed: wrong PIN, %d tries left", exc.tries_left)
                raise
            except PinBlockedError:
                self._set(CardState.BLOCKED, 0)
                log.error("card is blocked: too many wrong PINs")
                raise
            except CardError as exc:
                self._lost_if_transport(exc)
                raise
            self._set(CardState.UNLOCKED, None)
            log.info("card unlocked")
        self._on_ready()

    def certificate(self) -> x509.Certificate:
        with self._lock:
            self._ensure_session()
            if self._certificate is None:
                raise CardNotReady("the card holds no operator certificate: enroll it (eport-agent card enroll)")
            return self._certificate

    def sign_digest(self, digest: bytes) -> bytes:
        with self._lock:
            if self.state is not CardState.UNLOCKED or self._session is None:
                raise CardNotReady(f"the card is {self.state.value}: unlock it to sign waiting batches")
            try:
                return self._session.sign_digest(digest, self._key_algorithm())
            except CardError as exc:
                self._lost_if_transport(exc)
                raise

    def _key_algorithm(self) -> int:
        """The 9C key's PIV algorithm, from the certificate the card holds (P-256 or SM2)."""
        if self._certificate is None:
            return ALGORITHM_ECCP256
        return PIV_ALGORITHMS[algorithm_of_certificate(self._certificate)]

    def warnings(self) -> list[str]:
        return self.info.warnings()
