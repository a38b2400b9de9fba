"""Support shared by the tests: waiting for a condition with a deadline, running a command in process, a center
on loopback, and the center's test helpers and fixtures (loaded as a pytest plugin by tests/conftest.py). The
agent-side rigs are in tests/rigs.py, the PC/SC stack in tests/pcsc_support.py.

Operator cards are stood in for by software P-256 keys: the center only sees a certificate and an ES256 signature,
and the card path (PC/SC, PIV GENERAL AUTHENTICATE) is tested with the agent.

Every test that asks for ``db_url`` (and so ``center``, ``client``, ``desk``) runs on SQLite and, when
``EPORT_TEST_POSTGRES_URL`` names a PostgreSQL database, on PostgreSQL too (``scripts/test.sh`` starts a throwaway
cluster and sets it). Each PostgreSQL test gets a schema of its own. A test file may override ``center`` to set up
more.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import io
import itertools
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from center import db
from center.app import create_app
from center.cli import main as center_main
from center.service import Center
from sync.access import ACCOUNT_SUFFIX, LEGAL_PERSON_ROLE
from sync.algorithms import ES256, PrivateKey, generate_private_key
from sync.protocol import (
    API_BATCHES,
    PROTOCOL_VERSION,
    batch_document,
    canonical_json,
    sign_detached,
    software_signer,
    verify_answer,
)

ENTERPRISE = "3301960001"
OTHER_ENTERPRISE = "4403960002"

POSTGRES_URL = os.environ.get("EPORT_TEST_POSTGRES_URL", "")
# Locally the PostgreSQL variant is skipped without a server; in CI (CI=true) a missing server is a failure.
BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param(
        "postgresql",
        id="postgresql",
        marks=pytest.mark.skipif(
            not POSTGRES_URL and not os.environ.get("CI"),
            reason="EPORT_TEST_POSTGRES_URL is not set (scripts/test.sh starts a PostgreSQL and sets it)",
        ),
    ),
]

Client = TestClient[Any, Any]


# Waiting: for a condition, with a deadline. ``what`` says what did not happen ("b was not answered"): the error reads
# "b was not answered within 10 s". A test that must show that something does NOT happen says so where it waits.


def wait_until(condition: Callable[[], object], timeout: float, what: str, interval: float = 0.02) -> float:
    """Poll ``condition`` in this thread until it holds; the seconds that took."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"{what} within {timeout} s")
        time.sleep(interval)
    return time.monotonic() - start


async def eventually(condition: Callable[[], object], timeout: float, what: str, interval: float = 0.02) -> float:
    """Poll ``condition`` on the event loop (which goes on running meanwhile) until it holds; the seconds that took."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"{what} within {timeout} s")
        await asyncio.sleep(interval)
    return time.monotonic() - start


async def wait_for(path: Path, timeout: float = 10) -> Path:
    """``path`` once it exists."""
    await eventually(path.exists, timeout, f"{path} did not appear")
    return path


def race(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls in threads released at the same moment; their results (or exceptions) in call order (two
    processes of the center racing, as two Center instances on one database)."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            results[index] = call()
        except Exception as exc:  # reported in the assertion, not lost in the thread
            results[index] = exc

    threads = [threading.Thread(target=run, args=pair) for pair in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


# Commands, in process.


class Ran(NamedTuple):
    """What a command did: its exit status, standard output and standard error."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        """Its standard output read as JSON (None when it printed nothing)."""
        return json.loads(self.out) if self.out.strip() else None


def run_cli(main: Callable[[list[str]], int], *argv: str, stdin: str = "") -> Ran:
    """Run a command's ``main(argv)`` in this process with ``stdin`` as its standard input. It may block (on the
    control channel, the card, a center on this event loop): call it off the event loop there."""
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(argv))
    finally:
        sys.stdin = saved
    return Ran(code, out.getvalue(), err.getvalue())


def center_cli(db_url: str, *argv: str) -> tuple[int, Any, str]:
    """``eport-center ARGV --db DB_URL --json``: its exit status, its JSON answer (None if none) and its error text."""
    ran = run_cli(center_main, *argv, "--db", db_url, "--json")
    return ran.code, ran.json(), ran.err


# A center on loopback.


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on just now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def serve(center: Center, port: int, *middlewares: Any) -> web.AppRunner:
    """The center's HTTP application on 127.0.0.1:``port`` (``middlewares`` run after its own), on this event loop;
    stop it with ``await runner.cleanup()``."""
    app = create_app(center)
    app.middlewares.extend(middlewares)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


@asynccontextmanager
async def loopback_client(center: Center, **app_options: Any) -> AsyncIterator[Client]:
    """An HTTP client of the center's application (``create_app`` options) served on a loopback port of its own."""
    async with TestClient(TestServer(create_app(center, **app_options), host="127.0.0.1")) as client:
        yield client


