"""The wire shared by the agent and the center (docs/ARCHITECTURE.md, The wire).

A batch travels as ``{"payload": {...}, "signature": "<header>..<signature>"}``: the payload is signed as its
canonical JSON (sorted keys, no whitespace, UTF-8) and the signature is a detached compact JWS (RFC 7515
Appendix F) with ES256 or SM2SM3 (sync.algorithms: the signer's key decides) and the signer's certificate chain in
``x5c``. The card signs a 32-byte digest of the signing input (SHA-256, or SM3 after the signer's Z value), which is
all either algorithm needs of it, so one card operation covers a whole batch.

The center answers ``{"batch_id", "results": [...], "receipt": "<compact JWS>"}`` (plus ``"rows"`` for queries);
the receipt is signed with the center's receipt key, whose certificate chains to the center CA that the agent pins.

Payload: ``{"v": 1, "batch_id", "kind", "enterprise", "created_at", "records": [...]}``. Every record has an integer
``seq`` (the row of the clerk's file) unique in the batch, and by kind:

- ``applications``: ``copies`` (int 1-1000), ``remark`` (str, may be empty). One result, which adds
  ``unified_no`` and ``apply_date``.
- ``filings``: ``form_no`` or ``start_form_no`` + ``count`` (int); ``port``. One result per form named.
- ``cancellations``, ``losses``: ``form_no`` or ``start_form_no`` + ``count``. One result per form named.
- ``submissions``: ``form_no`` or range; ``declaration_no`` (str, may be empty). One result per form named.
- ``queries``: ``business``, ``attribute``, ``op`` (``eq``/``prefix``), ``value``. One result per condition; the
  conditions are ANDed and the matching records come back in the answer's ``rows`` (a list of objects).
- ``access``: ``account`` (``…@17999.e163``), ``type`` (sync/access.py), ``months`` (str ``6``/``12``, may be
  empty), ``password`` (str, may be empty). One result, which adds ``account`` and ``expires_at``. The only kind the
  center takes before the enterprise holds a 17999 account; see sync/access.py for the rest of that gate.

A result is ``{"seq", "status": "OK"|"ERROR", "code", "message_zh", "message_en"}`` (+ ``form_no`` for form kinds).
A range names ``count`` forms from ``start_form_no`` on (:func:`sync.vocabulary.expand_range`), each answered alone.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
import secrets
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from sync.algorithms import (
    ALGORITHMS,
    DigestSigner,
    SignatureError,
    algorithm_of_certificate,
    check_issued_by,
    hasher,
    jws_signature,
    public_key_of,
    software_signer,
    verify,
)

__all__ = ["DigestSigner", "SignatureError", "check_issued_by", "software_signer"]  # the wire's names, from here too

API_BATCHES = "/api/v1/batches"
API_PORTS = "/api/v1/ports"
API_UPDATES = "/api/v1/updates"
PROTOCOL_VERSION = 1


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise SignatureError("malformed base64url") from exc


def canonical_json(obj: Any) -> bytes:
    """The one byte form of a JSON document that is signed and hashed."""
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _signing_input(protected_b64: str, payload: bytes) -> bytes:
    return f"{protected_b64}.{b64url(payload)}".encode("ascii")


def _header(algorithm: str, chain: Sequence[x509.Certificate]) -> str:
    header = {"alg": algorithm, "x5c": [base64.b64encode(c.public_bytes(Encoding.DER)).decode() for c in chain]}
    return b64url(canonical_json(header))


def sign_detached(payload: bytes, chain: Sequence[x509.Certificate], sign_digest: DigestSigner) -> str:
    """A detached compact JWS over ``payload``; ``sign_digest`` is called exactly once."""
    return sign_detached_stream([payload], chain, sign_digest)


def sign_detached_stream(
    payload_chunks: Iterable[bytes], chain: Sequence[x509.Certificate], sign_digest: DigestSigner
) -> str:
    """:func:`sign_detached` over a payload given in pieces, so that a huge batch is never held in memory whole."""
    algorithm = algorithm_of_certificate(chain[0])  # the signer's key decides: ES256 or SM2SM3
    protected = _header(algorithm, chain)
    digest = hasher(algorithm, public_key_of(chain[0]))
    digest.update(f"{protected}.".encode("ascii"))
    pending = b""
    for chunk in payload_chunks:
        pending += chunk
        whole = len(pending) - len(pending) % 3  # base64 of every 3 bytes stands alone
        digest.update(b64url(pending[:whole]).encode("ascii"))
        pending = pending[whole:]
    digest.update(b64url(pending).encode("ascii"))
    return f"{protected}..{b64url(jws_signature(algorithm, sign_digest(digest.digest())))}"


def canonical_payload_chunks(header: dict[str, Any], record_texts: Iterable[str]) -> Iterator[bytes]:
    """``canonical_json({**header, "records": records})`` in pieces, from records already in canonical form (each
    text one record, or several joined by commas).

    The keys of a payload sort as batch_id, created_at, enterprise, kind, records, v: everything but ``v`` comes
    before the records.
    """
    if set(header) != {"batch_id", "created_at", "enterprise", "kind", "v"}:
        raise ValueError(f"unexpected payload header keys {sorted(header)}")
    head = canonical_json({k: v for k, v in header.items() if k != "v"})
    yield head[:-1] + b',"records":['
    for index, text in enumerate(record_texts):
        yield (b"," if index else b"") + text.encode("utf-8")
    yield b'],"v":' + canonical_json(header["v"]) + b"}"


def sign_compact(payload: bytes, chain: Sequence[x509.Certificate], sign_digest: DigestSigner) -> str:
    """An attached compact JWS (the center's receipts)."""
    protected, _, signature = sign_detached(payload, chain, sign_digest).partition("..")
    return f"{protected}.{b64url(payload)}.{signature}"


def _verify(protected: str, payload: bytes, signature: str) -> list[x509.Certificate]:
    try:
        header = json.loads(b64url_decode(protected))
        algorithm = header.get("alg")
        if algorithm not in ALGORITHMS:
            raise SignatureError(f"unsupported JWS algorithm {algorithm!r}")
        chain = [x509.load_der_x509_certificate(base64.b64decode(c)) for c in header["x5c"]]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise SignatureError("malformed JWS header") from exc
    if not chain:
        raise SignatureError("the JWS carries no certificate")
    verify(algorithm, public_key_of(chain[0]), _signing_input(protected, payload), b64url_decode(signature))
    return chain


def verify_detached(jws: str, payload: bytes) -> list[x509.Certificate]:
    """Check a detached JWS over ``payload``; returns the certificate chain from its header (leaf first).

    Only the signature is checked here; whether the chain is trusted is the caller's decision
    (see :func:`check_issued_by`).
    """
    protected, sep, signature = jws.partition("..")
    if not sep or "." in signature:
        raise SignatureError("not a detached compact JWS")
    return _verify(protected, payload, signature)


def verify_compact(jws: str, trusted_ca: x509.Certificate, now: dt.datetime | None = None) -> dict[str, Any]:
    """Check an attached compact JWS whose signer chains to ``trusted_ca``; returns its JSON payload."""
    return _open_compact(jws, trusted_ca, now)[0]


def _open_compact(
    jws: str, trusted_ca: x509.Certificate, now: dt.datetime | None = None
) -> tuple[dict[str, Any], list[x509.Certificate]]:
    parts = jws.split(".")
    if len(parts) != 3:
        raise SignatureError("not a compact JWS")
    payload = b64url_decode(parts[1])
    chain = _verify(parts[0], payload, parts[2])
    check_issued_by(chain[0], trusted_ca, now)
    try:
        claims = json.loads(payload)
    except ValueError as exc:
        raise SignatureError("the JWS payload is not JSON") from exc
    if not isinstance(claims, dict):
        raise SignatureError("the JWS payload is not a JSON object")
    return claims, chain


def batch_document(payload: dict[str, Any], signature: str) -> dict[str, Any]:
    return {"payload": payload, "signature": signature}


def results_expected(record: dict[str, Any]) -> int:
    """How many results a record gets: one per form of a range, else one."""
    return int(record["count"]) if "start_form_no" in record else 1


def receipt_claims(
    batch_id: str,
    enterprise: str,
    payload: dict[str, Any],
    results: list[dict[str, Any]],
    received_at: str,
    rows: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """What the center's receipt states about a batch; the agent recomputes it to check the answer."""
    claims = {
        "batch_id": batch_id,
        "enterprise": enterprise,
        "batch_sha256": sha256_hex(canonical_json(payload)),
        "results_sha256": sha256_hex(canonical_json(results)),
        "ok": sum(1 for r in results if r["status"] == "OK"),
        "error": sum(1 for r in results if r["status"] != "OK"),
        "received_at": received_at,
    }
    if rows is not None:
        claims["rows_sha256"] = sha256_hex(canonical_json(rows))
    return claims


def verify_answer(answer: dict[str, Any], payload: dict[str, Any], trusted_ca: x509.Certificate) -> dict[str, Any]:
    """Check that the center's answer is signed by it and is about exactly this batch and these results.

    Returns the receipt's claims. Raises SignatureError if anything does not match.
    """
    try:
        claims = verify_compact(str(answer["receipt"]), trusted_ca)
        results = answer["results"]
        received_at = claims.get("received_at", "")
        rows = answer.get("rows")
        expected = receipt_claims(payload["batch_id"], payload["enterprise"], payload, results, received_at, rows)
        got = Counter(int(r["seq"]) for r in results)
        wanted = Counter({int(r["seq"]): results_expected(r) for r in payload["records"]})
    except (KeyError, TypeError, ValueError) as exc:
        raise SignatureError("the center's answer is incomplete") from exc
    for name, value in expected.items():
        if claims.get(name) != value:
            raise SignatureError(f"the receipt does not match the answer ({name})")
    if got != wanted:
        raise SignatureError("the answer does not hold exactly one result per record (per form of a range)")
    return claims


# -- the device credential -----------------------------------------------------------------------------------------
# Unattended requests (pulling updates, 17999 accounts, the permissions listing) are made by the agent's own device
# key, not the card: each request carries ``Authorization: EPort-Device <compact JWS>`` over what it asks for. The JWS
# is bound to the method, the path and the body, so it cannot be used for anything else; it is good within
# DEVICE_CLOCK_SKEW of its time, and only once: it carries a random nonce, which the center remembers until the
# authorization's time is past (center.replay) and refuses to see again.

DEVICE_SCHEME = "EPort-Device"
# Seconds a device's clock may differ from the center's: five minutes, as Kerberos allows, because clerks' PCs are
# often set by hand. The window no longer bounds replay (the nonce does); it bounds how long the center remembers a
# nonce and how long an authorization that never arrived stays usable.
DEVICE_CLOCK_SKEW = 300
NONCE_BYTES = 16  # 128 random bits a request
NONCE = re.compile(r"[A-Za-z0-9_-]{22,64}")  # base64url: what an agent sends, and a little room


@dataclass(frozen=True)
class DeviceAuthorization:
    """A device authorization that is good for the request it came with: who, its nonce, and its time."""

    certificate: x509.Certificate
    nonce: str
    issued_at: int  # seconds since the epoch, by the device's clock

    @property
    def good_until(self) -> int:
        """After this moment (the center's clock) the authorization is refused for its age: its nonce may go."""
        return self.issued_at + DEVICE_CLOCK_SKEW


def device_authorization(
    method: str,
    path: str,
    body: bytes,
    chain: Sequence[x509.Certificate],
    sign_digest: DigestSigner,
    now: float | None = None,
    nonce: str | None = None,
) -> str:
    """The ``Authorization`` header of one request; a fresh random nonce unless ``nonce`` is given (tests)."""
    claims = {
        "m": method.upper(),
        "p": path,
        "b": sha256_hex(body),
        "t": int(now if now is not None else time.time()),
        "n": nonce if nonce is not None else b64url(secrets.token_bytes(NONCE_BYTES)),
    }
    return f"{DEVICE_SCHEME} {sign_compact(canonical_json(claims), chain, sign_digest)}"


def verify_device_authorization(
    header: str, method: str, path: str, body: bytes, trusted_ca: x509.Certificate, now: float | None = None
) -> DeviceAuthorization:
    """The device behind a request, if its authorization is good for exactly this request, now. Whether its nonce
    was seen before is the center's to tell (center.replay)."""
    scheme, _, token = header.partition(" ")
    if scheme != DEVICE_SCHEME or not token:
        raise SignatureError("not a device authorization")
    claims, chain = _open_compact(token, trusted_ca)
    moment = now if now is not None else time.time()
    if claims.get("m") != method.upper() or claims.get("p") != path or claims.get("b") != sha256_hex(body):
        raise SignatureError("the device authorization is for another request")
    issued_at = claims.get("t")
    if not isinstance(issued_at, int) or isinstance(issued_at, bool) or abs(moment - issued_at) > DEVICE_CLOCK_SKEW:
        raise SignatureError("the device authorization is too old or from the future (check the clock)")
    nonce = claims.get("n")
    if not isinstance(nonce, str) or not NONCE.fullmatch(nonce):
        raise SignatureError("the device authorization carries no single-use nonce (update the agent)")
    return DeviceAuthorization(chain[0], nonce, issued_at)
