"""A batch document as it arrives (sync/protocol.py): ``{"payload", "signature"}`` and the payload's header, checked
before anything is applied. A malformed document is the sender's bug, not the clerk's, and refuses the whole batch.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from center.ledger.identifiers import is_int
from center.refusals import Refusal
from sync.limits import MAX_BATCH_AGE, MAX_BATCH_AHEAD
from sync.protocol import PROTOCOL_VERSION

BATCH_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
KIND_QUERIES = "queries"


@dataclass(frozen=True)
class BatchHeader:
    """The parts of a batch payload that every kind has."""

    batch_id: str
    kind: str
    enterprise: str
    records: list[dict[str, Any]]
    created_at: dt.datetime  # when the agent made it (UTC when the text gives no offset); bounded by check_age


def check_age(created_at: dt.datetime, now: dt.datetime) -> None:
    """A batch made more than MAX_BATCH_AHEAD after the center's ``now`` (the PC's clock is wrong), or more than
    MAX_BATCH_AGE before it (it waited too long to be sent: sent now, it would do business long out of date), is
    refused whole."""
    if created_at - now > MAX_BATCH_AHEAD:
        raise Refusal(
            "BATCH_CREATED_IN_FUTURE",
            created_at=created_at.isoformat(timespec="seconds"),
            now=now.isoformat(timespec="seconds"),
            minutes=int(MAX_BATCH_AHEAD.total_seconds() // 60),
        )
    if now - created_at > MAX_BATCH_AGE:
        raise Refusal("BATCH_TOO_OLD", created_at=created_at.isoformat(timespec="seconds"), days=MAX_BATCH_AGE.days)


def _bad(detail: str) -> Refusal:
    return Refusal("BAD_REQUEST", detail=detail)


def split_document(document: Any) -> tuple[dict[str, Any], str]:
    """``{"payload": {...}, "signature": "..."}`` → its two parts."""
    if not isinstance(document, dict):
        raise _bad("the body must be a JSON object with 'payload' and 'signature'")
    payload, signature = document.get("payload"), document.get("signature")
    if not isinstance(payload, dict):
        raise _bad("'payload' must be a JSON object")
    if not isinstance(signature, str) or not signature:
        raise _bad("'signature' must be a detached JWS string")
    return payload, signature


def parse_header(payload: dict[str, Any]) -> BatchHeader:
    if payload.get("v") != PROTOCOL_VERSION:
        raise _bad(f"unsupported protocol version {payload.get('v')!r} (expected {PROTOCOL_VERSION})")
    batch_id, kind, enterprise = payload.get("batch_id"), payload.get("kind"), payload.get("enterprise")
    if not isinstance(batch_id, str) or not BATCH_ID.match(batch_id):
        raise _bad("'batch_id' must be 1-64 characters of A-Z, a-z, 0-9, '_' or '-'")
    if not isinstance(kind, str) or not kind:
        raise _bad("'kind' must be a string")
    if not isinstance(enterprise, str):
        raise _bad("'enterprise' must be a string")
    created_at = _iso_datetime(payload.get("created_at"))
    if created_at is None:
        raise _bad("'created_at' must be an ISO 8601 date-time")
    records = payload.get("records")
    if kind == KIND_QUERIES and records == []:
        raise Refusal("QUERY_CONDITION_REQUIRED")  # the manual's FAQ 6: a query needs a condition
    if not isinstance(records, list) or not records:
        raise _bad("'records' must be a non-empty list")
    # Results are matched to records by seq (sync.protocol.verify_answer), so a record without its own integer
    # seq cannot be answered at all: that is the sender's bug, not the clerk's, and refuses the batch.
    if not all(isinstance(r, dict) and is_int(r.get("seq")) for r in records):
        raise _bad("every record must be an object with an integer 'seq'")
    if len({r["seq"] for r in records}) != len(records):
        raise _bad("two records have the same 'seq'")
    return BatchHeader(batch_id, kind, enterprise, records, created_at)


def _iso_datetime(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)