@dataclass
class CenterProcess:
    """``eport-center serve`` in a process of its own (see :func:`center_process`); its logs (JSON lines) in ``log``."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path
    tls: ssl.SSLContext | None = None  # trusting the center's CA, when it serves TLS

    def get(self, path: str, timeout: float = 10) -> tuple[int, bytes]:
        """Status and body of ``GET path``, on a new connection (so that any worker process may answer)."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=timeout, context=self.tls) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def health(self) -> dict[str, Any]:
        return dict(json.loads(self.get("/healthz")[1]))

    def log_lines(self) -> list[dict[str, Any]]:
        """The log so far, one JSON object a line (a line that is not JSON fails the test)."""
        return [json.loads(line) for line in self.log.read_text(encoding="utf-8").splitlines() if line.strip()]

    def stop(self) -> int:
        """SIGTERM, as a service manager stops it; its exit status."""
        if self.process.poll() is None:
            self.process.terminate()
        return self.process.wait(timeout=60)


@contextmanager
def center_process(
    db_url: str, log: Path, *flags: str, env: dict[str, str] | None = None, ca: x509.Certificate | None = None
) -> Iterator[CenterProcess]:
    """``eport-center serve --db DB_URL FLAGS`` on a free loopback port, once every one of its processes (``--workers
    N``) answers ``/healthz``; stopped afterwards. ``env`` is its whole environment (default: this one's); ``ca`` the
    CA to trust when the flags give it a TLS certificate."""
    port = free_port()
    command = [sys.executable, "-m", "center.cli", "serve", "--db", db_url, "--port", str(port), *flags]
    workers = int(flags[flags.index("--workers") + 1]) if "--workers" in flags else 1
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    tls = None
    if ca is not None:
        tls = ssl.create_default_context(cadata=ca.public_bytes(serialization.Encoding.PEM).decode("ascii"))
    served = CenterProcess(f"{'https' if tls else 'http'}://127.0.0.1:{port}", process, log, tls)
    answered: set[int] = set()

    def all_up() -> bool:
        assert process.poll() is None, f"the center stopped: {log.read_text(encoding='utf-8')}"
        with contextlib.suppress(OSError, ValueError):
            health = served.health()
            if health["status"] == "ok":
                answered.add(health["pid"])
        return len(answered) >= workers

    try:
        wait_until(all_up, 60, f"{workers} center process(es) did not answer /healthz")
        yield served
    finally:
        served.stop()


