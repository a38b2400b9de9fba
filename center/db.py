"""Storage: one SQLAlchemy Core schema and one code path for SQLite (the embedded default) and PostgreSQL.

Write transactions are serialised by the database itself: on SQLite every transaction starts with
``BEGIN IMMEDIATE`` (the writer lock is taken up front, so two writers queue instead of both reading a form as
``unused`` and both filing it); on PostgreSQL the ledger reads the rows it changes with ``SELECT ... FOR UPDATE``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

# How long a SQLite writer waits for another writer's transaction before giving up (seconds).
SQLITE_BUSY_TIMEOUT = 30.0

# Execution option: a read-only transaction on SQLite starts with a plain (deferred) BEGIN, so readers never queue
# behind writers; WAL gives them a consistent snapshot.
READ_ONLY = "eport_read_only"

metadata = sa.MetaData()

enterprises = sa.Table(
    "enterprises",
    metadata,
    sa.Column("code", sa.String(10), primary_key=True),  # 经营单位代码
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    # 组织机构代码 (GB 11714: 8 characters and a check character, written 12345678-9), as the fax of FAQ (七) gives
    # it; added after the first release (``LATER_COLUMNS``), so older centers hold none until it is set.
    sa.Column("org_code", sa.String(10)),
    sa.Index("ux_enterprises_org_code", "org_code", unique=True),
)

operators = sa.Table(
    "operators",
    metadata,
    sa.Column("cert_serial", sa.String(40), primary_key=True),  # lower-case hex of the certificate serial
    sa.Column("enterprise_code", sa.String(10), sa.ForeignKey("enterprises.code"), nullable=False, index=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("card_serial", sa.String(64)),
    sa.Column("certificate", sa.Text, nullable=False),  # PEM
    # What enrollment gave before the FX permission had a term of its own (``card_permissions``): read once, to
    # seed the permission of a card enrolled then; now the certificate's end, and nothing reads it.
    sa.Column("fx_permission_until", sa.Date, nullable=False),
    sa.Column("revoked", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

devices = sa.Table(  # agents' own keys: unattended requests (sending signed batches, pulling updates)
    "devices",
    metadata,
    sa.Column("cert_serial", sa.String(40), primary_key=True),  # lower-case hex of the certificate serial
    sa.Column("enterprise_code", sa.String(10), sa.ForeignKey("enterprises.code"), nullable=False, index=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("certificate", sa.Text, nullable=False),  # PEM
    sa.Column("revoked", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

ports = sa.Table(
    "ports",
    metadata,
    sa.Column("code", sa.String(4), primary_key=True),  # 关区代码
    sa.Column("name", sa.String(100), nullable=False, unique=True),
)

forms = sa.Table(
    "forms",
    metadata,
    sa.Column("form_no", sa.String(9), primary_key=True),  # 核销单号
    sa.Column("enterprise_code", sa.String(10), sa.ForeignKey("enterprises.code"), nullable=False),
    sa.Column("safe_status", sa.String(20), nullable=False),
    sa.Column("customs_status", sa.String(20), nullable=False),
    sa.Column("submission_status", sa.String(20), nullable=False),
    sa.Column("port", sa.String(4), sa.ForeignKey("ports.code")),
    sa.Column("issue_date", sa.Date, nullable=False),  # 发单日期
    sa.Column("declaration_no", sa.String(18)),  # the declaration that used the form (rule 5)
    sa.Column("export_date", sa.Date),
    sa.Column("submit_date", sa.Date),  # 交单日期 of the last submission
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    # (enterprise, form): a batch looks its forms up as "this enterprise's forms among these numbers"; with an index
    # on the enterprise alone SQLite would scan all of the enterprise's forms for every batch.
    sa.Index("ix_forms_enterprise_form", "enterprise_code", "form_no"),
)

applications = sa.Table(  # 核销单申请表
    "applications",
    metadata,
    sa.Column("unified_no", sa.String(20), primary_key=True),  # 统一编号
    sa.Column("enterprise_code", sa.String(10), sa.ForeignKey("enterprises.code"), nullable=False, index=True),
    sa.Column("copies", sa.Integer, nullable=False),  # 申请份数
    sa.Column("remark", sa.Text, nullable=False),
    sa.Column("apply_date", sa.Date, nullable=False),  # 申请日期
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

approvals = sa.Table(  # 核销单申请审批表: same unified number as the application
    "approvals",
    metadata,
    sa.Column("unified_no", sa.String(20), sa.ForeignKey("applications.unified_no"), primary_key=True),
    sa.Column("enterprise_code", sa.String(10), sa.ForeignKey("enterprises.code"), nullable=False, index=True),
    sa.Column("approved_copies", sa.Integer, nullable=False),
    sa.Column("approval_date", sa.Date, nullable=False),  # 审批日期
    sa.Column("approved_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("issued_at", sa.DateTime(timezone=True)),  # set once the approved forms are issued
)

declarations = sa.Table(  # 报关单: the declaration's electronic data, which reaches the center on its own
    "declarations",
    metadata,
    sa.Column("declaration_no", sa.String(18), primary_key=True),  # 报关单号
    sa.Column("enterprise_code", sa.String(10), sa.ForeignKey("enterprises.code"), nullable=False, index=True),
    sa.Column("approval_no", sa.String(9), sa.ForeignKey("forms.form_no"), nullable=False, unique=True),  # 批准文号
    sa.Column("export_date", sa.Date, nullable=False),  # 出口日期
    sa.Column("port", sa.String(4), sa.ForeignKey("ports.code"), nullable=False),
    sa.Column("trade_mode", sa.String(40), nullable=False),  # 贸易方式
    sa.Column("amount", sa.Numeric(18, 2), nullable=False),  # 成交总价
    sa.Column("currency", sa.String(3), nullable=False),  # 币制
    sa.Column("arrived_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("modified_at", sa.DateTime(timezone=True)),
)

form_events = sa.Table(
    # Every change of a form, in order, written in the transaction that makes it: the update feed.
    # AUTOINCREMENT on SQLite so that a sequence number is never handed out twice, even after deletes.
    "form_events",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("enterprise_code", sa.String(10), sa.ForeignKey("enterprises.code"), nullable=False),
    sa.Column("form_no", sa.String(9), sa.ForeignKey("forms.form_no"), nullable=False),
    sa.Column("event", sa.String(30), nullable=False),
    sa.Column("safe_status", sa.String(20), nullable=False),
    sa.Column("customs_status", sa.String(20), nullable=False),
    sa.Column("submission_status", sa.String(20), nullable=False),
    sa.Column("port", sa.String(4)),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_form_events_enterprise_seq", "enterprise_code", "seq"),
    sqlite_autoincrement=True,
)

issuance = sa.Table(  # 发放登记表
    "issuance",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("enterprise_code", sa.String(10), sa.ForeignKey("enterprises.code"), nullable=False, index=True),
    sa.Column("form_no", sa.String(9), sa.ForeignKey("forms.form_no"), nullable=False),
    sa.Column("unified_no", sa.String(20), sa.ForeignKey("applications.unified_no")),  # None: issued directly
    sa.Column("issue_date", sa.Date, nullable=False),  # 发单日期
    sa.Column("revoked", sa.Boolean, nullable=False, default=False),  # 是否撤销
    sa.Index("ix_issuance_form", "form_no"),  # the update feed names each form's 统一编号 and 是否撤销
)

application_events = sa.Table(
    # SAFE's approval of an application and the issuing of its forms (申请已审批, 已发放), for the update feed. Their
    # ``seq`` is drawn from form_events' own numbering (center.feed.next_seq), so one cursor reads both in order.
    "application_events",
    metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("enterprise_code", sa.String(10), sa.ForeignKey("enterprises.code"), nullable=False),
    sa.Column("unified_no", sa.String(20), sa.ForeignKey("applications.unified_no"), nullable=False),
    sa.Column("event", sa.String(30), nullable=False),  # "application_approved" or "application_issued"
    sa.Column("copies", sa.Integer, nullable=False),  # approved, or issued
    sa.Column("forms", sa.Text),  # the issued form numbers: "000000001-000000030" (runs joined by ", ")
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_application_events_enterprise_seq", "enterprise_code", "seq"),
)

admin_tokens = sa.Table(
    # Bearer tokens of the admin API. Only the SHA-256 of a token is kept: a leaked database grants nothing.
    "admin_tokens",
    metadata,
    sa.Column("token_sha256", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

batches = sa.Table(
    "batches",
    metadata,
    # Keyed by enterprise too: batch ids are chosen by each client, and one enterprise's id must neither collide
    # with nor reveal another's (rule 10).
    sa.Column("enterprise_code", sa.String(10), sa.ForeignKey("enterprises.code"), primary_key=True),
    sa.Column("batch_id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("payload_sha256", sa.String(64), nullable=False),
    sa.Column("answer", sa.Text, nullable=False),  # the JSON answer, returned unchanged when the batch is resent
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
)

keys = sa.Table(
    "keys",
    metadata,
    sa.Column("name", sa.String(40), primary_key=True),  # "ca", "receipt"
    sa.Column("private_key", sa.Text, nullable=False),  # PEM, PKCS#8
    sa.Column("certificate", sa.Text, nullable=False),  # PEM
)

jobs = sa.Table(
    # Periodic work that one process of the center does at a time for all of them (the 17999 sweep): a process runs
    # it only if the row, read locked, says it is due, and marks it run in the same transaction (center.jobs).
    "jobs",
    metadata,
    sa.Column("name", sa.String(40), primary_key=True),
    sa.Column("last_run_at", sa.DateTime(timezone=True)),
    sa.Column("run_by", sa.String(100)),  # host:pid of the process that ran it last
)

counters = sa.Table(
    # Number allocation (form numbers). A locked counter row allocates correctly on PostgreSQL too, where two
    # transactions reading max(form_no) at once would hand out the same number.
    "counters",
    metadata,
    sa.Column("name", sa.String(40), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)

access_cards = sa.Table(
    # 17999 cards as the network knows them, whoever registers them: a card's validity and hours are the card's own,
    # so they outlive a registration that is deleted and made again.
    "access_cards",
    metadata,
    sa.Column("account", sa.String(64), primary_key=True),  # e.g. 02012345678@17999.e163
    sa.Column("first_online_at", sa.DateTime(timezone=True)),  # the first request that arrived through it
    sa.Column("first_registered_at", sa.DateTime(timezone=True)),
    sa.Column("hours_used", sa.Numeric(10, 2), nullable=False, default=0),  # online hours the network reported
)

access_accounts = sa.Table(
    # Registrations (注册卡号) of 17999 accounts by enterprises (rule 12). A removed registration (deleted
    # by the user, or removed by the system at expiry) keeps its row, so that 帐号管理 can tell what became of it.
    "access_accounts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("account", sa.String(64), sa.ForeignKey("access_cards.account"), nullable=False),
    sa.Column("enterprise_code", sa.String(10), sa.ForeignKey("enterprises.code"), nullable=False, index=True),
    sa.Column("type", sa.String(20), nullable=False),  # sync.access.ACCOUNT_TYPES (rules: center.access.ACCOUNT_RULES)
    sa.Column("months", sa.Integer, nullable=False),
    sa.Column("password_hash", sa.String(200)),  # scrypt, salted; only for the types that need a password
    sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("removed_at", sa.DateTime(timezone=True)),
    sa.Column("removal", sa.String(20)),  # "deleted", "expired" or "hours_used_up"
    # An account is registered to one enterprise at a time.
    sa.Index(
        "ux_access_accounts_active",
        "account",
        unique=True,
        sqlite_where=sa.text("removed_at IS NULL"),
        postgresql_where=sa.text("removed_at IS NULL"),
    ),
)

access_emergencies = sa.Table(
    # The data center's time-limited emergency authorisation (manual 4.5 and FAQ (七)): business is open without an
    # account until ``until``, or until the center ends it.
    "access_emergencies",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("enterprise_code", sa.String(10), sa.ForeignKey("enterprises.code"), nullable=False, index=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("until", sa.DateTime(timezone=True), nullable=False),
    sa.Column("ended_at", sa.DateTime(timezone=True)),
)

permission_requests = sa.Table(
    # IC卡权限 extension requests (rule 11, the manual's FAQ 3): signed by the enterprise's legal-person
    # card, approved by SAFE at three levels; the third extends the card's FX permission.
    "permission_requests",
    metadata,
    sa.Column("request_no", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.String(64), nullable=False, unique=True),  # the sender's: a resent request is one
    sa.Column("enterprise_code", sa.String(10), sa.ForeignKey("enterprises.code"), nullable=False, index=True),
    sa.Column("card", sa.String(64), nullable=False),  # the IC card's serial (or its certificate's serial)
    sa.Column("requested_by", sa.String(40), sa.ForeignKey("operators.cert_serial"), nullable=False),
    sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("permission_until", sa.Date),  # set by the third approval
)

card_permissions = sa.Table(
    # An IC card's 出口收汇 permission at SAFE (rule 11, the manual's FAQ 3), apart from its certificate: the card
    # (its serial, or its certificate's serial when enrolled without one) has it through ``until``; None: it has
    # none (a new card, FAQ 3 (2), until SAFE approves the legal-person card's request or sets it).
    "card_permissions",
    metadata,
    sa.Column("enterprise_code", sa.String(10), sa.ForeignKey("enterprises.code"), primary_key=True),
    sa.Column("card", sa.String(64), primary_key=True),
    sa.Column("until", sa.Date),
    sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("note", sa.Text, nullable=False),  # what set it last: enrollment, SAFE, a request's third approval
)

permission_approvals = sa.Table(
    "permission_approvals",
    metadata,
    sa.Column("request_no", sa.Integer, sa.ForeignKey("permission_requests.request_no"), primary_key=True),
    sa.Column("level", sa.Integer, primary_key=True),  # 1, 2, 3, in this order
    sa.Column("approved_at", sa.DateTime(timezone=True), nullable=False),
)

enrollment_codes = sa.Table(
    # One-time enrollment codes (sync.enroll): made by ``operator invite`` / ``device invite``, redeemed once by
    # POST /api/v1/enroll. Only the SHA-256 of a code is kept: a leaked database enrolls nothing.
    "enrollment_codes",
    metadata,
    sa.Column("code_sha256", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(10), nullable=False),  # "operator" or "device"
    sa.Column("enterprise_code", sa.String(10), sa.ForeignKey("enterprises.code"), nullable=False, index=True),
    sa.Column("name", sa.String(200)),  # the operator; a device's name may come with the request instead
    sa.Column("role", sa.String(20)),  # operator cards: sync.access OPERATOR_ROLE or LEGAL_PERSON_ROLE
    sa.Column("days", sa.Integer),  # operator cards: certificate and FX permission validity
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("used_at", sa.DateTime(timezone=True)),
    sa.Column("cert_serial", sa.String(40)),  # what it enrolled
)

device_nonces = sa.Table(
    # The nonces of the device authorizations the center has let through (sync.protocol), kept while an authorization
    # could still be replayed (until its time plus the clock skew the center allows), so that each is good once,
    # whichever process of the center receives it (center.replay).
    "device_nonces",
    metadata,
    sa.Column("device", sa.String(40), primary_key=True),  # the device certificate's serial, lower-case hex
    sa.Column("nonce", sa.String(64), primary_key=True),
    sa.Column("good_until", sa.DateTime(timezone=True), nullable=False, index=True),
)


# The ledger's dates (issue date, permission expiry) are Beijing calendar dates, as on the original system.
CHINA_TZ = dt.timezone(dt.timedelta(hours=8), "CST")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def business_date(now: dt.datetime) -> dt.date:
    return as_utc(now).astimezone(CHINA_TZ).date()


def as_utc(value: dt.datetime) -> dt.datetime:
    """SQLite gives back naive datetimes; everything stored is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


