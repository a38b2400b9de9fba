"""ISO 7816-4 APDU layer: builds short APDUs, does command and response chaining, raises on bad status words.

It sits between a :class:`Connection` (moves bytes, knows nothing about APDUs) and an application session such as
``PivSession`` (knows the verbs). Only short APDUs are used: every card we target supports chaining, and short
encoding keeps the T=0 path through PC/SC readers simple.
"""

from __future__ import annotations

from typing import Protocol

from agent.card.errors import SW_SUCCESS, ApduError

INS_GET_RESPONSE = 0xC0
CLA_CHAINING = 0x10  # ISO 7816-4: "more commands of this chain follow"
SW1_MORE_DATA = 0x61
MAX_SHORT_LC = 255
MAX_SHORT_LE = 256


class Connection(Protocol):
    """Moves one APDU to the card and back. Implemented by ``PcscConnection`` and ``EmulatedConnection``."""

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        """Send a command APDU; return the response data and the status word (e.g. 0x9000)."""
        ...

    def close(self) -> None: ...


def encode_apdu(cla: int, ins: int, p1: int, p2: int, data: bytes = b"", le: int = 0) -> bytes:
    """Encode one short APDU. ``le`` 0 means "no Le byte"; 256 is encoded as 00."""
    if len(data) > MAX_SHORT_LC:
        raise ValueError(f"short APDU data is at most {MAX_SHORT_LC} bytes, got {len(data)}")
    if not 0 <= le <= MAX_SHORT_LE:
        raise ValueError(f"short APDU Le is 0..{MAX_SHORT_LE}, got {le}")
    apdu = bytes([cla, ins, p1, p2])
    if data:
        apdu += bytes([len(data)]) + data
    if le:
        apdu += bytes([le & 0xFF])
    return apdu


class ApduProtocol:
    """Sends commands with chaining and turns any final status word other than 9000 into :class:`ApduError`."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def send(self, cla: int, ins: int, p1: int, p2: int, data: bytes = b"", le: int = 0) -> bytes:
        """Send one logical command; return the complete response data (all 61xx parts joined)."""
        # Command chaining: all chunks but the last carry CLA|0x10; the card answers 9000 to each of them.
        while len(data) > MAX_SHORT_LC:
            chunk, data = data[:MAX_SHORT_LC], data[MAX_SHORT_LC:]
            _, sw = self.connection.transmit(encode_apdu(cla | CLA_CHAINING, ins, p1, p2, chunk))
            if sw != SW_SUCCESS:
                raise ApduError(sw)

        response, sw = self.connection.transmit(encode_apdu(cla, ins, p1, p2, data, le))
        # Response chaining: 61xx says xx more bytes wait (00 = 256 or more); fetch them with GET RESPONSE.
        while sw >> 8 == SW1_MORE_DATA:
            more, sw = self.connection.transmit(encode_apdu(0x00, INS_GET_RESPONSE, 0x00, 0x00, le=(sw & 0xFF) or 256))
            response += more
        if sw != SW_SUCCESS:
            raise ApduError(sw)
        return response