@contextmanager
def center_database(backend: str, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty center database of ``backend``: its URL (or SQLite path), removed afterwards."""
    if backend == "sqlite":
        yield str(tmp_path / "center.db")
        return
    assert POSTGRES_URL, "EPORT_TEST_POSTGRES_URL must name a PostgreSQL database in CI"
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = sa.create_engine(db.database_url(POSTGRES_URL))
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        url = sa.make_url(db.database_url(POSTGRES_URL)).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
    finally:
        admin.dispose()


@dataclass
class Card:
    """An operator 'card': a key (P-256 or SM2) and the certificate the center issued for it."""

    key: PrivateKey
    certificate: x509.Certificate
    enterprise: str

    def sign(self, payload: dict[str, Any], chain_tail: list[x509.Certificate] | None = None) -> dict[str, Any]:
        signature = sign_detached(
            canonical_json(payload), [self.certificate, *(chain_tail or [])], software_signer(self.key)
        )
        return batch_document(payload, signature)


def open_access(center: Center, enterprise: str = ENTERPRISE) -> str:
    """Register a 17999 leased-line account for the enterprise, as its issuer would, so that its business is open
    (rule 12 in docs/OPERATOR.md); returns the account."""
    account = f"{enterprise.lower()}{ACCOUNT_SUFFIX}"
    center.access_register(enterprise, account, "leased-line")
    return account


NAMES = {ENTERPRISE: "杭州测试进出口有限公司", OTHER_ENTERPRISE: "深圳另一家贸易有限公司"}


def open_center(
    location: Path | str,
    enterprises: Iterable[str] = (ENTERPRISE, OTHER_ENTERPRISE),
    *,
    access: bool = True,
    clock: Callable[[], dt.datetime] | None = None,
    algorithm: str = ES256,
) -> Center:
    """A center with the test enterprises, each with a valid 17999 account unless ``access`` is False; a folder
    means a SQLite file in it, a string a database URL/path. ``clock`` tells the center's time (default: real);
    ``algorithm`` is a new center's (ES256, or SM2SM3 for a 国密 center)."""
    url = str(location / "center.db") if isinstance(location, Path) else location
    center = Center.open(url, algorithm=algorithm) if clock is None else Center.open(url, clock, algorithm=algorithm)
    for code in enterprises:
        center.create_enterprise(code, NAMES.get(code, f"测试企业{code}"))
        if access:
            open_access(center, code)
    return center


def enroll(
    center: Center,
    enterprise: str = ENTERPRISE,
    name: str = "张三",
    days: int = 365,
    algorithm: str | None = None,
    *,
    fx_days: int | None = 365,
    card_serial: str = "CARD-0001",
) -> Card:
    """A software 'card' of the center's algorithm (or ``algorithm``), certified by the center for ``days``, with
    the 出口收汇 permission SAFE grants at once for ``fx_days`` (None: a new card without it, FAQ 3 (2))."""
    key = generate_private_key(algorithm or center.algorithm)
    cert = center.enroll_operator(
        enterprise, key.public_key(), name, card_serial=card_serial, days=days, fx_days=fx_days
    )
    return Card(key, cert, enterprise)


def legal_person(center: Center, enterprise: str = ENTERPRISE, serial: str = "LP-0001") -> Card:
    """The enterprise's legal-person card (法人卡), which requests IC card permissions (a software key, like
    :func:`enroll`'s)."""
    key = generate_private_key(center.algorithm)
    cert = center.enroll_operator(enterprise, key.public_key(), "法定代表人", serial, 3650, LEGAL_PERSON_ROLE)
    return Card(key, cert, enterprise)


_requests = itertools.count(1)


def permission_request(card: Card, target: str, enterprise: str | None = None) -> dict[str, Any]:
    """A permission request for the card ``target``, signed by ``card`` (the legal-person card, as the manual's
    数据备案/备案变更 → IC卡权限 → 外汇 → 暂存 → 申报)."""
    payload = {
        "v": PROTOCOL_VERSION,
        "request_id": f"r{next(_requests)}-{uuid.uuid4().hex[:8]}",
        "enterprise": enterprise or card.enterprise,
        "card": target,
        "created_at": "2024-05-06T09:30:00+08:00",
    }
    return card.sign(payload)


def approve_at_three_levels(center: Center, request: dict[str, Any]) -> dict[str, Any]:
    """SAFE approves a permission request at its three levels, in order."""
    approved = request
    for level in (1, 2, 3):
        approved = center.safe_approve_permission(request["request_no"], level)
    return approved


def filing_payload(
    batch_id: str,
    records: list[Any],
    enterprise: str = ENTERPRISE,
    kind: str = "filings",
    created_at: dt.datetime | None = None,
) -> dict[str, Any]:
    """A batch payload made ``created_at`` (default: now; a center whose clock a test moves on takes batches made
    within 30 days of its own time: give it ``center.now()``)."""
    made = created_at if created_at is not None else dt.datetime.now(dt.UTC)
    return {
        "v": 1,
        "batch_id": batch_id,
        "kind": kind,
        "enterprise": enterprise,
        "created_at": made.astimezone(db.CHINA_TZ).isoformat(timespec="seconds"),
        "records": records,
    }


def filings(*pairs: tuple[str, str]) -> list[dict[str, Any]]:
    """Records from (form_no, port) pairs, numbered from 1."""
    return [{"seq": i, "form_no": form_no, "port": port} for i, (form_no, port) in enumerate(pairs, start=1)]


def set_form(center: Center, form_no: str, **values: Any) -> None:
    """Put a form into a state that the authority operations (later work) would produce."""
    with center.engine.begin() as conn:
        conn.execute(sa.update(db.forms).where(db.forms.c.form_no == form_no).values(**values))


def count_batches(center: Center) -> int:
    with center.engine.connect() as conn:
        return int(conn.scalar(sa.select(sa.func.count()).select_from(db.batches)) or 0)


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


class Clock:
    """A center's clock that a test moves on (``Center.open(url, clock=clock)``); it starts now."""

    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


def stored_ca_key(center: Center) -> ec.EllipticCurvePrivateKey:
    """The CA's private key, read straight from the database (to make certificates the API would not issue)."""
    with center.engine.connect() as conn:
        pem = conn.scalar(sa.select(db.keys.c.private_key).where(db.keys.c.name == "ca"))
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def make_certificate(
    public_key: ec.EllipticCurvePublicKey,
    issuer: x509.Name,
    signing_key: ec.EllipticCurvePrivateKey,
    not_before: dt.datetime,
    not_after: dt.datetime,
    enterprise: str = ENTERPRISE,
) -> x509.Certificate:
    subject = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, "李四"), x509.NameAttribute(NameOID.ORGANIZATION_NAME, enterprise)]
    )
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .sign(signing_key, hashes.SHA256())
    )


