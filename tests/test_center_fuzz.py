"""Property-based fuzzing of the center's JSON intake (docs/SECURITY.md): whatever arrives — random bytes, random
JSON, JSON nested deeper than any parser goes, numbers too big for any parser, batches signed by a real card over
random records — the center answers with a 4xx and a JSON refusal carrying its code, or with a batch answer; never a
500 and never an exception out of the intake. A few thousand examples; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from center.app import _receive, create_app
from center.refusals import REASONS, Refusal
from center.service import Center, Received
from sync.access import API_PERMISSIONS
from sync.enroll import API_ENROLL, API_ENROLL_CHECK
from sync.protocol import API_BATCHES, PROTOCOL_VERSION
from tests.center_support import ENTERPRISE, Card, enroll, open_center

pytestmark = pytest.mark.slow

# No example database in the tree; failures print their example, and the seed is printed with them.
FUZZ = settings(database=None, deadline=None, suppress_health_check=list(HealthCheck), print_blob=True)

# JSON values, huge numbers included.
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**80), max_value=10**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(["", " ", "0", "-1", "000000001", "5300", "深圳海关", "\u202e", "\x00", "é" * 3])
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=40,
)


def _deep(depth: int, kind: str) -> bytes:
    if kind == "list":
        return b"[" * depth + b"]" * depth
    if kind == "object":
        return b'{"a":' * depth + b"1" + b"}" * depth
    return (b'{"payload":' + b"[{" * depth) + b"}]" * depth + b"}"


NESTED = st.builds(_deep, st.integers(1, 3000), st.sampled_from(["list", "object", "mixed"]))
HUGE_NUMBERS = st.builds(
    lambda digits, template: template.replace("N", "9" * digits).encode(),
    st.integers(1, 6000),
    st.sampled_from(
        [
            "N",
            "-N",
            "1eN",
            "-1e-N",
            "0.N",
            '{"payload":{"v":N},"signature":"x"}',
            '{"payload":{"v":1,"records":[{"seq":N,"count":N}]},"signature":"x.y"}',
        ]
    ),
)
CONSTANTS = st.sampled_from([b"NaN", b"Infinity", b"-Infinity", b'{"v": NaN}', b"[1e999]", b'{"a": -1e400}'])
BODIES = (
    st.binary(max_size=300)
    | st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass"))
    | JSON.map(lambda v: json.dumps(v).encode())
    | NESTED
    | HUGE_NUMBERS
    | CONSTANTS
)

# Batches that get past the signature: a real card signs a payload whose every part is mostly plausible (so that
# the header's checks, the gates and each kind's records are reached) and now and then random JSON.
VALUES: dict[str, list[Any]] = {
    "form_no": ["000000001", "000000002", "000000003", "000000004", "ZZZZZZZZZ", "00000000", ""],
    "start_form_no": ["000000001", "000000002", "999999999", "00000000A"],
    "count": [1, 2, 3, 1000, 1001, 0, -1, "2"],
    "port": ["5300", "深圳海关", "深圳", "9999", ""],
    "copies": [1, 2, 1000, 1001, 0, "3"],
    "remark": ["", "备注"],
    "declaration_no": ["", "530020241000000001", "1"],
    "business": ["form", "核销单", "declaration", "issuance", "application", "approval", "x"],
    "attribute": ["form_no", "safe_status", "issue_date", "核销单号", "unified_no", "revoked", "apply_date", "x"],
    "op": ["eq", "prefix", "以……开始", "x"],
    "value": ["0", "000000001", "有效", "是", "2026", "2026年12月", ""],
    "account": ["lp00000001@17999.e163", "lp00000002@17999.e163", "bad"],
    "type": ["leased-line", "broadband", "old-annual", "timed", "月卡"],
    "months": ["", "6", "12", "7"],
    "password": ["", "卡上的密码"],
    "operation": ["filings", "cancellations", "submissions", "losses", "口岸备案", "x"],
}
ONE_FORM = ("form_no",)
A_RANGE = ("start_form_no", "count")
KIND_FIELDS: dict[str, list[tuple[str, ...]]] = {
    "filings": [(*ONE_FORM, "port"), (*A_RANGE, "port")],
    "cancellations": [ONE_FORM, A_RANGE],
    "losses": [ONE_FORM, A_RANGE],
    "submissions": [(*ONE_FORM, "declaration_no"), (*A_RANGE, "declaration_no")],
    "applications": [("copies", "remark")],
    "queries": [("business", "attribute", "op", "value")],
    "access": [("account", "type", "months", "password")],
    "checks": [(*ONE_FORM, "operation", "port"), (*A_RANGE, "operation")],
}
_ids = itertools.count(1)


def _mostly(draw: Callable[..., Any], plausible: st.SearchStrategy[Any], one_in: int = 10) -> Any:
    """A plausible value, or now and then (one time in ``one_in``) random JSON."""
    odd = draw(st.sampled_from([False] * (one_in - 1) + [True]))  # drawn evenly (integers favour their bounds)
    return draw(JSON) if odd else draw(plausible)


def _record(draw: Callable[..., Any], kind: str, seq: int) -> Any:
    fields = draw(st.sampled_from(KIND_FIELDS.get(kind, [("form_no",)])))
    record: dict[str, Any] = {"seq": _mostly(draw, st.just(seq), 50)}
    for field in fields:
        record[field] = _mostly(draw, st.sampled_from(VALUES[field]))
    if draw(st.sampled_from([False] * 9 + [True])):  # a field of another kind, or one dropped
        extra = draw(st.sampled_from(sorted(VALUES)))
        record[extra] = draw(st.sampled_from(VALUES[extra]))
        record.pop(draw(st.sampled_from(sorted(record))), None)
    return draw(JSON) if draw(st.sampled_from([False] * 49 + [True])) else record


def _payload(draw: Callable[..., Any]) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    kind = _mostly(draw, st.sampled_from(sorted(KIND_FIELDS)), 30)
    count = draw(st.integers(1, 6))
    records = [_record(draw, kind if isinstance(kind, str) else "", seq) for seq in range(1, count + 1)]
    ages = [dt.timedelta(0), dt.timedelta(days=29), dt.timedelta(days=31), dt.timedelta(minutes=-11)]
    payload: dict[str, Any] = {
        "v": _mostly(draw, st.just(PROTOCOL_VERSION), 30),
        "batch_id": _mostly(draw, st.just(f"fuzz-{next(_ids)}"), 30),
        "kind": kind,
        "enterprise": _mostly(draw, st.sampled_from([ENTERPRISE] * 9 + ["4403960002"]), 30),
        "created_at": _mostly(
            draw, st.sampled_from([dt.timedelta(0)] * 6 + ages).map(lambda a: (now - a).isoformat()), 30
        ),
        "records": _mostly(draw, st.just(records), 30),
    }
    if draw(st.sampled_from([False] * 19 + [True])):
        payload.pop(draw(st.sampled_from(sorted(payload))))
    return payload


@st.composite
def signed_documents(draw: Callable[..., Any], card: Card) -> dict[str, Any]:
    return card.sign(_payload(draw))


def _check(outcome: Received | Refusal) -> None:
    if isinstance(outcome, Refusal):
        assert outcome.code in REASONS and outcome.code != "INTERNAL_ERROR", outcome
        assert 400 <= outcome.http_status < 500, outcome
    else:
        assert {"batch_id", "results", "receipt"} <= set(outcome.answer)


def _intake(center: Center, body: bytes) -> Received | Refusal:
    """What the batch endpoint does with a body (center.app: limits, parse, count, then the center)."""
    try:
        return _receive(center, body)
    except Refusal as refusal:
        return refusal


@pytest.fixture
def center(db_url: str) -> Iterator[Center]:
    with open_center(db_url) as center:
        center.issue_forms(ENTERPRISE, 3)
        yield center


def test_any_body_at_the_batch_intake_is_answered_or_refused_with_a_code(center: Center) -> None:
    @settings(FUZZ, max_examples=2000)
    @given(body=BODIES)
    def intake(body: bytes) -> None:
        _check(_intake(center, body))

    intake()


def test_any_batch_a_real_card_signs_is_answered_or_refused_with_a_code(center: Center) -> None:
    card = enroll(center)
    seen: Counter[str] = Counter()

    @settings(FUZZ, max_examples=600)
    @given(document=signed_documents(card))
    def intake(document: dict[str, Any]) -> None:
        outcome = _intake(center, json.dumps(document, ensure_ascii=False).encode())
        _check(outcome)
        seen[outcome.code if isinstance(outcome, Refusal) else "answered"] += 1

    intake()
    # The examples got past the signature to the header's checks, the gates and the records.
    assert seen["answered"] and seen["BAD_REQUEST"] and len(seen) >= 5, seen


def test_over_http_every_answer_is_json_and_no_answer_is_a_500(center: Center) -> None:
    """Through the app (its middleware turns refusals into answers): the batch endpoint, the permission request,
    enrollment and an admin operation, with random bodies and, for batches, signed random payloads."""
    card = enroll(center)
    token = center.create_admin_token("fuzz")

    async def start() -> TestClient[Any, Any]:
        client: TestClient[Any, Any] = TestClient(TestServer(create_app(center), host="127.0.0.1"))
        await client.start_server()
        return client

    loop = asyncio.new_event_loop()
    client = loop.run_until_complete(start())
    paths = [API_BATCHES, API_PERMISSIONS, API_ENROLL, API_ENROLL_CHECK, "/api/v1/admin/safe/verify"]

    async def post(path: str, body: bytes) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        async with client.post(path, data=body, headers=headers) as response:
            return response.status, json.loads(await response.read())

    @settings(FUZZ, max_examples=500)
    @given(
        path=st.sampled_from(paths),
        body=BODIES | signed_documents(card).map(lambda d: json.dumps(d, ensure_ascii=False).encode()),
    )
    def http(path: str, body: bytes) -> None:
        status, answer = loop.run_until_complete(post(path, body))
        assert status < 500, (status, answer)
        assert isinstance(answer, dict), answer
        if status >= 400:
            assert answer["code"] in REASONS and answer["message_zh"] and answer["message_en"], answer

    try:
        http()
    finally:
        loop.run_until_complete(client.close())
        loop.close()
