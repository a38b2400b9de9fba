"""The wire shared by the agent and the center (docs/ARCHITECTURE.md, The wire).

A batch travels as ``{"payload": {...}, "signature": "<header>..<signature>"}``: the payload is signed as its
canonical JSON (sorted keys, no whitespace, UTF-8) and the signature is a detached compact JWS (RFC 7515
Appendix F) with ES256 and the signer's certificate chain in ``x5c``. The card signs a SHA-256 digest, which is
exactly what ES256 needs of the signing input, so one card operation covers a whole batch.

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
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.serialization import Encoding

API_BATCHES = "/api/v1/batches"
API_PORTS = "/api/v1/ports"
API_UPDATES = "/api/v1/updates"
PROTOCOL_VERSION = 1

# A signer takes the SHA-256 digest of the signing input and returns a DER ECDSA signature (what a PIV card gives).
DigestSigner = Callable[[bytes], bytes]


class SignatureError(Exception):
    """A JWS is malformed, or its signature or certificate does not verify."""


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


def _raw_from_der(der_signature: bytes) -> bytes:
    r, s = decode_dss_signature(der_signature)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _der_from_raw(raw: bytes) -> bytes:
    if len(raw) != 64:
        raise SignatureError("an ES256 signature is 64 bytes")
    return encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))


def _header(chain: Sequence[x509.Certificate]) -> str:
    header = {"alg": "ES256", "x5c": [base64.b64encode(c.public_bytes(Encoding.DER)).decode() for c in chain]}
    return b64url(canonical_json(header))


def sign_detached(payload: bytes, chain: Sequence[x509.Certificate], sign_digest: DigestSigner) -> str:
    """A detached compact JWS over ``payload``; ``sign_digest`` is called exactly once."""
    return sign_detached_stream([payload], chain, sign_digest)


def sign_detached_stream(
    payload_chunks: Iterable[bytes], chain: Sequence[x509.Certificate], sign_digest: DigestSigner
) -> str:
    """:func:`sign_detached` over a payload given in pieces, so that a huge batch is never held in memory whole."""
    protected = _header(chain)
    digest = hashlib.sha256(f"{protected}.".encode("ascii"))
    pending = b""
    for chunk in payload_chunks:
        pending += chunk
        whole = len(pending) - len(pending) % 3  # base64 of every 3 bytes stands alone
        digest.update(b64url(pending[:whole]).encode("ascii"))
        pending = pending[whole:]
    digest.update(b64url(pending).encode("ascii"))
    return f"{protected}..{b64url(_raw_from_der(sign_digest(digest.digest())))}"


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


def software_signer(key: ec.EllipticCurvePrivateKey) -> DigestSigner:
    """A digest signer backed by a key in memory (the center's receipt key, test keys)."""
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

    return lambda digest: key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))


def sign_compact(payload: bytes, chain: Sequence[x509.Certificate], sign_digest: DigestSigner) -> str:
    """An attached compact JWS (the center's receipts)."""
    protected, _, signature = sign_detached(payload, chain, sign_digest).partition("..")
    return f"{protected}.{b64url(payload)}.{signature}"


def _verify(protected: str, payload: bytes, signature: str) -> list[x509.Certificate]:
    try:
        header = json.loads(b64url_decode(protected))
        if header.get("alg") != "ES256":
            raise SignatureError(f"unsupported JWS algorithm {header.get('alg')!r}")
        chain = [x509.load_der_x509_certificate(base64.b64decode(c)) for c in header["x5c"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise SignatureError("malformed JWS header") from exc
    if not chain:
        raise SignatureError("the JWS carries no certificate")
    key = chain[0].public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise SignatureError("the signing certificate is not an ECC P-256 certificate")
    try:
        key.verify(
            _der_from_raw(b64url_decode(signature)), _signing_input(protected, payload), ec.ECDSA(hashes.SHA256())
        )
    except InvalidSignature as exc:
        raise SignatureError("the signature does not match the signed content") from exc
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


def check_issued_by(cert: x509.Certificate, ca: x509.Certificate, now: dt.datetime | None = None) -> None:
    """Raise unless ``cert`` was signed by ``ca`` and both are inside their validity period."""
    now = now or dt.datetime.now(dt.UTC)
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature) as exc:
        raise SignatureError("the certificate was not issued by the center's authority") from exc
    for c in (cert, ca):
        if not c.not_valid_before_utc <= now <= c.not_valid_after_utc:
            raise SignatureError(f"certificate {c.subject.rfc4514_string()} is outside its validity period")


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
# Unattended requests (sending already-signed batches, pulling updates) are made by the agent's own device key, not
# the card: each request carries ``Authorization: EPort-Device <compact JWS>`` over what it asks for. The JWS is
# short-lived and bound to the method, the path and the body, so it cannot be replayed for anything else.

DEVICE_SCHEME = "EPort-Device"
DEVICE_CLOCK_SKEW = 300  # seconds a device's clock may differ from the center's


def device_authorization(
    method: str,
    path: str,
    body: bytes,
    chain: Sequence[x509.Certificate],
    sign_digest: DigestSigner,
    now: float | None = None,
) -> str:
    claims = {"m": method.upper(), "p": path, "b": sha256_hex(body), "t": int(now if now is not None else time.time())}
    return f"{DEVICE_SCHEME} {sign_compact(canonical_json(claims), chain, sign_digest)}"


def verify_device_authorization(
    header: str, method: str, path: str, body: bytes, trusted_ca: x509.Certificate, now: float | None = None
) -> x509.Certificate:
    """The device certificate behind a request, if its authorization is good for exactly this request, now."""
    scheme, _, token = header.partition(" ")
    if scheme != DEVICE_SCHEME or not token:
        raise SignatureError("not a device authorization")
    claims, chain = _open_compact(token, trusted_ca)
    moment = now if now is not None else time.time()
    if claims.get("m") != method.upper() or claims.get("p") != path or claims.get("b") != sha256_hex(body):
        raise SignatureError("the device authorization is for another request")
    if not isinstance(claims.get("t"), int) or abs(moment - claims["t"]) > DEVICE_CLOCK_SKEW:
        raise SignatureError("the device authorization is too old or from the future (check the clock)")
    return chain[0]
