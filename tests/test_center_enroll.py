"""Enrollment over the wire at the center (sync.enroll, center.enrollment): one-time codes from `operator invite` /
`device invite`, stored as a hash, good once and for a while; POST /api/v1/enroll certifies the key that signed the
request. The agent's side, through the real card stack, is tests/test_card_cli.py."""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from center import db
from center.cli import main as center_main
from center.openapi import openapi_spec
from center.refusals import Refusal
from center.service import Center
from sync.enroll import (
    API_ENROLL,
    API_ENROLL_CHECK,
    DEVICE_KIND,
    OPERATOR_KIND,
    CodeError,
    EnrollmentCode,
    ca_fingerprint,
    check_request,
    enrollment_request,
    format_code,
    grouped,
)
from sync.protocol import check_issued_by, software_signer
from tests.center_support import ENTERPRISE, Client, Clock, open_center, run_cli


def request(kind: str, code: str, key: ec.EllipticCurvePrivateKey | None = None, **extra: Any) -> bytes:
    key = key or ec.generate_private_key(ec.SECP256R1())
    secret = EnrollmentCode.parse(code).secret
    return json.dumps(enrollment_request(kind, secret, key.public_key(), software_signer(key), **extra)).encode()


def refused(call: Any, *args: Any) -> Refusal:
    with pytest.raises(Refusal) as caught:
        call(*args)
    return caught.value


def used_codes(center: Center) -> list[tuple[str, bool]]:
    with center.engine.connect() as conn:
        rows = conn.execute(sa.select(db.enrollment_codes.c.code_sha256, db.enrollment_codes.c.used_at))
        return [(row.code_sha256, row.used_at is not None) for row in rows]


# The code.


def test_a_code_is_a_short_typed_secret_and_the_cas_fingerprint_and_only_its_hash_is_stored(center: Center) -> None:
    invitation = center.invite(OPERATOR_KIND, ENTERPRISE, "王五", days=30)
    code = EnrollmentCode.parse(invitation["code"])
    assert invitation["code"].startswith(grouped(code.secret) + ".") and len(code.secret) == 16
    assert code.fingerprint == ca_fingerprint(center.ca_certificate()) and code.matches(center.ca_certificate())
    assert (invitation["kind"], invitation["enterprise"], invitation["name"], invitation["days"]) == (
        OPERATOR_KIND,
        ENTERPRISE,
        "王五",
        30,
    )
    with center.engine.connect() as conn:
        stored = " ".join(str(value) for row in conn.execute(sa.select(db.enrollment_codes)) for value in row)
    assert code.secret not in stored and code.secret.lower() not in stored
    # Typing is forgiving: case, spaces, dashes, O for 0 and I/L for 1.
    typed = invitation["code"].lower().replace("-", " ")
    assert EnrollmentCode.parse(typed) == code
    assert EnrollmentCode.parse(invitation["code"].replace("0", "O").replace("1", "l")) == code
    for wrong in (code.secret, invitation["code"][:-1], invitation["code"].replace(".", ".U", 1)):
        with pytest.raises(CodeError):
            EnrollmentCode.parse(wrong)
    assert format_code(code.secret, code.fingerprint) == invitation["code"]


def test_invitations_are_checked(center: Center) -> None:
    assert refused(center.invite, OPERATOR_KIND, "9999999999", "王五").code == "ENTERPRISE_NOT_FOUND"
    assert refused(center.invite, OPERATOR_KIND, ENTERPRISE, " ").code == "NAME_REQUIRED"
    assert refused(center.invite, DEVICE_KIND, ENTERPRISE, None, "operator", 365, 0).code == "ARGUMENT_INVALID"
    assert center.invite(DEVICE_KIND, ENTERPRISE)["name"] is None  # the PC names itself


# Redeeming it.


def test_an_operator_code_certifies_the_key_that_signed_the_request_once(center: Center) -> None:
    code = center.invite(OPERATOR_KIND, ENTERPRISE, "王五", role="legal-person", days=20)["code"]
    key = ec.generate_private_key(ec.SECP256R1())
    answer = center.enroll(request(OPERATOR_KIND, code, key, card_serial="CARD-9", name="not the CA's word"))
    certificate = x509.load_pem_x509_certificate(answer["certificate"].encode())
    check_issued_by(certificate, center.ca_certificate())
    assert certificate.public_key() == key.public_key()
    assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "王五"  # the invitation's
    assert certificate.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == "CARD-9"
    assert certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == "legal-person"
    assert (certificate.not_valid_after_utc - certificate.not_valid_before_utc).days == 20
    assert answer["chain"] == [center.ca_certificate_pem()] and answer["enterprise"] == ENTERPRISE

    again = refused(center.enroll, request(OPERATOR_KIND, code))
    assert again.code == "ENROLLMENT_CODE_USED" and again.http_status == 409
    assert "注册码已使用过" in again.zh and "already used" in again.en
    secret = EnrollmentCode.parse(code).secret
    assert refused(center.check_enrollment, json.dumps(check_request(OPERATOR_KIND, secret)).encode()).code == (
        "ENROLLMENT_CODE_USED"
    )


