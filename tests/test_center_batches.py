"""The center's batch endpoint (rule 3 in docs/OPERATOR.md), driven through the real aiohttp app on loopback, on SQLite
and PostgreSQL."""

from __future__ import annotations

import copy
import datetime as dt
import json
import threading
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from center.app import start_center
from center.refusals import Refusal
from center.service import Center
from sync.protocol import API_BATCHES, SignatureError, canonical_json, sha256_hex, verify_answer, verify_compact
from tests.center_support import (
    ENTERPRISE,
    OTHER_ENTERPRISE,
    Card,
    Client,
    count_batches,
    enroll,
    filing_payload,
    filings,
    loopback_client,
    make_certificate,
    open_center,
    set_form,
    stored_ca_key,
)


@pytest.fixture
def card(center: Center) -> Card:
    return enroll(center)


async def post(client: Client, document: Any) -> tuple[int, dict[str, Any]]:
    response = await client.post(API_BATCHES, json=document)
    return response.status, await response.json()


async def file_one(client: Client, card: Card, form_no: str, port: str, batch_id: str = "b-1") -> dict[str, Any]:
    status, answer = await post(client, card.sign(filing_payload(batch_id, filings((form_no, port)), card.enterprise)))
    assert status == 200, answer
    [result] = answer["results"]
    return dict(result)


# Accepted batches.


async def test_signed_filing_batch_gets_one_result_per_record(center: Center, card: Card, client: Client) -> None:
    forms = center.issue_forms(ENTERPRISE, 3)
    status, answer = await post(
        client,
        card.sign(filing_payload("batch-001", filings((forms[0], "5300"), (forms[1], "2200"), (forms[2], "0100")))),
    )

    assert status == 200
    assert answer["batch_id"] == "batch-001"
    assert [(r["seq"], r["form_no"], r["status"], r["code"]) for r in answer["results"]] == [
        (1, forms[0], "OK", "OK"),
        (2, forms[1], "OK", "OK"),
        (3, forms[2], "OK", "OK"),
    ]
    assert answer["results"][0]["message_zh"] == "设置成功"
    assert answer["results"][0]["message_en"] == "Filed at port"
    ledger = [center.form(n) for n in forms]
    assert [(f["customs_status"], f["port"]) for f in ledger if f] == [
        ("filed", "5300"),
        ("filed", "2200"),
        ("filed", "0100"),
    ]
    assert ledger[0] and ledger[0]["customs_status_zh"] == "未用，已上传海关，可报关"


async def test_one_refused_record_does_not_stop_the_others(center: Center, card: Card, client: Client) -> None:
    forms = center.issue_forms(ENTERPRISE, 2)
    status, answer = await post(
        client,
        card.sign(filing_payload("mixed", filings((forms[0], "5300"), ("ZZZZZZZZZ", "5300"), (forms[1], "5300")))),
    )
    assert status == 200
    assert [r["code"] for r in answer["results"]] == ["OK", "FORM_NOT_FOUND", "OK"]
    assert all((center.form(n) or {})["customs_status"] == "filed" for n in forms)


async def test_port_by_exact_chinese_name(center: Center, card: Card, client: Client) -> None:
    [form_no] = center.issue_forms(ENTERPRISE, 1)
    result = await file_one(client, card, form_no, "深圳海关")
    assert result["code"] == "OK"
    assert (center.form(form_no) or {})["port"] == "5300"


async def test_port_name_must_be_exact(center: Center, card: Card, client: Client) -> None:
    [form_no] = center.issue_forms(ENTERPRISE, 1)
    result = await file_one(client, card, form_no, "深圳")
    assert result["code"] == "PORT_NOT_FOUND"
    assert "深圳" in result["message_zh"]


# Per-record refusals (rule 3).


async def test_unknown_form(center: Center, card: Card, client: Client) -> None:
    result = await file_one(client, card, "999999999", "5300")
    assert result == {
        "seq": 1,
        "form_no": "999999999",
        "status": "ERROR",
        "code": "FORM_NOT_FOUND",
        **_messages(Refusal("FORM_NOT_FOUND", form_no="999999999")),
    }


