"""The operator's IC card as the agent uses it: unlocked once by the clerk, then signing whole batches.

The PIN goes to the card and nowhere else: it is not kept, logged or retried. After a wrong PIN the card stays
locked until the clerk tries again. With a presence watcher (PC/SC readers), a removed card is noticed at once:
the session is dropped, signing stops, and the card comes back LOCKED, to be unlocked by the clerk again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import logging
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from agent.card.apdu import Connection
from agent.card.errors import (
    SW_FILE_NOT_FOUND,
    ApduError,
    CardError,
    InvalidPinError,
    PinBlockedError,
)
from agent.card.piv import PivSession

if TYPE_CHECKING:
    from agent.card.monitor import Presence

log = logging.getLogger(__name__)

EXPIRY_WARNING = dt.timedelta(days=30)


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


@dataclass(frozen=True)
class CardInfo:
    """What the agent knows of the card in the reader; plain values, read without touching the card."""

    state: str
    reader: str | None = None
    serial: str | None = None
    subject: str | None = None
    operator: str | None = None
    enterprise: str | None = None
    not_after: str | None = None  # ISO 8601, UTC
    pin_tries_left: int | None = None
    problem: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def warnings(self, now: dt.datetime | None = None) -> list[str]:
        """Trouble ahead that the clerk should hear about before signing fails."""
        warning = certificate_warning(self.not_after, now or dt.datetime.now(dt.UTC))
        return [warning] if warning else []


def _name_part(certificate: x509.Certificate, oid: x509.ObjectIdentifier) -> str | None:
    values = certificate.subject.get_attributes_for_oid(oid)
    return str(values[0].value) if values else None


def describe_card(
    session: PivSession, reader: str | None, state: CardState, tries_left: int | None
) -> tuple[CardInfo, x509.Certificate | None]:
    """Read serial and certificate (no PIN needed) into a CardInfo; a card without a certificate says so."""
    try:
        serial: str | None = session.get_serial()
    except ApduError:
        serial = None  # a card without a CHUID still signs
    try:
        certificate: x509.Certificate | None = session.get_certificate()
    except ApduError as exc:
        if exc.sw != SW_FILE_NOT_FOUND:
            raise
        certificate = None
    if certificate is None:
        info = CardInfo(
            state.value,
            reader,
            serial,
            pin_tries_left=tries_left,
            problem="The card holds no operator certificate: enroll it (eport-agent card enroll).",
        )
        return info, None
    info = CardInfo(
        state.value,
        reader,
        serial,
        certificate.subject.rfc4514_string(),
        _name_part(certificate, NameOID.COMMON_NAME),
        _name_part(certificate, NameOID.ORGANIZATION_NAME),
        certificate.not_valid_after_utc.isoformat(),
        tries_left,
    )
    return info, certificate


def _select(connection: Connection) -> PivSession:
    try:
        return PivSession(connection)
    except ApduError as exc:
        raise CardError("The card in the reader is not an E-Port operator card (it has no PIV application).") from exc


def enroll_card(
    connection: Connection, pin: str, certify: Callable[[ec.EllipticCurvePublicKey, str | None], x509.Certificate]
) -> x509.Certificate:
    """Generate a new key on the card, have ``certify(public_key, serial)`` issue its certificate, store it.

    The card's old key and certificate are gone afterwards. The PIN is presented once (the emulated card wants it
    for key generation and writing; a real card's management key is outside this agent).
    """
    session = _select(connection)
    session.verify_pin(pin)
    try:
        serial: str | None = session.get_serial()
    except ApduError:
        serial = None
    certificate = certify(session.generate_key(), serial)
    session.put_certificate(certificate)
    return certificate


def certificate_warning(not_after: str | None, now: dt.datetime, ahead: dt.timedelta = EXPIRY_WARNING) -> str | None:
    """A warning when the operator certificate ends within ``ahead`` (or has ended)."""
    if not_after is None:
        return None
    end = dt.datetime.fromisoformat(not_after)
    if end <= now:
        return f"The operator certificate expired on {end.date().isoformat()}: have the card renewed."
    if end - now <= ahead:
        days = (end - now).days
        return f"The operator certificate expires on {end.date().isoformat()} (in {days} days): have it renewed."
    return None


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
                session = _select(connection)
                tries = session.pin_tries_left()
                state = CardState.BLOCKED if tries == 0 else CardState.LOCKED
                info, certificate = describe_card(session, self._reader, state, tries)
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
        """Verify the PIN once. Raises InvalidPinError (with tries left) or PinBlockedError; never retries."""
        with self._lock:
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
                return self._session.sign_digest(digest)
            except CardError as exc:
                self._lost_if_transport(exc)
                raise

    def warnings(self) -> list[str]:
        return self.info.warnings()
