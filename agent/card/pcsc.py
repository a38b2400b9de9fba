"""PC/SC access through pyscard — the only module that imports ``smartcard``.

Every pyscard result code and exception is converted here, once, into the errors of :mod:`agent.card.errors`.
Each call and each :class:`PcscConnection` establishes its own PC/SC context: when pcscd restarts, every old
context is dead for good (``SCARD_E_NO_SERVICE``), so nothing here may cache one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from smartcard import scard

from agent.card.errors import CardError, CardRemovedError, NoCardError, NoReaderError, PcscUnavailableError

_SERVICE_GONE = {
    scard.SCARD_E_NO_SERVICE,
    scard.SCARD_E_SERVICE_STOPPED,
    scard.SCARD_F_COMM_ERROR,
}
_NO_READER = {
    scard.SCARD_E_NO_READERS_AVAILABLE,
    scard.SCARD_E_UNKNOWN_READER,
    scard.SCARD_E_READER_UNAVAILABLE,
}
_UNRESPONSIVE = {
    scard.SCARD_W_UNRESPONSIVE_CARD,
    scard.SCARD_W_UNPOWERED_CARD,
    scard.SCARD_W_UNSUPPORTED_CARD,
    scard.SCARD_E_PROTO_MISMATCH,
}


def _error_for(hresult: int, card_was_there: bool = False) -> CardError:
    """Project error for a PC/SC result code; ``card_was_there`` turns "no card" into "card removed"."""
    code = hresult & 0xFFFFFFFF  # pyscard hands back unsigned values, but be safe with signed ones
    if code in _SERVICE_GONE:
        return PcscUnavailableError()
    if code in _NO_READER:
        return NoReaderError()
    if code == scard.SCARD_E_NO_SMARTCARD:
        return CardRemovedError() if card_was_there else NoCardError()
    if code == scard.SCARD_W_REMOVED_CARD:
        return CardRemovedError()
    if code == scard.SCARD_W_RESET_CARD:
        # Another program reset the card: our PIN state is gone, the cure is the same as after a removal.
        return CardRemovedError("The card was reset by another program. Retry.")
    if code == scard.SCARD_E_SHARING_VIOLATION:
        return CardError("The card is in use by another program. Close that program and retry.")
    if code in _UNRESPONSIVE:
        return CardError("The card does not respond. Take it out and insert it again.")
    return CardError(f"Smart-card service error {code:08X}: {_error_message(code)}")


def _error_message(code: int) -> str:
    try:
        return str(scard.SCardGetErrorMessage(code))
    except scard.error:
        return "unknown error"


def _call(function: Callable[..., Any], *args: Any) -> Any:
    """Call a pyscard function, turning its own exception type (raised for bad arguments) into CardError."""
    try:
        return function(*args)
    except scard.error as e:
        raise CardError(f"Smart-card service error: {e}") from e


def _establish() -> int:
    hresult, context = _call(scard.SCardEstablishContext, scard.SCARD_SCOPE_USER)
    if hresult != scard.SCARD_S_SUCCESS:
        raise _error_for(hresult)
    return int(context)


@contextmanager
def _context() -> Iterator[int]:
    context = _establish()
    try:
        yield context
    finally:
        _call(scard.SCardReleaseContext, context)


def _list(context: int) -> list[str]:
    hresult, readers = _call(scard.SCardListReaders, context, [])
    if hresult == scard.SCARD_E_NO_READERS_AVAILABLE:
        return []  # "no readers" is an answer here, not an error
    if hresult != scard.SCARD_S_SUCCESS:
        raise _error_for(hresult)
    return [str(reader) for reader in readers]


def list_readers() -> list[str]:
    """Names of all connected readers (empty list when none); PcscUnavailableError when pcscd is not running."""
    with _context() as context:
        return _list(context)


def readers_with_card() -> list[str]:
    """Names of the readers that hold a powered-up, answering card."""
    with _context() as context:
        readers = _list(context)
        if not readers:
            return []
        # Timeout 0 with "unaware" states: pcscd reports the current state at once instead of waiting for a change.
        hresult, states = _call(
            scard.SCardGetStatusChange, context, 0, [(reader, scard.SCARD_STATE_UNAWARE) for reader in readers]
        )
        if hresult not in (scard.SCARD_S_SUCCESS, scard.SCARD_E_TIMEOUT):
            raise _error_for(hresult)
        return [
            str(reader)
            for reader, event_state, _atr in states
            if event_state & scard.SCARD_STATE_PRESENT and not event_state & scard.SCARD_STATE_MUTE
        ]


class PcscConnection:
    """One shared connection to the card in ``reader`` (T=1 or T=0, as the card offers), with its own context."""

    def __init__(self, reader: str) -> None:
        self.reader = reader
        self._context: int | None = _establish()
        try:
            hresult, card, protocol = _call(
                scard.SCardConnect,
                self._context,
                reader,
                scard.SCARD_SHARE_SHARED,
                scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1,
            )
            if hresult != scard.SCARD_S_SUCCESS:
                raise _error_for(hresult)
        except BaseException:
            _call(scard.SCardReleaseContext, self._context)
            self._context = None
            raise
        self._card: int | None = card
        self._protocol: int = protocol

    @property
    def atr(self) -> bytes:
        """The card's answer to reset (names the kind of card); empty when the card cannot be asked."""
        if self._card is None:
            return b""
        try:
            hresult, _reader, _state, _protocol, atr = _call(scard.SCardStatus, self._card)
        except CardError:
            return b""
        return bytes(atr) if hresult == scard.SCARD_S_SUCCESS else b""

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        """Send one APDU; return (response data, SW as int)."""
        if self._card is None:
            raise CardError("The card connection was closed.")
        hresult, response = _call(scard.SCardTransmit, self._card, self._protocol, list(apdu))
        if hresult != scard.SCARD_S_SUCCESS:
            raise _error_for(hresult, card_was_there=True)
        if len(response) < 2:
            raise CardError("The card gave an incomplete answer. Take it out and insert it again.")
        return bytes(response[:-2]), (response[-2] << 8) | response[-1]

    def close(self) -> None:
        """Disconnect, resetting the card so the verified PIN does not outlive us; safe to call twice."""
        card, context = self._card, self._context
        self._card = self._context = None
        # Errors are ignored: after a removal or a pcscd restart there is nothing left to release.
        if card is not None:
            with contextlib.suppress(CardError):
                _call(scard.SCardDisconnect, card, scard.SCARD_RESET_CARD)
        if context is not None:
            with contextlib.suppress(CardError):
                _call(scard.SCardReleaseContext, context)

    def __enter__(self) -> PcscConnection:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


