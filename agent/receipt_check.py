"""A receipt checked again, on the clerk's request (the status page): the clerk's proof that the center received
exactly this file.

The receipt file in outbox/receipts is read as it is now and checked against the center's pinned CA (its signature,
its certificate chain) and against the store: the digest of the batch as it was signed (its header and its records,
streamed from the store) and of the results the center answered, and the batch id.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from cryptography import x509

from agent.store import Store
from sync.protocol import SignatureError, canonical_json, canonical_payload_chunks, sha256_hex, verify_compact


def batch_digest(store: Store, batch: dict[str, Any]) -> str:
    """SHA-256 of the canonical payload the card signed, from the header and the records the store holds."""
    digest = hashlib.sha256()
    for chunk in canonical_payload_chunks(json.loads(batch["payload"]), store.record_texts(batch["id"])):
        digest.update(chunk)
    return digest.hexdigest()


def check_receipt(store: Store, center_ca: x509.Certificate, batch_id: str, receipt: Path) -> dict[str, Any]:
    """``{"valid": bool, "signature": bool, "digest": bool, "results": bool, "claims": {...}, "reason": str}``:
    ``signature``: signed by the center (chained to its pinned CA); ``digest``: about exactly this batch;
    ``results``: about exactly the results the agent holds."""
    outcome: dict[str, Any] = {"valid": False, "signature": False, "digest": False, "results": False, "claims": {}}
    try:
        claims = verify_compact(receipt.read_text(encoding="ascii").strip(), center_ca)
    except (OSError, UnicodeDecodeError) as exc:
        return {**outcome, "reason": f"cannot read the receipt: {exc}"}
    except SignatureError as exc:
        return {**outcome, "reason": str(exc)}
    batch = store.batch(batch_id)
    answer = json.loads(batch["answer"] or "{}")
    digest_ok = claims.get("batch_id") == batch_id and claims.get("batch_sha256") == batch_digest(store, batch)
    results_ok = claims.get("results_sha256") == sha256_hex(canonical_json(answer.get("results", [])))
    reason = "" if digest_ok and results_ok else "the receipt is about another batch" if not digest_ok else ""
    if digest_ok and not results_ok:
        reason = "the receipt is about other results than those the agent holds"
    return {
        "valid": digest_ok and results_ok,
        "signature": True,
        "digest": digest_ok,
        "results": results_ok,
        "claims": claims,
        "reason": reason,
    }