async def test_another_enterprises_form_is_answered_as_an_unknown_one(
    center: Center, card: Card, client: Client
) -> None:
    [theirs] = center.issue_forms(OTHER_ENTERPRISE, 1)
    center.issue_forms(ENTERPRISE, 1)  # so that "unknown" is not simply "this enterprise has no forms"
    unknown = "99999999Z"
    foreign_answer = await file_one(client, card, theirs, "5300", "b-foreign")
    unknown_answer = await file_one(client, card, unknown, "5300", "b-unknown")

    assert foreign_answer["code"] == unknown_answer["code"] == "FORM_NOT_FOUND"
    # Word for word the same answer, once the form number each names is taken out.
    assert _without(foreign_answer, theirs) == _without(unknown_answer, unknown)
    assert (center.form(theirs) or {})["customs_status"] == "unused"


async def test_unknown_port(center: Center, card: Card, client: Client) -> None:
    [form_no] = center.issue_forms(ENTERPRISE, 1)
    result = await file_one(client, card, form_no, "9999")
    assert result["code"] == "PORT_NOT_FOUND"
    assert (center.form(form_no) or {})["customs_status"] == "unused"
    assert (center.form(form_no) or {})["port"] is None


@pytest.mark.parametrize("customs_status", ["filed", "cancel_pending"])
async def test_already_filed(center: Center, card: Card, client: Client, customs_status: str) -> None:
    [form_no] = center.issue_forms(ENTERPRISE, 1)
    set_form(center, form_no, customs_status=customs_status, port="2200")
    result = await file_one(client, card, form_no, "5300")
    assert result["code"] == "FORM_ALREADY_FILED"
    assert "已备案的核销单需要先进行“撤销备案”操作并获得确认后，才能再次进行口岸备案操作" in result["message_zh"]
    assert (center.form(form_no) or {})["port"] == "2200"


async def test_filing_twice_in_one_batch(center: Center, card: Card, client: Client) -> None:
    [form_no] = center.issue_forms(ENTERPRISE, 1)
    status, answer = await post(
        client, card.sign(filing_payload("twice", filings((form_no, "5300"), (form_no, "2200"))))
    )
    assert status == 200
    assert [r["code"] for r in answer["results"]] == ["OK", "FORM_ALREADY_FILED"]
    assert (center.form(form_no) or {})["port"] == "5300"


@pytest.mark.parametrize(("safe_status", "label"), [("lost", "挂失"), ("verified", "已核销"), ("voided", "注销")])
async def test_form_not_valid(center: Center, card: Card, client: Client, safe_status: str, label: str) -> None:
    [form_no] = center.issue_forms(ENTERPRISE, 1)
    set_form(center, form_no, safe_status=safe_status)
    result = await file_one(client, card, form_no, "5300")
    assert result["code"] == "FORM_NOT_VALID"
    assert f"“{label}”" in result["message_zh"]
    assert (center.form(form_no) or {})["customs_status"] == "unused"


async def test_form_already_used(center: Center, card: Card, client: Client) -> None:
    [form_no] = center.issue_forms(ENTERPRISE, 1)
    set_form(center, form_no, customs_status="used", port="5300")
    result = await file_one(client, card, form_no, "2200")
    assert result["code"] == "FORM_ALREADY_USED"
    assert (center.form(form_no) or {})["port"] == "5300"


@pytest.mark.parametrize(
    "record",
    [
        {"seq": 1, "form_no": "abc", "port": "5300"},
        {"seq": 1, "form_no": "00000000a", "port": "5300"},
        {"seq": 1, "port": "5300"},
        {"seq": 1, "form_no": "000000001", "port": "  "},
        {"seq": 1, "form_no": "000000001", "port": 5300},
        {"seq": 1, "form_no": 1, "port": "5300"},
    ],
)
async def test_malformed_record(center: Center, card: Card, client: Client, record: Any) -> None:
    center.issue_forms(ENTERPRISE, 1)
    status, answer = await post(client, card.sign(filing_payload("bad-record", [record])))
    assert status == 200
    [result] = answer["results"]
    assert (result["status"], result["code"]) == ("ERROR", "RECORD_INVALID")
    assert (center.form("000000001") or {})["customs_status"] == "unused"


# Batch-level refusals: nothing is applied, nothing is stored.