# --- Presence watching (used by agent.card.monitor) ------------------------------------------------------------

# pcsc-lite and Windows wake a status-change wait on this pseudo-reader when a reader is plugged in or out.
PNP_NOTIFICATION = "\\\\?PnP?\\Notification"
STATE_UNAWARE = scard.SCARD_STATE_UNAWARE


@dataclass(frozen=True)
class ReaderStatus:
    """One reader as a status-change wait left it.

    ``event_state`` goes back unchanged into the next wait: its high 16 bits count insertions and removals, so a
    card swapped between two waits still shows as a change.
    """

    reader: str
    event_state: int

    @property
    def has_card(self) -> bool:
        return bool(self.event_state & scard.SCARD_STATE_PRESENT) and not self.event_state & scard.SCARD_STATE_MUTE

    @property
    def gone(self) -> bool:
        """The reader was unplugged (or never existed)."""
        return bool(self.event_state & (scard.SCARD_STATE_UNKNOWN | scard.SCARD_STATE_UNAVAILABLE))

    @property
    def card_events(self) -> int:
        return self.event_state >> 16


def establish_context() -> int:
    """A new PC/SC context for a long-lived watcher; PcscUnavailableError while pcscd is down."""
    return _establish()


def release_context(context: int) -> None:
    """Release a context; a context that died with pcscd cannot be released and is ignored."""
    with contextlib.suppress(CardError):
        _call(scard.SCardReleaseContext, context)


def context_readers(context: int) -> list[str]:
    """Names of the connected readers, through an existing context."""
    return _list(context)


def wait_for_change(context: int, known: list[tuple[str, int]], timeout: float) -> list[ReaderStatus] | None:
    """Block until one of ``known`` (reader, last event state) changes; None on timeout or :func:`cancel`.

    Pass ``STATE_UNAWARE`` for a reader seen for the first time: the answer is then its current state, at once.
    """
    hresult, states = _call(scard.SCardGetStatusChange, context, int(timeout * 1000), known)
    if hresult in (scard.SCARD_E_TIMEOUT, scard.SCARD_E_CANCELLED):
        return None
    if hresult != scard.SCARD_S_SUCCESS:
        raise _error_for(hresult)
    changed = scard.SCARD_STATE_CHANGED
    return [ReaderStatus(str(reader), int(event_state) & ~changed) for reader, event_state, _atr in states]


def cancel(context: int) -> None:
    """Wake a :func:`wait_for_change` blocked on ``context`` in another thread."""
    with contextlib.suppress(CardError):
        _call(scard.SCardCancel, context)
