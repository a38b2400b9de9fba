"""The signing stage: received | awaiting_signature → signed, with one card signature over each whole batch.

A batch waits in ``awaiting_signature`` while the card is out or locked and is signed as soon as it is back and
unlocked. The records stream from the store into the digest: a batch of a million rows is never held in memory.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from cryptography import x509
from cryptography.x509.oid import NameOID

from agent.card.errors import CardError
from agent.operator_card import CardState, OperatorCard
from sync.protocol import PROTOCOL_VERSION, canonical_payload_chunks, sign_detached_stream
from sync.states import BatchState

log = logging.getLogger("eport.agent")

UNSIGNED = (BatchState.RECEIVED, BatchState.AWAITING_SIGNATURE)


class SigningStore(Protocol):
    """What signing needs of the store."""

    def batches_in(self, *states: str) -> list[dict[str, Any]]: ...

    def record_texts(self, batch_id: str) -> Iterator[str]: ...

    def move(self, batch_id: str, from_states: Iterable[str], to_state: str, **columns: Any) -> bool: ...


def enterprise_of(certificate: x509.Certificate) -> str:
    """The operator certificate names its enterprise in O (the center's CA puts it there)."""
    values = certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    return str(values[0].value) if values else ""


class Signer:
    def __init__(self, store: SigningStore, card: OperatorCard) -> None:
        self.store, self.card = store, card
        self.problem: str | None = None  # the card's trouble in the last signing pass

    def sign_waiting(self) -> None:
        """Sign every batch waiting for the card, if it is unlocked (blocking: card I/O)."""
        self.problem = None
        for batch in self.store.batches_in(*UNSIGNED):
            if self.card.state is not CardState.UNLOCKED:
                if self.store.move(batch["id"], [BatchState.RECEIVED], BatchState.AWAITING_SIGNATURE):
                    log.info(
                        "batch %s (%s) awaits the card (%s)", batch["id"], batch["source_name"], self.card.state.value
                    )
                continue
            try:
                self._sign(batch)
            except CardError as exc:
                self.problem = f"IC卡签名失败 / card: {exc}"
                log.warning("batch %s not signed: %s", batch["id"], exc)
                self.store.move(batch["id"], [BatchState.RECEIVED], BatchState.AWAITING_SIGNATURE)
                return

    def _sign(self, batch: dict[str, Any]) -> None:
        certificate = self.card.certificate()
        header = {
            "v": PROTOCOL_VERSION,
            "batch_id": batch["id"],
            "kind": batch["kind"],
            "enterprise": enterprise_of(certificate),
            "created_at": batch["created_at"],
        }
        chunks = canonical_payload_chunks(header, self.store.record_texts(batch["id"]))
        signature = sign_detached_stream(chunks, [certificate], self.card.sign_digest)
        if self.store.move(batch["id"], UNSIGNED, BatchState.SIGNED, payload=json.dumps(header), signature=signature):
            log.info(
                "batch %s signed (%s): %d records, one card signature",
                batch["id"],
                batch["source_name"],
                batch["record_count"],
            )
