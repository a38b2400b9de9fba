"""The center's facade: what the CLI, the HTTP app and the agent's demo call. Plain data in, plain data out.

``receive_batch`` is DESIGN.md §6 for the center: authenticate the batch (detached JWS by an enrolled operator card
of our CA), answer a resent batch from its stored answer, otherwise apply each record on its own and store the
answer with a signed receipt, all in one transaction.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy.engine import Connection, Engine

from center.ca import Authority, cert_serial_hex, certificate_pem
from center.db import batches, business_date, enterprises, open_engine, operators, reading, utcnow
from center.ledger import (
    Outcome,
    check_enterprise_code,
    file_form,
    form_record,
    issue_forms,
    require_enterprise,
    seed_counters,
)
from center.ports import list_ports, load_ports
from center.refusals import Refusal
from sync.protocol import (
    PROTOCOL_VERSION,
    SignatureError,
    canonical_json,
    receipt_claims,
    sha256_hex,
    sign_compact,
    verify_detached,
)

BATCH_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
KIND_FILINGS = "filings"
SUPPORTED_KINDS = frozenset({KIND_FILINGS})


@dataclass(frozen=True)
class BatchHeader:
    """The parts of a batch payload that every kind has."""

    batch_id: str
    kind: str
    enterprise: str
    records: list[dict[str, Any]]


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
    if not _is_iso_datetime(payload.get("created_at")):
        raise _bad("'created_at' must be an ISO 8601 date-time")
    records = payload.get("records")
    if not isinstance(records, list) or not records:
        raise _bad("'records' must be a non-empty list")
    # Results are matched to records by seq (sync.protocol.verify_answer), so a record without its own integer
    # seq cannot be answered at all: that is the sender's bug, not the clerk's, and refuses the batch.
    if not all(isinstance(r, dict) and _is_int(r.get("seq")) for r in records):
        raise _bad("every record must be an object with an integer 'seq'")
    if len({r["seq"] for r in records}) != len(records):
        raise _bad("two records have the same 'seq'")
    return BatchHeader(batch_id, kind, enterprise, records)


def _is_iso_datetime(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        dt.datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _record_invalid(zh: str, en: str) -> Outcome:
    return Outcome.refused(Refusal("RECORD_INVALID", detail_zh=zh, detail_en=en))


def _apply_filing(conn: Connection, enterprise: str, record: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    form_no, port = record.get("form_no"), record.get("port")
    if not isinstance(form_no, str) or not form_no:
        outcome = _record_invalid("缺少核销单号 form_no", "'form_no' is missing")
    elif not isinstance(port, str) or not port.strip():
        outcome = _record_invalid("缺少口岸 port", "'port' is missing")
    else:
        outcome = file_form(conn, enterprise, form_no, port, now)
    return {
        "seq": record["seq"],
        "form_no": form_no if isinstance(form_no, str) else None,
        "status": "OK" if outcome.ok else "ERROR",
        "code": outcome.code,
        "message_zh": outcome.message_zh,
        "message_en": outcome.message_en,
    }


class Center:
    """The data center over one database."""

    def __init__(self, engine: Engine, authority: Authority) -> None:
        self._engine = engine
        self._authority = authority

    @classmethod
    def open(cls, url_or_path: str) -> Center:
        """Open (and on first use create) the center's database: schema, CA and receipt keys, ports."""
        engine = open_engine(url_or_path)
        try:
            with engine.begin() as conn:
                authority = Authority.ensure(conn)
                load_ports(conn)
                seed_counters(conn)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, authority)

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Center:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def engine(self) -> Engine:
        return self._engine

    # Reference data and the authority.

    def ca_certificate(self) -> x509.Certificate:
        return self._authority.ca_certificate

    def ca_certificate_pem(self) -> str:
        return certificate_pem(self._authority.ca_certificate)

    def ports(self) -> list[dict[str, str]]:
        with reading(self._engine) as conn, conn.begin():
            return list_ports(conn)

    # Administration.

    def create_enterprise(self, code: str, name: str) -> bool:
        """Register an enterprise; True if created, False if it already exists with this name (safe to re-run).

        The same code under another name is refused (ENTERPRISE_EXISTS) rather than silently renamed.
        """
        check_enterprise_code(code)
        name = name.strip()
        if not name:
            raise Refusal("NAME_REQUIRED", what_zh="企业名称", what_en="enterprise name")
        with self._engine.begin() as conn:
            existing = conn.scalar(sa.select(enterprises.c.name).where(enterprises.c.code == code))
            if existing is not None:
                if existing == name:
                    return False
                raise Refusal("ENTERPRISE_EXISTS", code=code, name=existing)
            conn.execute(sa.insert(enterprises).values(code=code, name=name, created_at=utcnow()))
        return True

    def enroll_operator(
        self,
        enterprise_code: str,
        public_key: ec.EllipticCurvePublicKey,
        name: str,
        card_serial: str | None = None,
        days: int = 365,
    ) -> x509.Certificate:
        """Issue a certificate for an operator card's key and enroll it; the FX permission runs as long."""
        name = name.strip()
        if not name:
            raise Refusal("NAME_REQUIRED", what_zh="操作员姓名", what_en="operator name")
        if days < 1:
            raise ValueError("days must be at least 1")
        with self._engine.begin() as conn:
            require_enterprise(conn, enterprise_code)
            cert = self._authority.issue_operator_certificate(public_key, enterprise_code, name, card_serial, days)
            conn.execute(
                sa.insert(operators).values(
                    cert_serial=cert_serial_hex(cert),
                    enterprise_code=enterprise_code,
                    name=name,
                    card_serial=card_serial or None,
                    certificate=certificate_pem(cert),
                    fx_permission_until=business_date(cert.not_valid_after_utc),
                    revoked=False,
                    created_at=utcnow(),
                )
            )
        return cert

    def revoke_operator(self, cert_serial: str) -> bool:
        """Revoke an operator card's certificate (by its hex serial); False if no such operator."""
        with self._engine.begin() as conn:
            done = conn.execute(
                sa.update(operators).where(operators.c.cert_serial == cert_serial.lower()).values(revoked=True)
            )
            return done.rowcount > 0

    def issue_forms(self, enterprise_code: str, copies: int) -> list[str]:
        with self._engine.begin() as conn:
            return issue_forms(conn, enterprise_code, copies)

    def form(self, form_no: str) -> dict[str, Any] | None:
        with reading(self._engine) as conn, conn.begin():
            return form_record(conn, form_no)

    # The wire.

    def receive_batch(self, document: Any) -> dict[str, Any]:
        """Authenticate and apply one signed batch; returns the answer (the stored one if the batch was seen)."""
        payload, signature = split_document(document)
        signed = canonical_json(payload)
        try:
            chain = verify_detached(signature, signed)
        except SignatureError:
            raise Refusal("SIGNATURE_INVALID") from None
        header = parse_header(payload)
        batch_sha256 = sha256_hex(signed)
        try:
            return self._apply_batch(chain, payload, header, batch_sha256)
        except sa.exc.IntegrityError:
            # PostgreSQL only: the same batch arrived twice at once and the other copy committed first. Its stored
            # answer is now there to be returned. (SQLite serialises writers, so this never happens there.)
            return self._apply_batch(chain, payload, header, batch_sha256)

    def _apply_batch(
        self, chain: list[x509.Certificate], payload: dict[str, Any], header: BatchHeader, batch_sha256: str
    ) -> dict[str, Any]:
        now = utcnow()
        with self._engine.begin() as conn:
            operator = self._authority.verify_operator(conn, chain, now)
            if header.enterprise != operator.enterprise_code:
                raise Refusal("ENTERPRISE_MISMATCH", enterprise=header.enterprise)
            stored = conn.execute(
                sa.select(batches.c.payload_sha256, batches.c.answer).where(
                    batches.c.enterprise_code == header.enterprise, batches.c.batch_id == header.batch_id
                )
            ).first()
            if stored is not None:
                if stored.payload_sha256 != batch_sha256:
                    raise Refusal("BATCH_ID_REUSED", batch_id=header.batch_id)
                answer: dict[str, Any] = json.loads(stored.answer)
                return answer
            if header.kind not in SUPPORTED_KINDS:
                raise Refusal("KIND_UNSUPPORTED", kind=header.kind)
            results = [_apply_filing(conn, header.enterprise, record, now) for record in header.records]
            answer = {
                "batch_id": header.batch_id,
                "results": results,
                "receipt": self._receipt(payload, header, results, now),
            }
            conn.execute(
                sa.insert(batches).values(
                    enterprise_code=header.enterprise,
                    batch_id=header.batch_id,
                    kind=header.kind,
                    payload_sha256=batch_sha256,
                    answer=json.dumps(answer, ensure_ascii=False),
                    received_at=now,
                )
            )
        return answer

    def _receipt(
        self, payload: dict[str, Any], header: BatchHeader, results: list[dict[str, Any]], now: dt.datetime
    ) -> str:
        # The claims are defined once, in the shared wire module, and recomputed by the agent to check the answer.
        claims = receipt_claims(header.batch_id, header.enterprise, payload, results, now.isoformat(timespec="seconds"))
        return sign_compact(canonical_json(claims), self._authority.receipt_chain, self._authority.receipt_signer)
