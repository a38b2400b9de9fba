"""The card side of ISO 7816-4 framing for the emulated card: parse a short command APDU, join command chains
(CLA bit 0x10) and hand out answers longer than Le through 61xx + GET RESPONSE.

Kept apart from the PIV applet (``emulated_applet``) so that its handlers see one whole command and return one whole
answer, as the host side (``agent.card.apdu``) does for ``PivSession``.
"""

from __future__ import annotations

from collections.abc import Callable

from agent.card.apdu import CLA_CHAINING, INS_GET_RESPONSE, MAX_SHORT_LE, SW1_MORE_DATA
from agent.card.errors import (
    SW_CLA_NOT_SUPPORTED,
    SW_CONDITIONS_NOT_SATISFIED,
    SW_INCORRECT_P1P2,
    SW_LAST_COMMAND_OF_CHAIN_EXPECTED,
    SW_SUCCESS,
    SW_WRONG_LENGTH,
)

Answer = tuple[bytes, int]  # response data, status word
Handler = Callable[[int, int, int, bytes], Answer]  # INS, P1, P2 and the whole command's data → the whole answer


def status(sw: int) -> Answer:
    """An answer without data."""
    return b"", sw


class ApduFraming:
    """One card's framing state (an open command chain, an answer not yet read) in front of its ``handler``.

    Not thread-safe by itself: the card holding it serialises :meth:`process` and :meth:`reset`.
    """

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._chain: tuple[int, bytes] | None = None  # (INS, data so far) of an open command chain
        self._pending = b""  # response bytes waiting for GET RESPONSE

    def reset(self) -> None:
        """Power off / reset: drop an open chain and an unread answer."""
        self._chain = None
        self._pending = b""

    def process(self, apdu: bytes) -> Answer:
        if len(apdu) < 4:
            return status(SW_WRONG_LENGTH)
        cla, ins, p1, p2 = apdu[:4]
        body = apdu[4:]
        le: int | None = None
        if len(body) == 1:  # case 2: Le only
            data, le = b"", body[0] or MAX_SHORT_LE
        elif body:
            lc = body[0]
            if lc == 0 or len(body) not in (1 + lc, 2 + lc):  # lc 0 would start an extended APDU: unsupported
                return status(SW_WRONG_LENGTH)
            data = body[1 : 1 + lc]
            if len(body) == 2 + lc:
                le = body[-1] or MAX_SHORT_LE
        else:
            data = b""
        if cla & ~CLA_CHAINING:
            return status(SW_CLA_NOT_SUPPORTED)
        max_answer = le if le is not None else MAX_SHORT_LE  # no Le: answer anyway, as real PIV cards do

        if ins == INS_GET_RESPONSE:
            return self._get_response(p1, p2, max_answer)
        self._pending = b""  # any other command abandons an unread answer

        if cla & CLA_CHAINING:
            if self._chain is not None and self._chain[0] != ins:
                self._chain = None
                return status(SW_LAST_COMMAND_OF_CHAIN_EXPECTED)
            self._chain = (ins, (self._chain[1] if self._chain else b"") + data)
            return status(SW_SUCCESS)
        if self._chain is not None:
            chain_ins, earlier = self._chain
            self._chain = None
            if chain_ins != ins:
                return status(SW_LAST_COMMAND_OF_CHAIN_EXPECTED)
            data = earlier + data

        answer, sw = self._handler(ins, p1, p2, data)
        if len(answer) > max_answer:
            self._pending = answer[max_answer:]
            return answer[:max_answer], self._more_data_sw()
        return answer, sw

    def _more_data_sw(self) -> int:
        return (SW1_MORE_DATA << 8) | (min(len(self._pending), MAX_SHORT_LE) & 0xFF)

    def _get_response(self, p1: int, p2: int, max_answer: int) -> Answer:
        if (p1, p2) != (0, 0):
            return status(SW_INCORRECT_P1P2)
        if not self._pending:
            return status(SW_CONDITIONS_NOT_SATISFIED)
        chunk, self._pending = self._pending[:max_answer], self._pending[max_answer:]
        return chunk, self._more_data_sw() if self._pending else SW_SUCCESS
