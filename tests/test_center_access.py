"""17999 access accounts at the center (rule 12 in docs/OPERATOR.md; the manual's part one, chapter four): the five card
types and their rules, the online-state check, removal at expiry, the emergency authorisation, and the gate in front
of every business batch. On SQLite and PostgreSQL, with a clock the tests move on."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import itertools
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from center import db
from center.access import ACCOUNT_RULES, add_months
from center.records import ACCESS_KIND, KINDS
from center.refusals import Refusal
from center.service import Center
from sync.access import ACCOUNT_TYPES
from tests.center_support import (
    ENTERPRISE,
    OTHER_ENTERPRISE,
    Card,
    Clock,
    count_batches,
    enroll,
    filing_payload,
    open_center,
)

TIMED = "02012345671@17999.e163"
OTHER_ACCOUNT = "02012345672@17999.e163"
PASSWORD = "卡上的密码-42"
REQUIRED_ZH = "您尚未注册17999卡或注册的17999卡过期，请进入17999子系统注册17999卡"


@pytest.fixture
def center(db_url: str, clock: Clock) -> Iterator[Center]:
    """Two enterprises without any 17999 account."""
    with open_center(db_url, access=False, clock=clock) as center:
        yield center


@pytest.fixture
def card(center: Center) -> Card:
    return enroll(center, days=3650)  # outlives every move of the clock here


_ids = itertools.count(1)


def send(center: Center, card: Card, kind: str, *records: dict[str, Any]) -> dict[str, Any]:
    numbered = [{"seq": i, **r} for i, r in enumerate(records, start=1)]
    payload = filing_payload(f"a{next(_ids)}", numbered, card.enterprise, kind, center.now())
    return center.receive_batch(card.sign(payload))


def refusal(center: Center, card: Card, kind: str, *records: dict[str, Any]) -> Refusal:
    with pytest.raises(Refusal) as refused:
        send(center, card, kind, *records)
    return refused.value


def business(center: Center) -> dict[str, list[dict[str, Any]]]:
    """One plausible record for every business kind (rule 12 closes them all, not only the ones named here)."""
    [form_no] = center.issue_forms(ENTERPRISE, 1)
    form = {"form_no": form_no}
    return {
        "applications": [{"copies": 1, "remark": ""}],
        "filings": [{**form, "port": "5300"}],
        "cancellations": [form],
        "submissions": [{**form, "declaration_no": ""}],
        "losses": [form],
        "queries": [{"business": "form", "attribute": "form_no", "op": "prefix", "value": form_no[:7]}],
        "checks": [{**form, "operation": "filings", "port": "5300"}],
    }


def register(
    center: Center, account: str, type: str, arriving: str | None = None, enterprise: str = ENTERPRISE, **more: Any
) -> dict[str, Any]:
    return center.register_access(enterprise, {"account": account, "type": type, **more}, arriving)


def registrations(center: Center, account: str) -> list[tuple[str, str | None]]:
    """(enterprise, removal) of every registration of the account, oldest first."""
    with center.engine.connect() as conn:
        rows = conn.execute(
            sa.select(db.access_accounts.c.enterprise_code, db.access_accounts.c.removal)
            .where(db.access_accounts.c.account == account)
            .order_by(db.access_accounts.c.id)
        )
        return [(r.enterprise_code, r.removal) for r in rows]


# The gate.


def test_every_business_kind_is_refused_in_the_manuals_words_until_an_account_is_registered(
    center: Center, card: Card
) -> None:
    records = business(center)
    assert set(records) == set(KINDS) - {ACCESS_KIND}
    for kind, kind_records in records.items():
        refused = refusal(center, card, kind, *kind_records)
        assert (refused.code, refused.http_status) == ("ACCESS_ACCOUNT_REQUIRED", 403), kind
        assert REQUIRED_ZH in refused.zh and "只能进入17999卡注册子系统" in refused.zh
        assert "eport-agent access register" in refused.en
    assert count_batches(center) == 0
    center.access_register(ENTERPRISE, TIMED, "old-annual")
    for kind, kind_records in records.items():
        answer = send(center, card, kind, *kind_records)
        assert not any(r["code"].startswith("ACCESS_") for r in answer["results"]), kind
    assert count_batches(center) == len(records)


def test_the_access_kind_is_open_before_an_account_and_then_business_is(
    center: Center, clock: Clock, card: Card
) -> None:
    [form_no] = center.issue_forms(ENTERPRISE, 1)
    answer = send(
        center,
        card,
        ACCESS_KIND,
        {"account": TIMED, "type": "旧年卡", "months": "", "password": ""},
        {"account": OTHER_ACCOUNT, "type": "broadband", "months": "12", "password": PASSWORD},
    )
    first, second = answer["results"]
    until = db.business_date(add_months(clock.now, 12)).isoformat()
    assert (first["status"], first["account"], first["message_zh"]) == (
        "OK",
        TIMED,
        f"17999卡账号{TIMED}注册成功，有效期至{until}。",
    )
    assert dt.datetime.fromisoformat(first["expires_at"]) == add_months(clock.now, 12)
    assert second["status"] == "OK" and PASSWORD not in str(answer)
    assert send(center, card, "filings", {"form_no": form_no, "port": "5300"})["results"][0]["code"] == "OK"


def test_a_file_cannot_show_the_online_state_so_dial_up_cards_are_refused_there(center: Center, card: Card) -> None:
    answer = send(center, card, ACCESS_KIND, {"account": TIMED, "type": "timed"}, {"account": TIMED, "type": "新年卡"})
    assert [r["code"] for r in answer["results"]] == ["ACCESS_NOT_ONLINE", "ACCESS_NOT_ONLINE"]
    assert "注册失败，未检查到您注册的17999上网账号的在线信息！" in answer["results"][0]["message_zh"]
    assert registrations(center, TIMED) == []


def test_registration_needs_no_fx_permission_but_business_does_and_the_17999_gate_comes_first(
    center: Center, card: Card
) -> None:
    center.safe_set_permission("CARD-0001", until="2020-01-01")
    assert refusal(center, card, "applications", {"copies": 1}).code == "ACCESS_ACCOUNT_REQUIRED"
    assert send(center, card, ACCESS_KIND, {"account": TIMED, "type": "old-annual"})["results"][0]["code"] == "OK"
    assert refusal(center, card, "applications", {"copies": 1}).code == "FX_PERMISSION_EXPIRED"


# The five types.

TYPES = [
    # type, months given, needs a password, online check, the user may delete it, term in months, hour limit
    ("timed", None, False, True, True, 12, None),
    ("new-annual", None, False, True, True, 12, 1200),
    ("broadband", 6, True, False, False, 6, None),
    ("broadband", 12, True, False, False, 12, None),
    ("leased-line", None, True, False, False, 12, None),
    ("old-annual", None, False, False, True, 12, 1200),
]


def test_every_type_named_on_the_wire_has_its_rules_at_the_center() -> None:
    assert ACCOUNT_RULES.keys() == ACCOUNT_TYPES.keys() == {t[0] for t in TYPES}


@pytest.mark.parametrize(("type", "months", "password", "online", "deletable", "term", "limit"), TYPES)
def test_each_type_registers_lasts_and_deletes_by_its_rules(
    center: Center,
    clock: Clock,
    type: str,
    months: int | None,
    password: bool,
    online: bool,
    deletable: bool,
    term: int,
    limit: int | None,
) -> None:
    more: dict[str, Any] = {"months": months} if months else {}
    if password:
        with pytest.raises(Refusal, match="ACCESS_PASSWORD_REQUIRED"):
            register(center, TIMED, type, arriving=TIMED, **more)
        more["password"] = PASSWORD
    if online:
        for elsewhere in (None, OTHER_ACCOUNT, TIMED.removesuffix("@17999.e163")):
            with pytest.raises(Refusal, match="ACCESS_NOT_ONLINE"):
                register(center, TIMED, type, arriving=elsewhere, **more)
    registered = register(center, TIMED, type, arriving=TIMED if online else None, **more)
    expected = {"type": type, "months": term, "hour_limit": limit, "user_may_delete": deletable, "status": "valid"}
    assert {k: registered[k] for k in expected} == expected
    assert dt.datetime.fromisoformat(registered["expires_at"]) == add_months(clock.now, term)
    assert center.access_accounts(ENTERPRISE)["open"]
    if deletable:
        assert center.delete_access(ENTERPRISE, TIMED)["status"] == "deleted"
        assert not center.access_accounts(ENTERPRISE)["open"]
        assert registrations(center, TIMED) == [(ENTERPRISE, "deleted")]
    else:
        with pytest.raises(Refusal) as refused:
            center.delete_access(ENTERPRISE, TIMED)
        assert refused.value.code == "ACCESS_ACCOUNT_NOT_DELETABLE"
        assert "用户不能自行删除，帐号过期后系统将自动删除该帐号" in refused.value.zh
        assert center.access_accounts(ENTERPRISE)["open"]


def test_a_timed_card_counts_from_its_first_use_the_others_from_their_first_registration(
    center: Center, clock: Clock
) -> None:
    first_use = clock.now
    center.access_accounts(ENTERPRISE, arriving=TIMED)  # online through both cards, today
    center.access_accounts(ENTERPRISE, arriving=OTHER_ACCOUNT)
    clock.advance(days=100)
    timed = register(center, TIMED, "timed", arriving=TIMED)
    annual = register(center, OTHER_ACCOUNT, "new-annual", arriving=OTHER_ACCOUNT)
    assert dt.datetime.fromisoformat(timed["valid_from"]) == first_use
    assert dt.datetime.fromisoformat(timed["expires_at"]) == add_months(first_use, 12)
    assert dt.datetime.fromisoformat(annual["valid_from"]) == clock.now
    assert dt.datetime.fromisoformat(annual["expires_at"]) == add_months(clock.now, 12)


def test_a_card_password_is_kept_only_as_a_salted_scrypt_hash(center: Center) -> None:
    register(center, TIMED, "leased-line", password=PASSWORD)
    register(center, OTHER_ACCOUNT, "leased-line", enterprise=OTHER_ENTERPRISE, password=PASSWORD)
    with center.engine.connect() as conn:
        stored = list(conn.scalars(sa.select(db.access_accounts.c.password_hash)))
    assert len(set(stored)) == 2  # salted: the same password, two hashes
    for value in stored:
        scheme, n, r, p, salt, digest = value.split("$")
        assert scheme == "scrypt" and PASSWORD not in value
        hashed = base64.b64decode(digest)
        again = hashlib.scrypt(
            PASSWORD.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=len(hashed)
        )
        assert hashed == again


@pytest.mark.parametrize("months", [None, "", 7, "18", "six"])
def test_a_broadband_card_says_whether_it_is_a_half_year_or_a_one_year_card(center: Center, months: Any) -> None:
    with pytest.raises(Refusal) as refused:
        register(center, TIMED, "broadband", password=PASSWORD, months=months)
    assert refused.value.code == "ACCESS_TERM_INVALID" and "半年卡6，年卡12" in refused.value.zh
    assert register(center, TIMED, "宽带卡", password=PASSWORD, months="6")["months"] == 6


@pytest.mark.parametrize(
    "account",
    ["02012345678", "02012345678@17999", "02012345678@17999.E163", "02012345678@17999.e163.cn", "@17999.e163", "a b"],
)
def test_the_account_keeps_its_suffix(center: Center, account: str) -> None:
    with pytest.raises(Refusal) as refused:
        register(center, account, "old-annual")
    assert refused.value.code == "ACCESS_ACCOUNT_INVALID" and "后缀不可省略，也不可更改" in refused.value.zh


def test_an_unknown_type_is_refused_with_the_five_to_choose_from(center: Center) -> None:
    with pytest.raises(Refusal) as refused:
        register(center, TIMED, "monthly")
    assert refused.value.code == "ACCESS_TYPE_UNKNOWN" and "旧年卡 old-annual" in refused.value.zh


def test_an_account_is_one_enterprises_at_a_time_and_keeps_the_cards_validity(center: Center, clock: Clock) -> None:
    first = center.access_register(ENTERPRISE, TIMED, "old-annual")
    for enterprise, code in ((ENTERPRISE, "ACCESS_ACCOUNT_EXISTS"), (OTHER_ENTERPRISE, "ACCESS_ACCOUNT_TAKEN")):
        with pytest.raises(Refusal, match=code):
            register(center, TIMED, "old-annual", enterprise=enterprise)
    center.delete_access(ENTERPRISE, TIMED)
    clock.advance(days=30)
    again = register(center, TIMED, "old-annual", enterprise=OTHER_ENTERPRISE)
    assert again["expires_at"] == first["expires_at"]  # a year from the card's first registration, not from today
    assert registrations(center, TIMED) == [(ENTERPRISE, "deleted"), (OTHER_ENTERPRISE, None)]
    with pytest.raises(Refusal, match="ACCESS_ACCOUNT_NOT_FOUND"):
        center.access_account(ENTERPRISE, OTHER_ACCOUNT)


# Removal at expiry.


def test_at_expiry_the_account_is_removed_and_business_closes(center: Center, clock: Clock, card: Card) -> None:
    center.access_register(ENTERPRISE, TIMED, "leased-line")
    clock.advance(days=364)
    document = card.sign(filing_payload("kept", [{"seq": 1, "copies": 1}], ENTERPRISE, "applications", center.now()))
    applied = center.receive_batch(document)
    clock.advance(days=2)
    assert refusal(center, card, "applications", {"copies": 1}).code == "ACCESS_ACCOUNT_REQUIRED"
    # The removal made on the way is committed although the batch was refused.
    assert registrations(center, TIMED) == [(ENTERPRISE, "expired")]
    assert center.access_account(ENTERPRISE, TIMED)["status"] == "expired"
    assert center.access_accounts(ENTERPRISE) == {
        "enterprise": ENTERPRISE,
        "enterprise_name": "杭州测试进出口有限公司",
        "org_code": None,
        "open": False,
        "accounts": [],
        "emergency": None,
    }
    with pytest.raises(Refusal, match="ACCESS_ACCOUNT_EXPIRED"):
        center.access_register(ENTERPRISE, TIMED, "leased-line")
    # A batch already applied keeps its stored answer when it is sent again.
    assert center.receive_batch(document) == applied


def test_the_sweep_removes_every_enterprises_lapsed_accounts(center: Center, clock: Clock) -> None:
    center.access_register(ENTERPRISE, TIMED, "leased-line")
    center.access_register(OTHER_ENTERPRISE, OTHER_ACCOUNT, "broadband", months=6)
    clock.advance(days=200)
    assert center.access_sweep() == {"removed": 1}
    assert registrations(center, OTHER_ACCOUNT) == [(OTHER_ENTERPRISE, "expired")]
    clock.advance(days=200)
    assert center.access_sweep() == {"removed": 1}
    assert center.access_sweep() == {"removed": 0}
    assert registrations(center, TIMED) == [(ENTERPRISE, "expired")]


@pytest.mark.parametrize("type", ["new-annual", "old-annual"])
def test_the_annual_cards_end_when_their_1200_hours_are_used(center: Center, card: Card, type: str) -> None:
    register(center, TIMED, type, arriving=TIMED)
    assert center.access_record_usage(TIMED, "1199.5") == {"account": TIMED, "hours_used": 1199.5}
    assert send(center, card, "applications", {"copies": 1})["results"][0]["code"] == "OK"
    center.access_record_usage(TIMED, "0.5")
    assert refusal(center, card, "applications", {"copies": 1}).code == "ACCESS_ACCOUNT_REQUIRED"
    assert center.access_account(ENTERPRISE, TIMED)["status"] == "hours_used_up"
    with pytest.raises(Refusal, match="ACCESS_HOURS_USED_UP"):
        register(center, TIMED, type, arriving=TIMED)


def test_hours_do_not_end_a_card_without_an_hour_limit(center: Center) -> None:
    register(center, TIMED, "timed", arriving=TIMED)
    center.access_record_usage(TIMED, "5000")
    assert center.access_account(ENTERPRISE, TIMED)["status"] == "valid"
    for hours in ("0", "-1", "0.001", "NaN", "x"):
        with pytest.raises(Refusal, match="ARGUMENT_INVALID"):
            center.access_record_usage(TIMED, hours)


# The emergency authorisation (manual 4.5, FAQ (七)).


def test_the_fax_names_the_enterprise_by_its_organisation_code(center: Center, card: Card) -> None:
    """FAQ (七): the fax gives the enterprise's name, 组织机构代码 and contact; the grant finds it by that code."""
    center.create_enterprise(ENTERPRISE, "杭州测试进出口有限公司", "D2143569-x")  # GB 11714's check character: X
    assert center.access_accounts(ENTERPRISE)["org_code"] == "D2143569-X"
    granted = center.access_grant_emergency(None, 24, "传真 2024-019", org_code="D2143569X")
    assert granted["enterprise"] == ENTERPRISE
    for wrong, code in (("D2143569-1", "ORG_CODE_INVALID"), ("12345678-8", "ORG_CODE_NOT_FOUND")):
        with pytest.raises(Refusal, match=code):
            center.access_grant_emergency(None, 24, "传真", org_code=wrong)
    with pytest.raises(Refusal, match="ARGUMENT_INVALID"):  # the code and the enterprise must agree
        center.access_grant_emergency(OTHER_ENTERPRISE, 24, "传真", org_code="D2143569-X")
    with pytest.raises(Refusal, match="ORG_CODE_TAKEN"):
        center.create_enterprise(OTHER_ENTERPRISE, "深圳另一家贸易有限公司", "D2143569-X")