_batch_ids = itertools.count(1)


@dataclass
class Desk:
    """A clerk of one enterprise at the agent: an operator card and the HTTP client of a center on loopback.

    Every answer is checked the way the agent checks it (signed receipt, one result per record and per form).
    """

    center: Center
    client: Client
    card: Card
    sent: list[dict[str, Any]] = field(default_factory=list)
    # When each batch id was made: a batch id sent again is the same batch, made when it was first, as an agent
    # resends it (a new time would make it another content under the same id).
    made: dict[str, dt.datetime] = field(default_factory=dict)

    async def send(self, kind: str, records: list[dict[str, Any]], batch_id: str | None = None) -> dict[str, Any]:
        numbered = [{"seq": i, **r} if "seq" not in r else r for i, r in enumerate(records, start=1)]
        name = batch_id or f"b{next(_batch_ids)}"
        payload = filing_payload(
            name, numbered, self.card.enterprise, kind, self.made.setdefault(name, self.center.now())
        )
        response = await self.client.post(API_BATCHES, json=self.card.sign(payload))
        answer: dict[str, Any] = await response.json()
        assert response.status == 200, answer
        verify_answer(answer, payload, self.center.ca_certificate())
        return answer

    async def one(self, kind: str, **record: Any) -> dict[str, Any]:
        """The one result of a one-record, one-form batch."""
        [result] = (await self.send(kind, [record]))["results"]
        return dict(result)

    async def query(self, *conditions: tuple[str, str, str, str]) -> dict[str, Any]:
        records = [{"business": b, "attribute": a, "op": o, "value": v} for b, a, o, v in conditions]
        return await self.send("queries", records)


def codes(answer: dict[str, Any]) -> list[str]:
    return [r["code"] for r in answer["results"]]


def status(center: Center, form_no: str) -> tuple[str, str, str]:
    form = center.form(form_no)
    assert form is not None, form_no
    return form["safe_status"], form["customs_status"], form["submission_status"]


def use_form(center: Center, form_no: str, port: str = "5300", declare: bool = True) -> str:
    """Customs uses a filed form in a declaration at its port and (by default) sends the declaration's data."""
    declaration_no = center.new_declaration_no(port, dt.date(2024, 5, 6))
    center.customs_use(form_no, declaration_no, port, "2024-05-06")
    if declare:
        center.customs_declare(declaration_no, form_no, "2024-05-06", port, "一般贸易", "12345.60", "USD")
    return declaration_no


def events(center: Center, form_no: str | None = None) -> list[tuple[str, str, str, str, str]]:
    """The form_events feed in order: (form, event, safe, customs, submission)."""
    statement = sa.select(db.form_events).order_by(db.form_events.c.seq)
    if form_no is not None:
        statement = statement.where(db.form_events.c.form_no == form_no)
    with center.engine.connect() as conn:
        return [
            (r.form_no, r.event, r.safe_status, r.customs_status, r.submission_status) for r in conn.execute(statement)
        ]


# Fixtures.


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with center_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def center(db_url: str) -> Iterator[Center]:
    with open_center(db_url) as center:
        yield center


@pytest.fixture
async def client(center: Center) -> AsyncIterator[Client]:
    async with loopback_client(center) as client:
        yield client


@pytest.fixture
def desk(center: Center, client: Client) -> Desk:
    return Desk(center, client, enroll(center))


@pytest.fixture
def clock() -> Clock:
    """A clock the test moves by hand (validity periods, expiry)."""
    return Clock()