async def test_payload_changed_after_signing(center: Center, card: Card, client: Client) -> None:
    forms = center.issue_forms(ENTERPRISE, 2)
    document = card.sign(filing_payload("tampered", filings((forms[0], "5300"))))
    document["payload"]["records"][0]["form_no"] = forms[1]  # one character differs
    status, answer = await post(client, document)
    assert (status, answer["code"]) == (401, "SIGNATURE_INVALID")
    assert set(answer) == {"code", "message_zh", "message_en"}
    assert {(center.form(n) or {})["customs_status"] for n in forms} == {"unused"}
    assert count_batches(center) == 0


async def test_certificate_from_another_ca(center: Center, client: Client) -> None:
    [form_no] = center.issue_forms(ENTERPRISE, 1)
    rogue_ca = ec.generate_private_key(ec.SECP256R1())
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    # Same issuer name as ours: only the signature tells them apart.
    cert = make_certificate(
        key.public_key(),
        center.ca_certificate().subject,
        rogue_ca,
        now - dt.timedelta(days=1),
        now + dt.timedelta(days=30),
    )
    status, answer = await post(
        client, Card(key, cert, ENTERPRISE).sign(filing_payload("rogue", filings((form_no, "5300"))))
    )
    assert (status, answer["code"]) == (401, "CERTIFICATE_UNTRUSTED")
    assert (center.form(form_no) or {})["customs_status"] == "unused"


async def test_expired_certificate(center: Center, client: Client) -> None:
    [form_no] = center.issue_forms(ENTERPRISE, 1)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = make_certificate(
        key.public_key(),
        center.ca_certificate().subject,
        stored_ca_key(center),
        now - dt.timedelta(minutes=3),
        now - dt.timedelta(minutes=1),
    )
    status, answer = await post(
        client, Card(key, cert, ENTERPRISE).sign(filing_payload("old", filings((form_no, "5300"))))
    )
    assert (status, answer["code"]) == (401, "CERTIFICATE_EXPIRED")


async def test_certificate_of_our_ca_but_not_enrolled(center: Center, client: Client) -> None:
    [form_no] = center.issue_forms(ENTERPRISE, 1)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = make_certificate(
        key.public_key(),
        center.ca_certificate().subject,
        stored_ca_key(center),
        now - dt.timedelta(minutes=1),
        now + dt.timedelta(days=30),
    )
    status, answer = await post(
        client, Card(key, cert, ENTERPRISE).sign(filing_payload("stranger", filings((form_no, "5300"))))
    )
    assert (status, answer["code"]) == (403, "OPERATOR_UNKNOWN")
    assert (center.form(form_no) or {})["customs_status"] == "unused"


async def test_revoked_operator(center: Center, card: Card, client: Client) -> None:
    [form_no] = center.issue_forms(ENTERPRISE, 1)
    assert center.revoke_operator(format(card.certificate.serial_number, "x"))
    status, answer = await post(client, card.sign(filing_payload("revoked", filings((form_no, "5300")))))
    assert (status, answer["code"]) == (403, "OPERATOR_REVOKED")


async def test_fx_permission_expired(center: Center, card: Card, client: Client) -> None:
    [form_no] = center.issue_forms(ENTERPRISE, 1)
    center.safe_set_permission("CARD-0001", until="2020-01-01")
    status, answer = await post(client, card.sign(filing_payload("no-fx", filings((form_no, "5300")))))
    assert (status, answer["code"]) == (403, "FX_PERMISSION_EXPIRED")
    assert "法人卡" in answer["message_zh"] and "2020-01-01" in answer["message_en"]


async def test_enterprise_mismatch(center: Center, card: Card, client: Client) -> None:
    [theirs] = center.issue_forms(OTHER_ENTERPRISE, 1)
    status, answer = await post(
        client, card.sign(filing_payload("other", filings((theirs, "5300")), enterprise=OTHER_ENTERPRISE))
    )
    assert (status, answer["code"]) == (403, "ENTERPRISE_MISMATCH")
    assert (center.form(theirs) or {})["customs_status"] == "unused"


