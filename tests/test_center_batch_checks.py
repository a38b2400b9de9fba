"""Who may sign a batch and when it may have been made (docs/SECURITY.md, Decisions): the legal-person card signs
permission requests only, never business; a batch's ``created_at`` is at most 10 minutes ahead of the center's
clock and at most 30 days old. On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from center.refusals import Refusal
from center.service import Center
from sync.protocol import API_BATCHES, verify_answer
from tests.center_support import (
    ENTERPRISE,
    Card,
    Client,
    Clock,
    count_batches,
    enroll,
    filing_payload,
    legal_person,
    loopback_client,
    open_center,
    permission_request,
)


@pytest.fixture
def center(db_url: str, clock: Clock) -> Iterator[Center]:
    with open_center(db_url, clock=clock) as center:
        yield center


async def post(client: Client, document: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = await client.post(API_BATCHES, json=document)
    return response.status, await response.json()


# The legal-person card (法人卡).

BUSINESS = {
    "applications": {"copies": 1, "remark": ""},
    "filings": {"form_no": "{form}", "port": "5300"},
    "cancellations": {"form_no": "{form}"},
    "submissions": {"form_no": "{form}", "declaration_no": ""},
    "losses": {"form_no": "{form}"},
    "queries": {"business": "form", "attribute": "form_no", "op": "prefix", "value": "0"},
    "checks": {"form_no": "{form}", "operation": "filings", "port": "5300"},
    "access": {"account": "lp00000001@17999.e163", "type": "leased-line", "months": "", "password": "卡上的密码"},
}


async def test_the_legal_person_card_signs_no_business_of_any_kind(center: Center, client: Client) -> None:
    [form_no] = center.issue_forms(ENTERPRISE, 1)
    card = legal_person(center)
    center.safe_set_permission("LP-0001", days=365)  # even with the 出口收汇 permission, as SAFE might set it
    for kind, template in BUSINESS.items():
        record = {"seq": 1, **{k: v.format(form=form_no) if isinstance(v, str) else v for k, v in template.items()}}
        status, refusal = await post(client, card.sign(filing_payload(f"lp-{kind}", [record], kind=kind)))
        assert (status, refusal["code"]) == (403, "LEGAL_PERSON_CARD_NO_BUSINESS"), kind
        assert "企业法人卡只用于" in refusal["message_zh"] and "操作员卡" in refusal["message_zh"]
    assert count_batches(center) == 0
    assert center.form(form_no)["customs_status"] == "unused"  # type: ignore[index]


async def test_the_legal_person_card_still_requests_permissions_and_operators_do_business(
    center: Center, client: Client
) -> None:
    operator = enroll(center, fx_days=None, card_serial="CARD-0009")
    requested = center.request_permission(permission_request(legal_person(center), "CARD-0009"))
    for level in (1, 2, 3):
        center.safe_approve_permission(requested["request_no"], level)
    [form_no] = center.issue_forms(ENTERPRISE, 1)
    payload = filing_payload("op-1", [{"seq": 1, "form_no": form_no, "port": "5300"}], created_at=center.now())
    status, answer = await post(client, operator.sign(payload))
    assert status == 200 and [r["code"] for r in answer["results"]] == ["OK"]
    verify_answer(answer, payload, center.ca_certificate())


# created_at.


def send(center: Center, card: Card, batch_id: str, made: dt.datetime | str) -> dict[str, Any]:
    [form_no] = center.issue_forms(ENTERPRISE, 1)
    payload = filing_payload(batch_id, [{"seq": 1, "form_no": form_no, "port": "5300"}])
    payload["created_at"] = made if isinstance(made, str) else made.isoformat()
    return center.receive_batch(card.sign(payload))


def refused(center: Center, card: Card, batch_id: str, made: dt.datetime | str) -> Refusal:
    with pytest.raises(Refusal) as refusal:
        send(center, card, batch_id, made)
    return refusal.value


def test_a_batch_made_up_to_10_minutes_ahead_of_the_center_is_taken_later_ones_are_not(
    center: Center, clock: Clock
) -> None:
    card = enroll(center)
    assert send(center, card, "ahead-9", clock.now + dt.timedelta(minutes=9, seconds=59))["results"][0]["code"] == "OK"
    refusal = refused(center, card, "ahead-11", clock.now + dt.timedelta(minutes=10, seconds=1))
    assert refusal.code == "BATCH_CREATED_IN_FUTURE" and refusal.http_status == 422
    assert "请检查本机的日期、时间和时区设置" in refusal.zh and "10 minutes" in refusal.en
    assert count_batches(center) == 1


def test_a_batch_made_up_to_30_days_ago_is_taken_older_ones_are_not(center: Center, clock: Clock) -> None:
    card = enroll(center)
    assert send(center, card, "days-29", clock.now - dt.timedelta(days=29, hours=23))["results"][0]["code"] == "OK"
    refusal = refused(center, card, "days-31", clock.now - dt.timedelta(days=30, minutes=1))
    assert refusal.code == "BATCH_TOO_OLD" and refusal.http_status == 422
    assert "已超过30天" in refusal.zh and "eport-agent resend" in refusal.en
    assert count_batches(center) == 1


def test_a_time_without_an_offset_is_read_as_utc(center: Center, clock: Clock) -> None:
    card = enroll(center)
    naive = clock.now.replace(tzinfo=None)
    assert send(center, card, "naive-now", naive.isoformat())["results"][0]["code"] == "OK"
    later = (naive + dt.timedelta(minutes=11)).isoformat()
    assert refused(center, card, "naive-ahead", later).code == "BATCH_CREATED_IN_FUTURE"


def test_a_batch_answered_in_time_gets_its_stored_answer_when_resent_after_30_days(
    center: Center, clock: Clock
) -> None:
    card = enroll(center, days=3650, fx_days=3650)
    [form_no] = center.issue_forms(ENTERPRISE, 1)
    document = card.sign(
        filing_payload("kept", [{"seq": 1, "form_no": form_no, "port": "5300"}], created_at=center.now())
    )
    answer = center.receive_batch(document)
    clock.advance(days=45)
    center.access_register(ENTERPRISE, "later0001@17999.e163", "leased-line")  # the first account has lapsed
    assert center.receive_batch(document) == answer
    # A new batch made then is refused.
    assert refused(center, card, "stale", clock.now - dt.timedelta(days=45)).code == "BATCH_TOO_OLD"


async def test_over_http_a_stale_or_future_batch_is_a_422_with_its_code(db_url: str) -> None:
    with open_center(db_url) as center:
        card = enroll(center)
        forms = center.issue_forms(ENTERPRISE, 2)
        async with loopback_client(center) as client:
            now = dt.datetime.now(dt.UTC)
            for form_no, made, code in (
                (forms[0], now + dt.timedelta(hours=1), "BATCH_CREATED_IN_FUTURE"),
                (forms[1], now - dt.timedelta(days=31), "BATCH_TOO_OLD"),
            ):
                payload = filing_payload(
                    f"http-{code}", [{"seq": 1, "form_no": form_no, "port": "5300"}], created_at=made
                )
                status, refusal = await post(client, card.sign(payload))
                assert (status, refusal["code"]) == (422, code)
                assert refusal["message_zh"] and refusal["message_en"]
        assert count_batches(center) == 0