def test_a_device_code_names_the_pc_as_invited_or_as_it_says(center: Center) -> None:
    named = center.invite(DEVICE_KIND, ENTERPRISE, "finance-pc-2")["code"]
    unnamed = center.invite(DEVICE_KIND, ENTERPRISE)["code"]
    for code, expected in ((named, "finance-pc-2"), (unnamed, "clerk-pc")):
        answer = center.enroll(request(DEVICE_KIND, code, name="clerk-pc"))
        certificate = x509.load_pem_x509_certificate(answer["certificate"].encode())
        assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == expected
        assert center.device_enterprise(certificate) == ENTERPRISE
    nameless = center.invite(DEVICE_KIND, ENTERPRISE)["code"]
    assert refused(center.enroll, request(DEVICE_KIND, nameless)).code == "NAME_REQUIRED"
    assert sum(not used for _, used in used_codes(center)) == 1  # refused: still good


def test_unknown_expired_and_other_kind_codes_are_refused_and_a_refusal_uses_nothing(tmp_path: Path) -> None:
    clock = Clock()
    center = open_center(tmp_path, clock=clock)
    try:
        code = center.invite(OPERATOR_KIND, ENTERPRISE, "王五", valid_hours=2)["code"]
        other = format_code("0" * 16, EnrollmentCode.parse(code).fingerprint)
        assert refused(center.enroll, request(OPERATOR_KIND, other)).code == "ENROLLMENT_CODE_UNKNOWN"
        wrong = refused(center.enroll, request(DEVICE_KIND, code))
        assert wrong.code == "ENROLLMENT_CODE_WRONG_KIND" and "eport-agent card enroll" in wrong.en
        clock.advance(hours=2)
        expired = refused(center.enroll, request(OPERATOR_KIND, code))
        assert expired.code == "ENROLLMENT_CODE_EXPIRED" and "过期" in expired.zh and "expired" in expired.en
        assert [used for _, used in used_codes(center)] == [False]
        clock.advance(hours=-1)  # still inside its time: the refusals above left it good
        assert center.enroll(request(OPERATOR_KIND, code))["kind"] == OPERATOR_KIND
    finally:
        center.close()


def test_the_request_must_be_signed_by_the_key_it_carries(center: Center) -> None:
    code = center.invite(OPERATOR_KIND, ENTERPRISE, "王五")["code"]
    body = json.loads(request(OPERATOR_KIND, code))
    protected, payload, _signature = body["request"].split(".")
    _p, _q, foreign = json.loads(request(OPERATOR_KIND, code))["request"].split(".")
    for bad in (
        json.dumps({"request": f"{protected}.{payload}.{foreign}"}).encode(),
        b"not json",
        json.dumps({"request": 1}).encode(),
    ):
        assert refused(center.enroll, bad).code == "ENROLLMENT_REQUEST_INVALID"
    assert [used for _, used in used_codes(center)] == [False]


def test_one_code_sent_twice_at_once_enrolls_exactly_once(center: Center) -> None:
    code = center.invite(DEVICE_KIND, ENTERPRISE, "pc")["code"]
    outcomes: list[str] = []
    bodies = [request(DEVICE_KIND, code) for _ in range(4)]

    def send(body: bytes) -> None:
        try:
            center.enroll(body)
            outcomes.append("enrolled")
        except Refusal as refusal:
            outcomes.append(refusal.code)

    threads = [threading.Thread(target=send, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["ENROLLMENT_CODE_USED"] * 3 + ["enrolled"]
    with center.engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(db.devices)) == 1


# Over HTTP, as the OpenAPI description says, and from the command line.


async def test_the_endpoints_answer_as_described(center: Center, client: Client) -> None:
    spec = openapi_spec()

    def check(name: str, instance: Any) -> None:
        schema = {"$ref": f"#/components/schemas/{name}", "components": spec["components"]}
        jsonschema.validate(instance, schema, cls=jsonschema.Draft202012Validator)

    code = center.invite(OPERATOR_KIND, ENTERPRISE, "王五")["code"]
    secret = EnrollmentCode.parse(code).secret
    checked = await client.post(API_ENROLL_CHECK, json=check_request(OPERATOR_KIND, secret))
    assert checked.status == 200
    check("EnrollmentCheck", check_request(OPERATOR_KIND, secret))
    check("EnrollmentTerms", await checked.json())
    body = request(OPERATOR_KIND, code)
    check("EnrollmentRequest", json.loads(body))
    answer = await client.post(API_ENROLL, data=body)
    assert answer.status == 200
    check("EnrollmentAnswer", await answer.json())
    again = await client.post(API_ENROLL, data=body)
    assert again.status == 409 and (await again.json())["code"] == "ENROLLMENT_CODE_USED"
    check("Refusal", await again.json())


def test_operator_and_device_invite_print_the_code_once(tmp_path: Path) -> None:
    center = open_center(tmp_path)
    try:
        url = str(tmp_path / "center.db")
        ran = run_cli(center_main, "operator", "invite", "--db", url, "--enterprise", ENTERPRISE, "--name", "王五")
        assert ran.code == 0 and "注册码 / enrollment code: operator card of 王五" in ran.out
        printed = ran.out.split("\n\n")[1].strip()
        assert EnrollmentCode.parse(printed).matches(center.ca_certificate())
        ran = run_cli(
            center_main, "device", "invite", "--db", url, "--enterprise", ENTERPRISE, "--valid-hours", "1", "--json"
        )
        invitation = ran.json()
        assert invitation["kind"] == DEVICE_KIND and invitation["name"] is None
        until = dt.datetime.fromisoformat(invitation["expires_at"])
        assert dt.timedelta(minutes=59) < until - dt.datetime.now(dt.UTC) <= dt.timedelta(hours=1)
        ran = run_cli(center_main, "operator", "invite", "--db", url, "--enterprise", "9999999999", "--name", "x")
        assert ran.code == 1 and "ENTERPRISE_NOT_FOUND" in ran.err
    finally:
        center.close()