async def test_unsupported_kind(center: Center, card: Card, client: Client) -> None:
    payload = filing_payload("refund-1", [{"seq": 1, "form_no": "000000001"}])
    payload["kind"] = "refunds"  # not a kind of the manual
    status, answer = await post(client, card.sign(payload))
    assert (status, answer["code"]) == (400, "KIND_UNSUPPORTED")
    assert count_batches(center) == 0


@pytest.mark.parametrize(
    "change",
    [
        {"v": 2},
        {"batch_id": ""},
        {"batch_id": "has space"},
        {"batch_id": "x" * 65},
        {"created_at": "yesterday"},
        {"records": []},
        {"records": "000000001,5300"},
        {"records": [{"form_no": "000000001", "port": "5300"}]},
        {"records": ["000000001,5300"]},
        {"records": [{"seq": "1", "form_no": "000000001", "port": "5300"}]},
        {
            "records": [
                {"seq": 1, "form_no": "000000001", "port": "5300"},
                {"seq": 1, "form_no": "000000002", "port": "5300"},
            ]
        },
    ],
)
async def test_malformed_payload(center: Center, card: Card, client: Client, change: dict[str, Any]) -> None:
    payload = filing_payload("ok-id", filings(("000000001", "5300")))
    payload.update(change)
    status, answer = await post(client, card.sign(payload))
    assert (status, answer["code"]) == (400, "BAD_REQUEST")


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe", b"[]", b'{"payload": {}}', b'{"payload": NaN}'])
async def test_malformed_body(client: Client, body: bytes) -> None:
    response = await client.post(API_BATCHES, data=body, headers={"Content-Type": "application/json"})
    assert response.status == 400
    assert (await response.json())["code"] == "BAD_REQUEST"


async def test_body_size_limit(center: Center) -> None:
    async with loopback_client(center, max_body_bytes=1024 * 1024) as client:
        response = await client.post(API_BATCHES, data=b" " * (1024 * 1024 + 1))
        assert response.status == 413
        assert (await response.json())["code"] == "PAYLOAD_TOO_LARGE"


