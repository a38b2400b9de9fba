"""The batch states (docs/ARCHITECTURE.md), the one vocabulary the store, the stages and the tray share.

    received → awaiting_signature → signed → sent → acknowledged → delivered | rejected

Each stage moves a batch out of the states it owns, in one store transaction that checks the state it starts from.
"""

from __future__ import annotations

import enum


class BatchState(enum.StrEnum):
    RECEIVED = "received"  # read, checked and stored; not signed yet
    AWAITING_SIGNATURE = "awaiting_signature"  # waiting for the operator card (out, locked)
    SIGNED = "signed"  # one card signature over the whole batch; ready to send
    SENT = "sent"  # on its way (it may have been applied: a resend is answered from the center's stored answer)
    ACKNOWLEDGED = "acknowledged"  # the center answered (or refused the whole batch); files not written yet
    DELIVERED = "delivered"  # result and receipt written to outbox/
    REJECTED = "rejected"  # refused as a whole by the center; every row's result says why


# Batches on their way through the pipeline, with nothing asked of the clerk.
IN_FLIGHT = (BatchState.RECEIVED, BatchState.SIGNED, BatchState.SENT, BatchState.ACKNOWLEDGED)