def test_an_emergency_authorisation_opens_business_until_its_time_is_up(
    center: Center, clock: Clock, card: Card
) -> None:
    granted = center.access_grant_emergency(ENTERPRISE, 24, "传真 2024-018，李主任批准")
    assert dt.datetime.fromisoformat(granted["until"]) == clock.now + dt.timedelta(hours=24)
    assert send(center, card, "applications", {"copies": 1})["results"][0]["code"] == "OK"
    overview = center.access_accounts(ENTERPRISE)
    assert (overview["open"], overview["accounts"], overview["emergency"]) == (True, [], granted)
    assert not center.access_accounts(OTHER_ENTERPRISE)["open"]
    clock.advance(hours=24)
    assert refusal(center, card, "applications", {"copies": 1}).code == "ACCESS_ACCOUNT_REQUIRED"
    assert center.access_accounts(ENTERPRISE)["emergency"] is None


def test_the_center_can_end_an_emergency_early(center: Center, clock: Clock, card: Card) -> None:
    center.access_grant_emergency(ENTERPRISE, 48, "线路中断")
    clock.advance(hours=1)
    ended = center.access_end_emergency(ENTERPRISE)
    assert ended["ended_at"] == clock.now.isoformat()
    assert refusal(center, card, "applications", {"copies": 1}).code == "ACCESS_ACCOUNT_REQUIRED"
    with pytest.raises(Refusal, match="ACCESS_EMERGENCY_NOT_FOUND"):
        center.access_end_emergency(ENTERPRISE)


@pytest.mark.parametrize(
    ("enterprise", "hours", "reason", "code"),
    [
        (ENTERPRISE, 0, "r", "ARGUMENT_INVALID"),
        (ENTERPRISE, 169, "r", "ARGUMENT_INVALID"),
        (ENTERPRISE, "24", "r", "ARGUMENT_INVALID"),
        (ENTERPRISE, 24, " ", "NAME_REQUIRED"),
        ("9999999999", 24, "r", "ENTERPRISE_NOT_FOUND"),
    ],
)
def test_an_emergency_needs_a_time_limit_and_a_reason(
    center: Center, enterprise: str, hours: Any, reason: str, code: str
) -> None:
    with pytest.raises(Refusal) as refused:
        center.access_grant_emergency(enterprise, hours, reason)
    assert refused.value.code == code