# PostgreSQL errors after which the whole transaction may simply be run again: a deadlock between two transactions
# locking the same forms in another order, or a serialization failure. The database already rolled it back.
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})


def database_url(url_or_path: str) -> str:
    """A bare file path means SQLite at that path; ``postgresql://`` means PostgreSQL through psycopg 3."""
    if "://" in url_or_path:
        scheme, rest = url_or_path.split("://", 1)
        # SQLAlchemy's default PostgreSQL driver is psycopg2; the center is built and tested with psycopg 3.
        return f"postgresql+psycopg://{rest}" if scheme in ("postgresql", "postgres") else url_or_path
    path = Path(url_or_path).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def _configure_sqlite(engine: Engine) -> None:
    # SQLAlchemy's documented recipe for pysqlite: stop the driver from issuing its own (late, deferred) BEGIN and
    # emit ours when SQLAlchemy starts a transaction.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT * 1000)}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")


# Columns and indexes added to tables after the first release: ``create_all`` makes missing tables only, so a center
# made earlier gets them when it is opened (a nullable column, an index: both databases add them in place).
LATER_COLUMNS = ((enterprises, "org_code"),)
LATER_INDEXES = ("ix_issuance_form", "ux_enterprises_org_code")


def _add_later_parts(engine: Engine) -> None:
    with engine.begin() as conn:
        inspector = sa.inspect(conn)
        for table, name in LATER_COLUMNS:
            if name not in {c["name"] for c in inspector.get_columns(table.name)}:
                column = table.c[name]
                kind = column.type.compile(dialect=conn.dialect)
                conn.exec_driver_sql(f"ALTER TABLE {table.name} ADD COLUMN {name} {kind}")
        for table in metadata.sorted_tables:
            for index in table.indexes:
                if index.name in LATER_INDEXES:
                    index.create(conn, checkfirst=True)


