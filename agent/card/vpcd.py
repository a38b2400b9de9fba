"""Plug an :class:`EmulatedPivCard` into pcscd's ``vsmartcard-vpcd`` reader driver, for tests and the demo.

The driver listens on TCP (35963 for reader "Virtual PCD 00 00", 35964 for "... 00 01"); the card is the client.
Connecting is "card inserted", closing is "card removed". Every message both ways is a 2-byte big-endian length and
the payload; a 1-byte message from the driver is a control code, anything longer is a command APDU.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from types import TracebackType

from agent.card.emulated import EmulatedPivCard
from agent.card.errors import SW_NO_PRECISE_DIAGNOSIS, PcscUnavailableError

log = logging.getLogger(__name__)

VPCD_PORT = 35963
VPCD_CONTROL_POWER_OFF = 0x00
VPCD_CONTROL_POWER_ON = 0x01
VPCD_CONTROL_RESET = 0x02
VPCD_CONTROL_ATR = 0x04
_CONNECT_TIMEOUT = 5.0
_JOIN_TIMEOUT = 5.0


def _quickack(sock: socket.socket) -> None:
    # The driver sends length and payload in two writes with Nagle on; without an immediate ACK each APDU stalls
    # ~40 ms on delayed ACK. Linux clears QUICKACK after use, hence "before every receive".
    if hasattr(socket, "TCP_QUICKACK"):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)


def _receive_exactly(sock: socket.socket, size: int) -> bytes | None:
    """Read ``size`` bytes; None when the peer closed (or we shut the socket down)."""
    buffer = bytearray()
    while len(buffer) < size:
        _quickack(sock)
        chunk = sock.recv(size - len(buffer))
        if not chunk:
            return None
        buffer += chunk
    return bytes(buffer)


class VpcdCard:
    """Serves one emulated card on a vpcd reader from a daemon thread; ``insert()``/``remove()`` as often as needed."""

    def __init__(self, card: EmulatedPivCard, port: int = VPCD_PORT, host: str = "127.0.0.1") -> None:
        self.card = card
        self.port = port
        self.host = host  # loopback by default: the driver listens on all interfaces, we never need more
        self.powered = False
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None

    @property
    def inserted(self) -> bool:
        """True while the connection to the driver is up (False after remove() or when pcscd went away)."""
        return self._thread is not None and self._thread.is_alive()

    def insert(self) -> None:
        """Connect to the driver (= insert the card) and start serving it."""
        if self._socket is not None:
            if self.inserted:
                raise RuntimeError("the emulated card is already inserted")
            self.remove()  # the driver dropped us (pcscd stopped): clean up before reconnecting
        try:
            sock = socket.create_connection((self.host, self.port), timeout=_CONNECT_TIMEOUT)
        except OSError as e:
            raise PcscUnavailableError(
                f"No virtual card reader at {self.host}:{self.port}. Is pcscd with the vpcd driver running?"
            ) from e
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._socket = sock
        self._thread = threading.Thread(target=self._serve, args=(sock,), name=f"vpcd-card-{self.port}", daemon=True)
        self._thread.start()

    def remove(self) -> None:
        """Close the connection (= pull the card out) and wait for the serving thread; safe to call twice."""
        sock, thread = self._socket, self._thread
        self._socket = self._thread = None
        if sock is not None:
            # shutdown() wakes the thread blocked in recv(); close() alone does not on Linux.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if thread is not None:
            thread.join(_JOIN_TIMEOUT)
        if sock is not None:
            sock.close()
        self.powered = False
        self.card.reset()  # a pulled card loses power, and with it the verified PIN

    def _serve(self, sock: socket.socket) -> None:
        try:
            while True:
                header = _receive_exactly(sock, 2)
                if header is None:
                    break
                message = _receive_exactly(sock, int.from_bytes(header, "big"))
                if message is None:
                    break
                reply = self._handle(message)
                if reply is not None:
                    sock.sendall(len(reply).to_bytes(2, "big") + reply)  # one write: no Nagle stall on our side
        except OSError:
            pass  # socket shut down by remove() or reset by the driver: either way the card is out
        log.debug("vpcd card on port %d stopped serving", self.port)

    def _handle(self, message: bytes) -> bytes | None:
        if len(message) == 1:
            control = message[0]
            if control == VPCD_CONTROL_ATR:
                return self.card.atr
            if control in (VPCD_CONTROL_POWER_OFF, VPCD_CONTROL_RESET):
                self.powered = control == VPCD_CONTROL_RESET
                self.card.reset()
            elif control == VPCD_CONTROL_POWER_ON:
                self.powered = True
            else:
                log.warning("vpcd: unknown control code %02X ignored", control)
            return None  # power off/on/reset have no reply
        if not message:
            return None
        try:
            return self.card.process(message)
        except Exception:
            # A bug in the emulator must not kill the reader thread; the host sees a plain card error instead.
            log.exception("emulated card failed on an APDU (INS %02X)", message[1])
            return SW_NO_PRECISE_DIAGNOSIS.to_bytes(2, "big")

    def __enter__(self) -> VpcdCard:
        self.insert()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.remove()
