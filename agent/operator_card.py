"""The operator's IC card as the agent uses it: unlocked once by the clerk, then signing whole batches.

The PIN goes to the card and nowhere else: it is not kept, logged or retried. After a wrong PIN the card stays
locked until the clerk tries again.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import threading
from collections.abc import Callable

from cryptography import x509

from agent.card.apdu import Connection
from agent.card.errors import CardError, CardRemovedError, InvalidPinError, PinBlockedError
from agent.card.piv import PivSession

log = logging.getLogger(__name__)


class CardState(enum.Enum):
    ABSENT = "absent"  # no card, or it was removed
    LOCKED = "locked"  # present, PIN not (yet) verified in this card session
    UNLOCKED = "unlocked"
    BLOCKED = "blocked"  # too many wrong PINs: only the card issuer can unblock it


class CardNotReady(CardError):
    """The card cannot sign now: it is out, locked or blocked. Batches wait for it."""


class OperatorCard:
    def __init__(self, open_connection: Callable[[], Connection]) -> None:
        self._open_connection = open_connection
        self._lock = threading.Lock()
        self._session: PivSession | None = None
        self._connection: Connection | None = None
        self._certificate: x509.Certificate | None = None
        self.state = CardState.ABSENT
        self.tries_left: int | None = None

    def _ensure_session(self) -> PivSession:
        if self._session is None:
            self._connection = self._open_connection()
            self._session = PivSession(self._connection)
            self._certificate = self._session.get_certificate()
            if self.state is not CardState.BLOCKED:
                self.state = CardState.LOCKED
        return self._session

    def _drop_session(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(CardError):
                self._connection.close()
        self._session = self._connection = None
        self._certificate = None
        self.state = CardState.ABSENT

    def unlock(self, pin: str) -> None:
        """Verify the PIN once. Raises InvalidPinError (with tries left) or PinBlockedError; never retries."""
        with self._lock:
            try:
                session = self._ensure_session()
                session.verify_pin(pin)
            except InvalidPinError as exc:
                self.state, self.tries_left = CardState.LOCKED, exc.tries_left
                log.warning("card unlock failed: wrong PIN, %d tries left", exc.tries_left)
                raise
            except PinBlockedError:
                self.state, self.tries_left = CardState.BLOCKED, 0
                log.error("card is blocked: too many wrong PINs")
                raise
            except CardRemovedError:
                self._drop_session()
                raise
            self.state, self.tries_left = CardState.UNLOCKED, None
            log.info("card unlocked")

    def certificate(self) -> x509.Certificate:
        with self._lock:
            self._ensure_session()
            assert self._certificate is not None
            return self._certificate

    def sign_digest(self, digest: bytes) -> bytes:
        with self._lock:
            if self.state is not CardState.UNLOCKED or self._session is None:
                raise CardNotReady(f"the card is {self.state.value}: unlock it to sign waiting batches")
            try:
                return self._session.sign_digest(digest)
            except CardRemovedError:
                self._drop_session()
                raise

    def close(self) -> None:
        with self._lock:
            self._drop_session()