def open_engine(url_or_path: str) -> Engine:
    """An engine on the center's database, schema created if missing (and the later columns added)."""
    url = sa.make_url(database_url(url_or_path))
    if url.get_backend_name() == "sqlite":
        engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT})
        _configure_sqlite(engine)
    else:
        engine = sa.create_engine(url, pool_pre_ping=True)
    metadata.create_all(engine)
    _add_later_parts(engine)
    return engine


def is_retryable(exc: sa.exc.DBAPIError) -> bool:
    return getattr(exc.orig, "sqlstate", None) in RETRYABLE_SQLSTATES


def reading(engine: Engine) -> Connection:
    """A connection for read-only work: ``with reading(engine) as conn, conn.begin(): ...``.

    On PostgreSQL the reads run in autocommit mode: at READ COMMITTED (the default) a transaction gives each
    statement a snapshot of its own all the same, and its BEGIN and COMMIT cost two round trips more (a feed pull
    made four of them). SQLite reads keep their transaction: there it is one snapshot for all the statements. So on
    PostgreSQL two statements of one read may see different commits: what must be consistent (a feed page drawn
    from two tables) is read in one statement.
    """
    options: dict[str, Any] = {READ_ONLY: True}
    if engine.dialect.name == "postgresql":
        options["isolation_level"] = "AUTOCOMMIT"
    return engine.connect().execution_options(**options)
