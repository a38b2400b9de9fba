"""IC card permissions (rule 11 in docs/OPERATOR.md; the manual's part two, FAQ 3): the 出口收汇 permission is the
card's own, apart from its certificate. A new card has none and one whose permission has expired is refused, each
with the manual's guidance; the legal-person card requests it; SAFE approves it at three levels, in order; after the
third the card works. SAFE can also set or end it. On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import NameOID

from center import db
from center.access import add_months
from center.cli import main
from center.refusals import Refusal
from center.service import Center
from sync.access import API_PERMISSIONS, LEGAL_PERSON_ROLE
from sync.protocol import device_authorization, software_signer
from tests.center_support import (
    ENTERPRISE,
    OTHER_ENTERPRISE,
    Card,
    Client,
    Clock,
    enroll,
    filing_payload,
    legal_person,
    open_center,
    permission_request,
)

CARD = "CARD-0001"  # the operator card's serial, as tests.center_support enrolls it


@pytest.fixture
def center(db_url: str, clock: Clock) -> Iterator[Center]:
    with open_center(db_url, clock=clock) as center:
        yield center


@pytest.fixture
def operator(center: Center, clock: Clock) -> Card:
    """An operator card whose FX permission ended yesterday (its certificate is still good)."""
    card = enroll(center)
    yesterday = db.business_date(clock.now) - dt.timedelta(days=1)
    center.safe_set_permission(CARD, until=yesterday.isoformat())
    return card


_ids = itertools.count(1)


def request_document(card: Card, target: str = CARD, enterprise: str | None = None) -> dict[str, Any]:
    return permission_request(card, target, enterprise)


def business(center: Center, card: Card) -> dict[str, Any]:
    payload = filing_payload(f"b{next(_ids)}", [{"seq": 1, "copies": 1}], card.enterprise, "applications")
    return center.receive_batch(card.sign(payload))


def refused(call: Any, *args: Any) -> Refusal:
    with pytest.raises(Refusal) as refusal:
        call(*args)
    return refusal.value


def test_an_expired_permission_is_refused_with_the_manuals_guidance(center: Center, operator: Card) -> None:
    refusal = refused(business, center, operator)
    assert (refusal.code, refusal.http_status) == ("FX_PERMISSION_EXPIRED", 403)
    for words in (
        "“出口收汇”显示为灰色",
        "法人卡",
        "【备案变更】->【IC卡权限】",
        "外管局有关负责人员在网上3级审批通过后",
        CARD,
    ):
        assert words in refusal.zh
    assert f"eport-agent permission request --card {CARD}" in refusal.en


def test_the_legal_person_card_requests_safe_approves_at_three_levels_then_the_card_works(
    center: Center, clock: Clock, operator: Card
) -> None:
    document = request_document(legal_person(center))
    request = center.request_permission(document)
    assert (request["card"], request["status"], request["levels_approved"], request["requested_by"]) == (
        CARD,
        "pending",
        0,
        "法定代表人",
    )
    assert center.request_permission(document) == request  # resent: the same request, not a second one
    number = request["request_no"]
    assert refused(center.safe_approve_permission, number, 2).code == "PERMISSION_LEVEL_OUT_OF_ORDER"
    for level in (1, 2):
        assert center.safe_approve_permission(number, level)["levels_approved"] == level
        assert refused(business, center, operator).code == "FX_PERMISSION_EXPIRED"  # not before the third
    assert refused(center.safe_approve_permission, number, 2).code == "PERMISSION_LEVEL_OUT_OF_ORDER"
    clock.advance(hours=2)
    approved = center.safe_approve_permission(number, 3)
    until = add_months(db.business_date(clock.now), 12)
    assert (approved["status"], approved["permission_until"]) == ("approved", until.isoformat())
    assert [a["level"] for a in approved["approvals"]] == [1, 2, 3]
    assert business(center, operator)["results"][0]["code"] == "OK"
    assert refused(center.safe_approve_permission, number, 3).code == "PERMISSION_ALREADY_APPROVED"
    assert center.permission_requests(ENTERPRISE)["requests"] == [approved]


def test_an_operator_card_cannot_request_an_extension(center: Center, operator: Card) -> None:
    refusal = refused(center.request_permission, request_document(enroll(center, name="李四")))
    assert (refusal.code, refusal.http_status) == ("PERMISSION_NEEDS_LEGAL_PERSON", 403)
    assert refused(center.request_permission, request_document(operator)).code == "PERMISSION_NEEDS_LEGAL_PERSON"
    assert center.permission_requests(ENTERPRISE)["requests"] == []


def test_the_legal_person_role_is_the_cas_word_in_the_certificate(center: Center) -> None:
    units = legal_person(center).certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    assert [u.value for u in units] == [LEGAL_PERSON_ROLE]
    with pytest.raises(ValueError, match="role"):
        center.enroll_operator(ENTERPRISE, ec.generate_private_key(ec.SECP256R1()).public_key(), "x", role="boss")


def test_one_pending_request_per_card_and_only_the_enterprises_own_cards(center: Center, operator: Card) -> None:
    boss = legal_person(center)
    center.request_permission(request_document(boss))
    refusal = refused(center.request_permission, request_document(boss))
    assert refusal.code == "PERMISSION_REQUEST_PENDING" and "已通过0级，共3级" in refusal.zh
    enroll(center, enterprise=OTHER_ENTERPRISE)  # the other enterprise's card has the same serial
    theirs = legal_person(center, OTHER_ENTERPRISE)
    assert center.request_permission(request_document(theirs))["enterprise"] == OTHER_ENTERPRISE
    for target in ("CARD-9999", "card-0001"):
        assert refused(center.request_permission, request_document(boss, target)).code == "PERMISSION_CARD_NOT_FOUND"
    mismatch = request_document(boss, enterprise=OTHER_ENTERPRISE)
    assert refused(center.request_permission, mismatch).code == "ENTERPRISE_MISMATCH"


def test_a_card_enrolled_without_a_serial_is_named_by_its_certificate(center: Center, clock: Clock) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = center.enroll_operator(ENTERPRISE, key.public_key(), "王五")
    serial = format(cert.serial_number, "x").upper()
    number = center.request_permission(request_document(legal_person(center), serial))["request_no"]
    assert refused(business, center, Card(key, cert, ENTERPRISE)).code == "FX_PERMISSION_NOT_GRANTED"
    for level in (1, 2, 3):
        center.safe_approve_permission(number, level)
    [card] = [c for c in center.permission_requests(ENTERPRISE)["cards"] if c["name"] == "王五"]
    assert (card["card"], card["permission"]) == (serial.lower(), "valid")
    assert card["until"] == add_months(db.business_date(clock.now), 12).isoformat()
    assert business(center, Card(key, cert, ENTERPRISE))["results"][0]["code"] == "OK"


# A new card (FAQ 3 (2)) and SAFE's own moves.


def test_a_new_card_has_no_permission_until_safe_approves_the_legal_person_cards_request(
    center: Center, clock: Clock
) -> None:
    new = enroll(center, name="新操作员", fx_days=None, card_serial="CARD-NEW")
    refusal = refused(business, center, new)
    assert (refusal.code, refusal.http_status) == ("FX_PERMISSION_NOT_GRANTED", 403)
    for words in (
        "“出口收汇”显示为灰色",
        "暂无“出口收汇”权限",
        "【数据备案】->【IC卡权限】",
        "3级审批通过后",
        "CARD-NEW",
    ):
        assert words in refusal.zh
    assert "eport-agent permission request --card CARD-NEW" in refusal.en
    [card] = center.permission_requests(ENTERPRISE)["cards"]
    assert (card["card"], card["permission"], card["until"]) == ("CARD-NEW", "not_granted", None)
    number = center.request_permission(request_document(legal_person(center), "CARD-NEW"))["request_no"]
    for level in (1, 2):
        center.safe_approve_permission(number, level)
        assert refused(business, center, new).code == "FX_PERMISSION_NOT_GRANTED"
    center.safe_approve_permission(number, 3)
    assert business(center, new)["results"][0]["code"] == "OK"


def test_the_permission_is_the_cards_own_and_outlives_a_new_certificate(center: Center) -> None:
    first = enroll(center, days=30, fx_days=400)
    again = enroll(center, days=30, fx_days=None)  # the same card (CARD-0001) enrolled again keeps its permission
    assert business(center, again)["results"][0]["code"] == "OK"
    assert first.certificate.serial_number != again.certificate.serial_number


def test_safe_sets_and_ends_a_permission_from_the_command_line(
    center: Center, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    card = enroll(center, fx_days=None)
    assert main(["safe", "set-permission", "--db", db_url, "--card", CARD, "--until", "2099/12/31", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["until"] == "2099-12-31"
    assert business(center, card)["results"][0]["code"] == "OK"
    assert main(["safe", "end-permission", "--db", db_url, "--card", CARD]) == 0
    assert "已到期 expired" in capsys.readouterr().out
    assert refused(business, center, card).code == "FX_PERMISSION_EXPIRED"
    assert main(["safe", "set-permission", "--db", db_url, "--card", "NO-SUCH", "--days", "30"]) == 1
    assert "PERMISSION_CARD_NOT_FOUND" in capsys.readouterr().err
    assert main(["safe", "set-permission", "--db", db_url, "--card", CARD]) == 1  # neither --until nor --days
    assert "ARGUMENT_INVALID" in capsys.readouterr().err
    center.safe_set_permission(CARD, days=10)
    assert business(center, card)["results"][0]["code"] == "OK"


def test_an_extension_request_is_behind_the_17999_gate(center: Center) -> None:
    center.create_enterprise("3301960009", "没有上网卡的企业")
    refusal = refused(center.request_permission, request_document(legal_person(center, "3301960009")))
    assert refusal.code == "ACCESS_ACCOUNT_REQUIRED"


@pytest.mark.parametrize(
    ("request_no", "level", "code"),
    [(1, 0, "ARGUMENT_INVALID"), (1, 4, "ARGUMENT_INVALID"), (1, "1", "ARGUMENT_INVALID"), (99, 1, "NOT_FOUND")],
)
def test_approval_arguments(center: Center, request_no: int, level: Any, code: str) -> None:
    center.request_permission(request_document(legal_person(center), "LP-0001"))
    assert refused(center.safe_approve_permission, request_no, level).code.endswith(code)


def test_a_request_whose_signature_does_not_match_is_refused(center: Center) -> None:
    document = request_document(legal_person(center))
    document["payload"]["card"] = "CARD-0002"
    assert refused(center.request_permission, document).code == "SIGNATURE_INVALID"


# Over HTTP, the command line and the admin API.


async def test_requests_over_http_and_approvals_through_the_admin_api(
    center: Center, client: Client, operator: Card
) -> None:
    response = await client.post(API_PERMISSIONS, json=request_document(legal_person(center)))
    request = await response.json()
    assert (response.status, request["status"]) == (200, "pending")
    headers = {"Authorization": f"Bearer {center.create_admin_token('safe')}"}
    for level in (1, 2, 3):
        body = {"request_no": request["request_no"], "level": level}
        approved = await client.post("/api/v1/admin/safe/approve-permission", json=body, headers=headers)
        assert approved.status == 200
    key = ec.generate_private_key(ec.SECP256R1())
    device = center.enroll_device(ENTERPRISE, key.public_key(), "PC")
    authorization = device_authorization("GET", API_PERMISSIONS, b"", [device], software_signer(key))
    listed = await (await client.get(API_PERMISSIONS, headers={"Authorization": authorization})).json()
    assert [(r["request_no"], r["status"]) for r in listed["requests"]] == [(request["request_no"], "approved")]
    response = await client.post(API_PERMISSIONS, json=request_document(operator))
    assert (response.status, (await response.json())["code"]) == (403, "PERMISSION_NEEDS_LEGAL_PERSON")


def test_the_legal_person_card_is_enrolled_and_approved_from_the_command_line(
    center: Center, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], operator: Card
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    public = tmp_path / "lp.pem"
    public.write_bytes(key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    out = tmp_path / "lp-cert.pem"
    argv = ["operator", "enroll", "--db", db_url, "--enterprise", ENTERPRISE, "--name", "法人", "--public-key"]
    assert main([*argv, str(public), "--card-serial", "LP-9", "--role", "legal-person", "--out", str(out)]) == 0
    certificate = x509.load_pem_x509_certificate(out.read_bytes())
    number = center.request_permission(request_document(Card(key, certificate, ENTERPRISE)))["request_no"]
    for level in ("1", "2", "3"):
        capsys.readouterr()
        approve = ["safe", "approve-permission", "--db", db_url, "--request-no", str(number), "--level", level]
        assert main([*approve, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "approved"
    assert business(center, operator)["results"][0]["code"] == "OK"
