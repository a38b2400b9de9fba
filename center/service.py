"""The center's facade: what the CLI, the HTTP app and the agent's demo call. Plain data in, plain data out.

``receive_batch`` is the wire's batch for the center: authenticate the batch (detached JWS by an enrolled operator card
of our CA), answer a resent batch from its stored answer, otherwise apply each record on its own and store the
answer with a signed receipt, all in one transaction.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy.engine import Connection, Engine

from center import access, admin, authority, enrollment, feed, jobs, permissions, replay
from center import enterprises as enterprises_register
from center.batch_document import BatchHeader, check_age, parse_header, split_document
from center.ca import Authority, cert_serial_hex, certificate_pem
from center.db import (
    batches,
    is_retryable,
    open_engine,
    operators,
    reading,
    utcnow,
)
from center.jobs import seed_jobs
from center.keyring import FROM_ENVIRONMENT, FromEnvironment, Passphrase, passphrase_from
from center.ledger import forms as form_store
from center.ledger.issuance import DECLARATION_COUNTER, allocate, require_enterprise, seed_counters
from center.ports import (
    import_ports,
    list_ports,
    load_ports,
    parse_port_table,
    resolve_port,
    search_ports,
)
from center.records import ACCESS_KIND, Answer, BatchContext, apply_batch, check_kind
from center.refusals import Refusal
from sync.access import LEGAL_PERSON_ROLE, OPERATOR_ROLE
from sync.algorithms import ES256, PublicKey
from sync.enroll import (
    OPERATOR_KIND,
    CodeError,
    ca_fingerprint,
    enrollment_answer,
    format_code,
    open_enrollment_request,
    read_check_request,
)
from sync.protocol import (
    DeviceAuthorization,
    SignatureError,
    canonical_json,
    receipt_claims,
    sha256_hex,
    sign_compact,
    verify_detached,
)

T = TypeVar("T")


@dataclass(frozen=True)
class Received:
    """A batch's answer as stored (JSON text, sent as it is); ``replayed`` when it is the stored answer of a batch
    id seen before (nothing applied), ``applied`` the answer just made (None when replayed)."""

    kind: str
    text: str
    replayed: bool
    applied: dict[str, Any] | None = None

    @property
    def answer(self) -> dict[str, Any]:
        if self.applied is not None:
            return self.applied
        answer: dict[str, Any] = json.loads(self.text)
        return answer


# A PostgreSQL deadlock or serialization failure rolls the whole transaction back; it is simply run again.
RETRIES = 5


class Center:
    """The data center over one database."""

    def __init__(self, engine: Engine, authority: Authority, clock: Callable[[], dt.datetime] = utcnow) -> None:
        self._engine = engine
        self._authority = authority
        self._clock = clock
        self._nonces_purged_at = 0.0  # real time (seconds) this process last purged old nonces (center.replay)

    @classmethod
    def open(
        cls,
        url_or_path: str,
        clock: Callable[[], dt.datetime] = utcnow,
        *,
        key_passphrase: Passphrase | FromEnvironment | None = FROM_ENVIRONMENT,
        algorithm: str = ES256,
    ) -> Center:
        """Open (and on first use create) the center's database: schema, CA and receipt keys, ports, counters.

        ``clock`` tells the time of every change (tests and the simulator's tests move it on). ``key_passphrase``
        opens the encrypted private keys (``center.keyring``), and encrypts them if they lie unencrypted; by default
        it is the one the environment gives, if any (every ``eport-center`` command alike). ``algorithm`` (ES256
        or SM2SM3) is the CA's when this makes a new one; a center keeps the algorithm it was made with.
        """
        passphrase = passphrase_from() if isinstance(key_passphrase, FromEnvironment) else key_passphrase
        engine = open_engine(url_or_path)
        try:
            with engine.begin() as conn:
                authority = Authority.ensure(conn, passphrase, algorithm)
                load_ports(conn)
                seed_counters(conn)
                seed_jobs(conn)
                permissions.seed(conn, clock())
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, authority, clock)

    def unlock_keys(self) -> None:
        """Open the CA and receipt keys now; raises ``center.keyring.KeyringError`` (a ValueError) if they are
        encrypted and the passphrase is missing or wrong."""
        self._authority.unlock()

    @property
    def keys_loaded(self) -> bool:
        """Whether this process holds both private keys, opened."""
        return self._authority.keys_loaded

    @property
    def keys_encrypted(self) -> bool:
        """Whether both private keys lie encrypted in the database."""
        return self._authority.keys_encrypted

    def change_key_passphrase(self, new: Passphrase) -> None:
        """Encrypt both private keys under a new passphrase (the one this center was opened with opens them)."""
        self._write(lambda conn, now: self._authority.reseal(conn, new))

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

    def now(self) -> dt.datetime:
        """The center's time: its clock's (tests and the simulator's tests move it on)."""
        return self._clock()

    def _write(self, work: Callable[[Connection, dt.datetime], T]) -> T:
        """Run ``work`` in one write transaction, again if PostgreSQL rolled it back for a deadlock."""
        for attempt in range(RETRIES):
            try:
                with self._engine.begin() as conn:
                    return work(conn, self._clock())
            except sa.exc.DBAPIError as exc:
                if attempt == RETRIES - 1 or not is_retryable(exc):
                    raise
        raise AssertionError("unreachable")

    def _write_answer(self, work: Callable[[Connection, dt.datetime], T | Refusal]) -> T:
        """``work`` in one write transaction, where a Refusal it returns (rather than raises) is raised after the
        commit: what the access gate removed on the way stays removed. Run once more after a unique-key clash (only
        on PostgreSQL: the same request arrived twice at once, and the other copy's answer is there now)."""
        try:
            outcome = self._write(work)
        except sa.exc.IntegrityError:
            outcome = self._write(work)
        if isinstance(outcome, Refusal):
            raise outcome
        return outcome

    def _read(self, work: Callable[[Connection], T]) -> T:
        with reading(self._engine) as conn, conn.begin():
            return work(conn)

    # Reference data and the authority.

    def ca_certificate(self) -> x509.Certificate:
        return self._authority.ca_certificate

    @property
    def algorithm(self) -> str:
        """ES256 or SM2SM3: the center's CA, receipts, and the keys it certifies and accepts."""
        return self._authority.algorithm

    def ca_certificate_pem(self) -> str:
        return certificate_pem(self._authority.ca_certificate)

    def ports(self) -> list[dict[str, str]]:
        return self._read(list_ports)

    def search_ports(self, text: str) -> list[dict[str, str]]:
        """The pick-list for a part of a port's name or code (the manual's fuzzy input)."""
        return self._read(lambda conn: search_ports(conn, text))

    def port(self, code_or_name: str) -> dict[str, str] | None:
        """The port with this code or exact name."""

        def find(conn: Connection) -> dict[str, str] | None:
            code = resolve_port(conn, code_or_name)
            return next((p for p in list_ports(conn) if p["code"] == code), None) if code else None

        return self._read(find)

    def import_ports(self, csv_text: str) -> dict[str, int]:
        """Add and rename ports from a CSV table (``code,name``), all or nothing."""
        rows = parse_port_table(csv_text)
        return self._write(lambda conn, now: import_ports(conn, rows))

    # Administration.

    def create_enterprise(self, code: str, name: str, org_code: str | None = None) -> bool:
        """Register an enterprise (with its 组织机构代码, GB 11714); True if created, False if it already exists
        with this name (safe to re-run). The same code under another name is refused (ENTERPRISE_EXISTS) rather
        than silently renamed."""
        return self._write(lambda conn, now: enterprises_register.create(conn, now, code, name, org_code))

    def enroll_operator(
        self,
        enterprise_code: str,
        public_key: PublicKey,
        name: str,
        card_serial: str | None = None,
        days: int = 365,
        role: str = OPERATOR_ROLE,
        fx_days: int | None = None,
    ) -> x509.Certificate:
        """Issue a certificate valid ``days`` for an operator card's key and enroll it.

        ``role`` is ``legal-person`` for the enterprise's legal-person card (法人卡), which requests permissions for
        the operator cards. The card's 出口收汇 permission is its own (rule 11): a new card has none until SAFE
        approves the legal-person card's request or sets it; ``fx_days`` is SAFE's grant taken at once (set-ups,
        demos, tests).
        """
        return self._write(
            lambda conn, now: enrollment.enroll_operator(
                conn, self._authority, enterprise_code, public_key, name, card_serial, days, role, fx_days
            )
        )

    def enroll_device(self, enterprise_code: str, public_key: PublicKey, name: str) -> x509.Certificate:
        """Certify an agent's own key for unattended requests of this enterprise (never business signatures)."""
        return self._write(
            lambda conn, now: enrollment.enroll_device(conn, self._authority, enterprise_code, public_key, name)
        )

    def invite(
        self,
        kind: str,
        enterprise: str,
        name: str | None = None,
        role: str = OPERATOR_ROLE,
        days: int = 365,
        valid_hours: int = enrollment.DEFAULT_VALID_HOURS,
    ) -> dict[str, Any]:
        """A one-time enrollment code (sync.enroll) for an operator card (``kind`` operator) or an agent PC
        (``device``): shown this once, with the CA fingerprint the agent pins by."""
        secret, invitation = self._write(
            lambda conn, now: enrollment.invite(conn, now, kind, enterprise, name, role, days, valid_hours)
        )
        return {"code": format_code(secret, ca_fingerprint(self.ca_certificate())), **invitation.as_json()}

    def check_enrollment(self, body: bytes) -> dict[str, Any]:
        """``POST /api/v1/enroll/check``: what a code would enroll, if it can be used now (nothing changes), and the
        algorithm of the key the center wants made for it (its own: ES256 or SM2SM3)."""
        try:
            kind, secret = read_check_request(body)
        except CodeError as exc:
            raise Refusal("ENROLLMENT_REQUEST_INVALID", detail=str(exc)) from None
        terms = self._read(lambda conn: enrollment.check(conn, self._clock(), secret, kind)).as_json()
        return {**terms, "algorithm": self._authority.algorithm}

    def enroll(self, body: bytes) -> dict[str, Any]:
        """``POST /api/v1/enroll``: a certificate for the key that signed the request, if its code is good."""
        try:
            request = open_enrollment_request(body)
        except SignatureError as exc:
            raise Refusal("ENROLLMENT_REQUEST_INVALID", detail=str(exc)) from None

        def work(conn: Connection, now: dt.datetime) -> tuple[str, x509.Certificate]:
            terms = enrollment.redeem(conn, now, request.secret, request.kind)
            if terms.kind == OPERATOR_KIND:
                name = terms.name or ""
                cert = enrollment.enroll_operator(
                    conn,
                    self._authority,
                    terms.enterprise,
                    request.public_key,
                    name,
                    request.card_serial,
                    terms.days,
                    terms.role,
                )
            else:
                name = terms.name or request.name or ""
                cert = enrollment.enroll_device(conn, self._authority, terms.enterprise, request.public_key, name)
            enrollment.record(conn, request.secret, cert)
            return terms.enterprise, cert

        enterprise, cert = self._write(work)
        return enrollment_answer(request.kind, enterprise, cert, [self.ca_certificate()])

    def issue_tls_certificate(self, hosts: list[str]) -> tuple[str, str]:
        """PEM key and certificate for serving TLS under ``hosts``, issued by the CA agents pin."""
        key, cert = self._authority.issue_server_certificate(hosts)
        key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode("ascii")
        return key_pem, certificate_pem(cert) + self.ca_certificate_pem()

    def device_enterprise(self, cert: x509.Certificate) -> str:
        """The enterprise an enrolled device acts for; refuses unknown, revoked or expired devices."""
        return self._read(lambda conn: self._authority.verify_device(conn, cert, self._clock()))

    def authorize_device(self, authorization: DeviceAuthorization, seconds: float) -> str:
        """The enterprise of the enrolled device whose authorization (already checked against its request at
        ``seconds``, real time) this is, once: refuses unknown, revoked or expired devices, and an authorization
        presented before (``AUTH_REPLAYED``, center.replay). Old nonces are purged on the way, now and then."""
        purge = seconds - self._nonces_purged_at >= replay.PURGE_SECONDS

        def work(conn: Connection, now: dt.datetime) -> str:
            enterprise = self._authority.verify_device(conn, authorization.certificate, now)
            replay.spend(conn, cert_serial_hex(authorization.certificate), authorization)
            if purge:
                replay.purge(conn, replay.moment(seconds))
            return enterprise

        enterprise = self._write(work)
        if purge:
            self._nonces_purged_at = seconds
        return enterprise

    def updates(self, enterprise_code: str, after: int, limit: int) -> list[dict[str, Any]]:
        """The enterprise's form changes after ``after``, oldest first (the update feed)."""
        return self._read(lambda conn: feed.updates_after(conn, enterprise_code, after, limit))

    def revoke_operator(self, cert_serial: str) -> bool:
        """Revoke an operator card's certificate (by its hex serial); False if no such operator."""
        with self._engine.begin() as conn:
            done = conn.execute(
                sa.update(operators).where(operators.c.cert_serial == cert_serial.lower()).values(revoked=True)
            )
            return done.rowcount > 0

    def create_admin_token(self, name: str) -> str:
        """A new bearer token for the admin API; only its digest is stored, so this is the one time it is seen."""
        return self._write(lambda conn, now: admin.create_token(conn, name, now))

    def admin_token_name(self, token: str) -> str | None:
        return self._read(lambda conn: admin.token_name(conn, token))

    def form(self, form_no: str) -> dict[str, Any] | None:
        return self._read(lambda conn: form_store.find_form(conn, form_no))

    # Authority operations (SAFE and customs), docs/OPERATOR.md. Each returns plain data or raises a Refusal.

    def issue_forms(self, enterprise_code: str, copies: int) -> list[str]:
        """Issue forms directly, without an application (setting up an enterprise, demos)."""
        issued = self.safe_issue(enterprise=enterprise_code, copies=copies)
        return list(issued["forms"])

    def safe_approve(self, unified_no: str, copies: int | None = None) -> dict[str, Any]:
        return self._write(lambda conn, now: authority.approve(conn, unified_no, copies, now))

    def safe_issue(
        self, unified_no: str | None = None, enterprise: str | None = None, copies: int | None = None
    ) -> dict[str, Any]:
        return self._write(lambda conn, now: authority.issue(conn, now, unified_no, enterprise, copies))

    def safe_verify(self, form_no: str) -> dict[str, Any]:
        return self._write(lambda conn, now: authority.verify(conn, form_no, now))

    def safe_void(self, form_no: str) -> dict[str, Any]:
        return self._write(lambda conn, now: authority.void(conn, form_no, now))

    def safe_revoke_issuance(self, form_no: str) -> dict[str, Any]:
        return self._write(lambda conn, now: authority.revoke_issuance(conn, form_no, now))

    def customs_use(self, form_no: str, declaration_no: str, port: str, export_date: str) -> dict[str, Any]:
        return self._write(lambda conn, now: authority.use(conn, form_no, declaration_no, port, export_date, now))

    def customs_declare(
        self,
        declaration_no: str,
        form_no: str,
        export_date: str,
        port: str,
        trade_mode: str,
        amount: str,
        currency: str,
    ) -> dict[str, Any]:
        data = {
            "declaration_no": declaration_no,
            "form_no": form_no,
            "export_date": export_date,
            "port": port,
            "trade_mode": trade_mode,
            "amount": amount,
            "currency": currency,
        }
        return self._write(lambda conn, now: authority.declare(conn, data, now))

    def customs_modify(
        self,
        declaration_no: str,
        export_date: str | None = None,
        trade_mode: str | None = None,
        amount: str | None = None,
        currency: str | None = None,
    ) -> dict[str, Any]:
        changes = {"export_date": export_date, "trade_mode": trade_mode, "amount": amount, "currency": currency}
        return self._write(lambda conn, now: authority.modify(conn, declaration_no, changes, now))

    def new_declaration_no(self, port: str, day: dt.date) -> str:
        """Customs' numbering of an export declaration: port (4), year (4), 1 for export, serial (9) = 18 digits."""
        serial = self._write(lambda conn, now: allocate(conn, DECLARATION_COUNTER))
        return f"{port}{day.year:04d}1{serial % 1_000_000_000:09d}"

    def customs_confirm_cancel(self, form_no: str) -> dict[str, Any]:
        return self._write(lambda conn, now: authority.confirm_cancel(conn, form_no, now))

    def customs_refuse_cancel(self, form_no: str) -> dict[str, Any]:
        return self._write(lambda conn, now: authority.refuse_cancel(conn, form_no, now))

    # 17999 access accounts (rule 12, center.access) and card permissions (rule 11, center.permissions).

    def access_register(self, enterprise: str, account: str, type: str, months: int | None = None) -> dict[str, Any]:
        """The card issuer's registration (the telecom registers old annual cards when it sells them; set-ups and
        demos): no password and no online-state check."""

        def work(conn: Connection, now: dt.datetime) -> dict[str, Any]:
            require_enterprise(conn, enterprise)
            record = {"account": account, "type": type, "months": months}
            return access.register(conn, now, enterprise, record, arriving=None, issuer=True)

        return self._write_answer(work)

    def access_accounts(self, enterprise: str, arriving: str | None = None) -> dict[str, Any]:
        """帐号管理: the enterprise's accounts (lapsed ones removed first), its emergency authorisation, and whether
        its business is open. ``arriving``: the account the request arrived through (sync.access)."""

        def work(conn: Connection, now: dt.datetime) -> dict[str, Any]:
            access.note_arrival(conn, arriving, now)
            access.remove_lapsed(conn, now, enterprise)
            return access.overview(conn, now, enterprise)

        return self._write(work)

    def _access_arrival(self, enterprise: str, arriving: str | None) -> None:
        """Before an access operation that may be refused: the arrival and the removals are committed either way."""

        def work(conn: Connection, now: dt.datetime) -> None:
            access.note_arrival(conn, arriving, now)
            access.remove_lapsed(conn, now, enterprise)

        self._write(work)

    def access_account(self, enterprise: str, account: str, arriving: str | None = None) -> dict[str, Any]:
        self._access_arrival(enterprise, arriving)
        return self._read(lambda conn: access.show(conn, self._clock(), enterprise, account))

    def register_access(self, enterprise: str, record: dict[str, Any], arriving: str | None) -> dict[str, Any]:
        """注册卡号 by the enterprise: the password and online-state rules of the account's type apply."""
        self._access_arrival(enterprise, arriving)
        return self._write_answer(lambda conn, now: access.register(conn, now, enterprise, record, arriving))

    def delete_access(self, enterprise: str, account: str, arriving: str | None = None) -> dict[str, Any]:
        self._access_arrival(enterprise, arriving)
        return self._write(lambda conn, now: access.delete(conn, now, enterprise, account))

    def access_sweep(self) -> dict[str, int]:
        """Remove every enterprise's lapsed accounts now (``eport-center access sweep``; requests also do it for
        their own)."""
        return {"removed": self._write(lambda conn, now: access.remove_lapsed(conn, now).removed)}

    def scheduled_access_sweep(self, every: float) -> dict[str, int] | None:
        """The periodic sweep of a running center: done unless some process of this center (on this database) did it
        within the last ``every`` seconds, less a tenth for the timers' jitter; never two at once. None if skipped."""

        def work(conn: Connection, now: dt.datetime) -> dict[str, int] | None:
            if not jobs.claim(conn, jobs.ACCESS_SWEEP, now, dt.timedelta(seconds=every * 0.9)):
                return None
            return {"removed": access.remove_lapsed(conn, now).removed}

        return self._write(work)

    def access_grant_emergency(
        self,
        enterprise: str | None = None,
        hours: int | None = None,
        reason: str | None = None,
        org_code: str | None = None,
    ) -> dict[str, Any]:
        """紧急授权 (FAQ (七)) for the enterprise the fax names: by its code or its 组织机构代码."""

        def work(conn: Connection, now: dt.datetime) -> dict[str, Any]:
            return access.grant_emergency(
                conn, now, enterprises_register.named(conn, enterprise, org_code), hours, reason
            )

        return self._write(work)

    def access_end_emergency(self, enterprise: str) -> dict[str, Any]:
        return self._write(lambda conn, now: access.end_emergency(conn, now, enterprise))

    def access_record_usage(self, account: str, hours: str) -> dict[str, Any]:
        return self._write(lambda conn, now: access.record_usage(conn, now, account, hours))

    def request_permission(self, document: Any) -> dict[str, Any]:
        """An extension request signed by the legal-person card (the 企业管理 subsystem: behind the 17999 gate)."""
        payload, signature = split_document(document)
        try:
            chain = verify_detached(signature, canonical_json(payload))
        except SignatureError:
            raise Refusal("SIGNATURE_INVALID") from None
        request = permissions.PermissionPayload.parse(payload)

        def work(conn: Connection, now: dt.datetime) -> dict[str, Any] | Refusal:
            requester = self._authority.verify_operator(conn, chain, now)
            closed = access.gate(conn, now, requester.enterprise_code)
            return closed if closed is not None else permissions.request(conn, now, requester, request)

        return self._write_answer(work)

    def permission_requests(self, enterprise: str) -> dict[str, Any]:
        """The enterprise's extension requests, its cards with their 出口收汇 permission (an agent says it before
        anything is dropped), and the enterprise (its name and 组织机构代码)."""

        def read(conn: Connection) -> dict[str, Any]:
            return {
                "requests": permissions.requests(conn, enterprise),
                "cards": permissions.cards(conn, self._clock(), enterprise),
                "enterprise": enterprises_register.facts(conn, enterprise),
            }

        return self._read(read)

    def safe_approve_permission(self, request_no: int, level: int) -> dict[str, Any]:
        return self._write(lambda conn, now: permissions.approve(conn, now, request_no, level))

    def safe_set_permission(
        self, card: str, until: str | None = None, days: int | None = None, enterprise: str | None = None
    ) -> dict[str, Any]:
        """SAFE sets a card's 出口收汇 permission: through ``until``, or for ``days`` from today."""
        return self._write(lambda conn, now: permissions.safe_set(conn, now, card, until, days, enterprise))

    def safe_end_permission(self, card: str, enterprise: str | None = None) -> dict[str, Any]:
        """SAFE ends a card's 出口收汇 permission today."""
        return self._write(lambda conn, now: permissions.safe_end(conn, now, card, enterprise))

    # The wire.

    def receive_batch(self, document: Any) -> dict[str, Any]:
        """Authenticate and apply one signed batch; returns the answer (the stored one if the batch was seen)."""
        return self.receive(document).answer

    def receive(self, document: Any) -> Received:
        """:meth:`receive_batch`, and whether the answer was the stored one of a batch seen before."""
        payload, signature = split_document(document)
        signed = canonical_json(payload)
        try:
            chain = verify_detached(signature, signed)
        except SignatureError:
            raise Refusal("SIGNATURE_INVALID") from None
        header = parse_header(payload)
        batch_sha256 = sha256_hex(signed)
        return self._write_answer(lambda conn, now: self._apply_batch(conn, now, chain, payload, header, batch_sha256))

    def _apply_batch(
        self,
        conn: Connection,
        now: dt.datetime,
        chain: list[x509.Certificate],
        payload: dict[str, Any],
        header: BatchHeader,
        batch_sha256: str,
    ) -> Received | Refusal:
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
            return Received(header.kind, stored.answer, replayed=True)
        # The legal-person card requests permissions and does no business (docs/SECURITY.md, Decisions).
        if operator.role == LEGAL_PERSON_ROLE:
            raise Refusal("LEGAL_PERSON_CARD_NO_BUSINESS")
        check_age(header.created_at, now)
        # The two gates before business (rules 12 and 11); the 17999 registration subsystem is open before both.
        if header.kind != ACCESS_KIND:
            closed = access.gate(conn, now, header.enterprise)
            if closed is not None:
                return closed
            permissions.check(conn, operator, now)
        check_kind(header.kind, header.records)
        applied = apply_batch(BatchContext(conn, header.enterprise, now), header.kind, header.records)
        answer = {"batch_id": header.batch_id, "results": applied.results}
        if applied.rows is not None:
            answer["rows"] = applied.rows
        answer["receipt"] = self._receipt(payload, header, applied, now)
        text = json.dumps(answer, ensure_ascii=False)
        conn.execute(
            sa.insert(batches).values(
                enterprise_code=header.enterprise,
                batch_id=header.batch_id,
                kind=header.kind,
                payload_sha256=batch_sha256,
                answer=text,
                received_at=now,
            )
        )
        return Received(header.kind, text, replayed=False, applied=answer)

    def _receipt(self, payload: dict[str, Any], header: BatchHeader, applied: Answer, now: dt.datetime) -> str:
        # The claims are defined once, in the shared wire module, and recomputed by the agent to check the answer.
        claims = receipt_claims(
            header.batch_id,
            header.enterprise,
            payload,
            applied.results,
            now.isoformat(timespec="seconds"),
            rows=applied.rows,
        )
        return sign_compact(canonical_json(claims), self._authority.receipt_chain, self._authority.receipt_signer)