async def test_unexpected_error_is_a_json_500(center: Center, client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(document: Any) -> dict[str, Any]:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(center, "receive", broken)
    status, answer = await post(client, {"payload": {}, "signature": "x"})
    assert (status, answer["code"]) == (500, "INTERNAL_ERROR")


# Idempotency and the receipt.


async def test_same_batch_twice_gets_the_stored_answer(center: Center, card: Card, client: Client) -> None:
    [form_no] = center.issue_forms(ENTERPRISE, 1)
    document = card.sign(filing_payload("again", filings((form_no, "5300"))))
    first_status, first = await post(client, document)
    updated_at = (center.form(form_no) or {})["updated_at"]
    second_status, second = await post(client, document)

    assert first_status == second_status == 200
    assert second == first  # receipt included, byte for byte
    assert first["results"][0]["code"] == "OK"
    assert (center.form(form_no) or {})["updated_at"] == updated_at
    assert count_batches(center) == 1


async def test_same_batch_id_other_content(center: Center, card: Card, client: Client) -> None:
    forms = center.issue_forms(ENTERPRISE, 2)
    await post(client, card.sign(filing_payload("reused", filings((forms[0], "5300")))))
    status, answer = await post(client, card.sign(filing_payload("reused", filings((forms[1], "5300")))))
    assert (status, answer["code"]) == (409, "BATCH_ID_REUSED")
    assert (center.form(forms[1]) or {})["customs_status"] == "unused"


async def test_batch_ids_are_per_enterprise(center: Center, card: Card, client: Client) -> None:
    other_card = enroll(center, OTHER_ENTERPRISE, "王五")
    [mine] = center.issue_forms(ENTERPRISE, 1)
    [theirs] = center.issue_forms(OTHER_ENTERPRISE, 1)
    assert (await file_one(client, card, mine, "5300", "2024-001"))["code"] == "OK"
    assert (await file_one(client, other_card, theirs, "5300", "2024-001"))["code"] == "OK"


async def test_receipt_verifies_against_the_pinned_ca(center: Center, card: Card, client: Client) -> None:
    forms = center.issue_forms(ENTERPRISE, 2)
    payload = filing_payload("receipt", filings((forms[0], "5300"), (forms[1], "9999")))
    _, answer = await post(client, card.sign(payload))

    ca = x509.load_pem_x509_certificate((await (await client.get("/api/v1/ca")).text()).encode())
    receipt = verify_compact(answer["receipt"], ca)
    assert receipt["batch_id"] == "receipt"
    assert receipt["enterprise"] == ENTERPRISE
    assert receipt["batch_sha256"] == sha256_hex(canonical_json(payload))
    assert receipt["results_sha256"] == sha256_hex(canonical_json(answer["results"]))
    assert (receipt["ok"], receipt["error"]) == (1, 1)
    assert dt.datetime.fromisoformat(receipt["received_at"]).tzinfo is not None
    # The agent's own check of an answer (one definition of the receipt, in the shared wire module).
    assert verify_answer(answer, payload, ca) == receipt


async def test_receipt_does_not_verify_against_another_ca(
    center: Center, card: Card, client: Client, tmp_path: Path
) -> None:
    [form_no] = center.issue_forms(ENTERPRISE, 1)
    _, answer = await post(client, card.sign(filing_payload("r2", filings((form_no, "5300")))))
    with (
        Center.open(str(tmp_path / "elsewhere" / "center.db")) as other,
        pytest.raises(SignatureError, match="not issued by"),
    ):
        verify_compact(answer["receipt"], other.ca_certificate())


# Concurrency.


def _race(centers: list[Center], documents: list[dict[str, Any]]) -> list[str]:
    """Send each document through its own center from its own thread, all released at the same moment."""
    barrier = threading.Barrier(len(documents))
    codes: list[str] = []

    def send(center: Center, document: dict[str, Any]) -> None:
        barrier.wait()
        try:
            codes.append(center.receive_batch(document)["results"][0]["code"])
        except Exception as exc:  # reported in the assertion, not lost in the thread
            codes.append(repr(exc))

    threads = [threading.Thread(target=send, args=pair) for pair in zip(centers, documents, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return codes


def test_two_batches_filing_the_same_form_at_once(db_url: str) -> None:
    with open_center(db_url) as setup:
        card = enroll(setup)
        forms = setup.issue_forms(ENTERPRISE, 5)
    # Two centers on one database, as two server processes (or machines) would be.
    centers = [Center.open(db_url) for _ in range(2)]
    try:
        for form_no in forms:
            documents = [card.sign(filing_payload(f"{form_no}-{i}", filings((form_no, "5300")))) for i in range(2)]
            assert sorted(_race(centers, documents)) == ["FORM_ALREADY_FILED", "OK"]
        assert count_batches(centers[0]) == 10
    finally:
        for c in centers:
            c.close()


# The other endpoints.


async def test_ports_endpoint(client: Client) -> None:
    response = await client.get("/api/v1/ports")
    assert response.status == 200
    ports = await response.json()
    assert {"code": "5300", "name": "深圳海关"} in ports
    assert len(ports) >= 42


async def test_ca_endpoint_serves_the_ca_pem(center: Center, client: Client) -> None:
    response = await client.get("/api/v1/ca")
    assert response.status == 200
    assert x509.load_pem_x509_certificate((await response.text()).encode()) == center.ca_certificate()


async def test_start_center_serves_on_a_real_port(center: Center, card: Card) -> None:
    [form_no] = center.issue_forms(ENTERPRISE, 1)
    runner, port = await start_center(center, "127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession() as session:
            document = card.sign(filing_payload("tcp", filings((form_no, "拱北关区"))))
            async with session.post(f"http://127.0.0.1:{port}{API_BATCHES}", json=document) as response:
                answer = await response.json()
        assert answer["results"][0]["code"] == "OK"
    finally:
        await runner.cleanup()


async def test_start_center_refuses_plain_http_off_loopback(center: Center) -> None:
    with pytest.raises(ValueError, match="loopback"):
        await start_center(center, "0.0.0.0", 0)


def _messages(refusal: Refusal) -> dict[str, str]:
    return {"message_zh": refusal.zh, "message_en": refusal.en}


def _without(result: dict[str, Any], form_no: str) -> str:
    return json.dumps(copy.deepcopy(result), ensure_ascii=False, sort_keys=True).replace(form_no, "<form>")
