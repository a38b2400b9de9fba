"""The center's storage, reference data, statuses, refusal table, CA and issuance (real SQLite files)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtensionOID, NameOID

from center import db
from center.ports import bundled_ports, resolve_port
from center.refusals import REASONS, Refusal
from center.service import Center
from center.statuses import LABELS_EN, LABELS_ZH, CustomsStatus, SafeStatus, SubmissionStatus, label_zh
from sync.protocol import check_issued_by
from tests.center_support import ENTERPRISE, OTHER_ENTERPRISE, enroll, open_center


@pytest.fixture
def center(tmp_path: Path) -> Iterator[Center]:
    with open_center(tmp_path) as center:
        yield center


# Storage.


def test_bare_path_is_sqlite_with_wal_and_foreign_keys(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "center.db"
    engine = db.open_engine(str(path))
    try:
        assert path.exists()
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert set(sa.inspect(engine).get_table_names()) >= {
            "enterprises",
            "operators",
            "ports",
            "forms",
            "issuance",
            "batches",
            "keys",
            "applications",
            "approvals",
            "declarations",
            "form_events",
            "admin_tokens",
        }
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("given", "url"),
    [
        ("postgresql://eport@db/eport", "postgresql+psycopg://eport@db/eport"),
        ("postgres://eport@db:5433/eport", "postgresql+psycopg://eport@db:5433/eport"),
        ("postgresql+psycopg://eport@db/eport", "postgresql+psycopg://eport@db/eport"),
        ("sqlite:////var/lib/c.db", "sqlite:////var/lib/c.db"),
    ],
)
def test_database_urls_use_psycopg_3_for_postgresql(given: str, url: str) -> None:
    assert db.database_url(given) == url


def test_foreign_keys_are_enforced(center: Center) -> None:
    with pytest.raises(sa.exc.IntegrityError), center.engine.begin() as conn:
        conn.execute(
            sa.insert(db.forms).values(
                form_no="000000999",
                enterprise_code="NOSUCHCODE",
                safe_status="valid",
                customs_status="unused",
                submission_status="not_submitted",
                issue_date=dt.date.today(),
                updated_at=db.utcnow(),
            )
        )


def test_a_writer_waits_for_the_other_writer(tmp_path: Path) -> None:
    # BEGIN IMMEDIATE: the second writer cannot even start while the first holds its transaction.
    engine = db.open_engine(str(tmp_path / "c.db"))
    impatient = sa.create_engine(f"sqlite:///{tmp_path / 'c.db'}", connect_args={"timeout": 0.1})
    try:
        with engine.begin():
            with pytest.raises(sa.exc.OperationalError, match="locked"), impatient.connect() as conn:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            # Readers are not blocked (WAL, deferred BEGIN).
            with db.reading(engine) as conn, conn.begin():
                assert conn.scalar(sa.select(sa.func.count()).select_from(db.ports)) == 0
    finally:
        impatient.dispose()
        engine.dispose()


def test_reopening_keeps_the_authority_and_the_data(tmp_path: Path) -> None:
    with open_center(tmp_path) as first:
        ca = first.ca_certificate()
        forms = first.issue_forms(ENTERPRISE, 2)
    with Center.open(str(tmp_path / "center.db")) as second:
        assert second.ca_certificate() == ca
        assert second.form(forms[0]) is not None
        assert second.issue_forms(ENTERPRISE, 1) == [f"{int(forms[-1]) + 1:09d}"]


# Ports.


def test_port_table_has_the_customs_districts() -> None:
    ports = bundled_ports()
    codes = [p["code"] for p in ports]
    assert all(re.fullmatch(r"[0-9]{4}", c) for c in codes)
    assert len(codes) == len(set(codes))
    assert len({p["name"] for p in ports}) == len(ports)  # exact names must resolve to one port
    districts = {p["code"]: p["name"] for p in ports if p["code"].endswith("00")}
    assert len(districts) >= 42
    for code, name in [
        ("0100", "北京关区"),
        ("0200", "天津关区"),
        ("2200", "上海海关"),
        ("2300", "南京海关"),
        ("2900", "杭州关区"),
        ("3100", "宁波关区"),
        ("3700", "厦门关区"),
        ("4200", "青岛海关"),
        ("5100", "广州海关"),
        ("5200", "黄埔关区"),
        ("5300", "深圳海关"),
        ("5700", "拱北关区"),
    ]:
        assert districts[code] == name


def test_resolve_port(center: Center) -> None:
    with center.engine.connect() as conn:
        assert resolve_port(conn, "5300") == "5300"
        assert resolve_port(conn, "深圳海关") == "5300"
        assert resolve_port(conn, " 上海海关 ") == "2200"
        assert resolve_port(conn, "深圳") is None
        assert resolve_port(conn, "9999") is None
        assert resolve_port(conn, "530") is None
        assert resolve_port(conn, "") is None


def test_ports_are_loaded_once(tmp_path: Path) -> None:
    with open_center(tmp_path) as center:
        count = len(center.ports())
    with Center.open(str(tmp_path / "center.db")) as center:
        assert len(center.ports()) == count == len(bundled_ports())


# Statuses and refusals.


def test_every_status_has_both_labels() -> None:
    for family in (SafeStatus, CustomsStatus, SubmissionStatus):
        for status in family:
            assert LABELS_ZH[status] and LABELS_EN[status]
    assert label_zh("filed") == "未用，已上传海关，可报关"
    assert label_zh(SafeStatus.LOST) == "挂失"


def test_refusal_table() -> None:
    required = {
        "OK",
        "FORM_NOT_FOUND",
        "PORT_NOT_FOUND",
        "FORM_ALREADY_FILED",
        "FORM_NOT_VALID",
        "FORM_ALREADY_USED",
        "RECORD_INVALID",
        "BAD_REQUEST",
        "SIGNATURE_INVALID",
        "CERTIFICATE_UNTRUSTED",
        "CERTIFICATE_EXPIRED",
        "OPERATOR_UNKNOWN",
        "OPERATOR_REVOKED",
        "ENTERPRISE_MISMATCH",
        "BATCH_ID_REUSED",
        "KIND_UNSUPPORTED",
    }
    assert required <= set(REASONS)
    assert REASONS["BATCH_ID_REUSED"].http_status == 409
    assert REASONS["SIGNATURE_INVALID"].http_status == 401
    for code, reason in REASONS.items():
        assert re.fullmatch(r"[A-Z_]+", code)
        assert re.search(r"[\u4e00-\u9fff]", reason.zh), code
        assert reason.en.isascii(), code


def test_refusal_fills_in_the_facts() -> None:
    refusal = Refusal("FORM_NOT_VALID", form_no="000000001", status_zh="挂失", status_en="reported lost")
    assert refusal.as_json() == {
        "code": "FORM_NOT_VALID",
        "message_zh": "核销单000000001的外汇局使用状态为“挂失”，不能进行此操作。",
        "message_en": "Form 000000001 cannot be used: its SAFE status is reported lost (挂失).",
    }


# Enterprises.


def test_create_enterprise_is_safe_to_repeat(center: Center) -> None:
    assert center.create_enterprise("1100000001", "北京某公司")
    assert not center.create_enterprise("1100000001", "北京某公司")
    with pytest.raises(Refusal) as refused:
        center.create_enterprise("1100000001", "另一个名字")
    assert refused.value.code == "ENTERPRISE_EXISTS"


@pytest.mark.parametrize("code", ["123", "12345678901", "abcdefghij", "12345 6789"])
def test_enterprise_code_is_checked(center: Center, code: str) -> None:
    with pytest.raises(Refusal) as refused:
        center.create_enterprise(code, "名称")
    assert refused.value.code == "ENTERPRISE_CODE_INVALID"


# The authority.


def test_ca_certificate(center: Center) -> None:
    ca = center.ca_certificate()
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert isinstance(ca.public_key(), ec.EllipticCurvePublicKey)
    lifetime = ca.not_valid_after_utc - ca.not_valid_before_utc
    assert dt.timedelta(days=3650) <= lifetime <= dt.timedelta(days=3660)
    check_issued_by(ca, ca)


def test_operator_certificate(center: Center) -> None:
    card = enroll(center, name="张三")
    cert = card.certificate
    check_issued_by(cert, center.ca_certificate())
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "张三"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == ENTERPRISE
    assert cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == "CARD-0001"
    usage = cert.extensions.get_extension_for_oid(ExtensionOID.KEY_USAGE).value
    assert usage.digital_signature and not usage.key_cert_sign
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert cert.public_key() == card.key.public_key()
    assert enroll(center).certificate.serial_number != cert.serial_number
    with center.engine.connect() as conn:
        row = conn.execute(sa.select(db.operators)).first()
    assert row is not None
    assert (row.enterprise_code, row.revoked) == (ENTERPRISE, False)
    assert row.fx_permission_until >= dt.date.today() + dt.timedelta(days=364)


def test_enrollment_refusals(center: Center) -> None:
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
    p256 = ec.generate_private_key(ec.SECP256R1()).public_key()
    with pytest.raises(Refusal, match="KEY_INVALID"):
        center.enroll_operator(ENTERPRISE, p384, "张三")
    with pytest.raises(Refusal, match="ENTERPRISE_NOT_FOUND"):
        center.enroll_operator("9999999999", p256, "张三")
    with pytest.raises(Refusal, match="NAME_REQUIRED"):
        center.enroll_operator(ENTERPRISE, p256, "  ")


# Issuance (rule 2).


def test_issue_forms(center: Center) -> None:
    first = center.issue_forms(ENTERPRISE, 3)
    second = center.issue_forms(OTHER_ENTERPRISE, 2)
    assert first == ["000000001", "000000002", "000000003"]
    assert second == ["000000004", "000000005"]
    form = center.form(first[0])
    assert form is not None
    assert (
        form["enterprise_code"],
        form["safe_status"],
        form["customs_status"],
        form["submission_status"],
        form["port"],
    ) == (ENTERPRISE, "valid", "unused", "not_submitted", None)
    assert form["safe_status_zh"] == "有效"
    dt.date.fromisoformat(form["issue_date"])
    with center.engine.connect() as conn:
        register = conn.execute(sa.select(db.issuance).order_by(db.issuance.c.id)).all()
    assert [(r.enterprise_code, r.form_no, r.revoked) for r in register] == (
        [(ENTERPRISE, n, False) for n in first] + [(OTHER_ENTERPRISE, n, False) for n in second]
    )


@pytest.mark.parametrize("copies", [0, -1, 1001])
def test_issue_forms_copies_are_checked(center: Center, copies: int) -> None:
    with pytest.raises(Refusal, match="COPIES_INVALID"):
        center.issue_forms(ENTERPRISE, copies)


def test_issue_forms_to_unknown_enterprise(center: Center) -> None:
    with pytest.raises(Refusal, match="ENTERPRISE_NOT_FOUND"):
        center.issue_forms("9999999999", 1)
    assert center.form("000000001") is None
