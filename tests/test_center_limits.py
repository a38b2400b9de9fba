"""Bounded work per batch at the center (issue 18, item 5): an over-limit batch is refused with a 4xx before its
signature is checked and before the write lock is taken; bodies are checked for size and structure before they are
parsed, deeply nested JSON is a 400, a body that does not arrive in time is a 408."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from center import limits
from center.service import Center
from sync.enroll import API_ENROLL
from sync.limits import MAX_BATCH_FORMS, MAX_BATCH_RECORDS, MAX_QUERY_CONDITIONS
from sync.protocol import API_BATCHES
from tests.center_support import Card, Client, count_batches, enroll, filing_payload, filings, loopback_client


@pytest.fixture
def card(center: Center) -> Card:
    return enroll(center)


async def post_raw(client: Client, body: bytes, path: str = API_BATCHES) -> tuple[int, dict[str, Any], float]:
    started = time.monotonic()
    response = await client.post(path, data=body, headers={"Content-Type": "application/json"})
    return response.status, await response.json(), time.monotonic() - started


async def post(client: Client, document: Any) -> tuple[int, dict[str, Any], float]:
    return await post_raw(client, json.dumps(document).encode())


async def test_a_losses_batch_naming_a_million_forms_is_refused_at_once(
    center: Center, card: Card, client: Client
) -> None:
    records = [{"seq": i, "start_form_no": f"{260000000 + i * 1000:09d}", "count": 1000} for i in range(1, 1001)]
    status, answer, took = await post(client, card.sign(filing_payload("lose-1", records, kind="losses")))
    assert status == 413 and answer["code"] == "BATCH_TOO_MANY_FORMS", answer
    assert answer["message_zh"].startswith("批次涉及的核销单过多（号段展开后共 1000000 份，上限") and took < 5
    assert count_batches(center) == 0


async def test_a_query_of_1001_conditions_is_a_413_not_a_500(center: Center, card: Card, client: Client) -> None:
    records = [
        {"seq": i, "business": "form", "attribute": "form_no", "op": "prefix", "value": "26"} for i in range(1, 1002)
    ]
    status, answer, _ = await post(client, card.sign(filing_payload("q-1", records, kind="queries")))
    assert status == 413 and answer["code"] == "QUERY_TOO_MANY_CONDITIONS", answer
    assert f"上限 {MAX_QUERY_CONDITIONS} 个" in answer["message_zh"]


async def test_a_query_at_the_limit_is_answered(center: Center, card: Card, client: Client) -> None:
    records = [
        {"seq": i, "business": "form", "attribute": "form_no", "op": "prefix", "value": "26"}
        for i in range(1, MAX_QUERY_CONDITIONS + 1)
    ]
    status, answer, _ = await post(client, card.sign(filing_payload("q-2", records, kind="queries")))
    assert status == 200, answer


async def test_too_many_records_are_refused_before_the_signature_is_checked(center: Center, client: Client) -> None:
    records = filings(*[(f"{260000000 + i:09d}", "5300") for i in range(MAX_BATCH_RECORDS + 1)])
    document = {"payload": filing_payload("big", records), "signature": "not-even-a-signature"}
    status, answer, _ = await post(client, document)
    assert status == 413 and answer["code"] == "BATCH_TOO_MANY_RECORDS", answer


async def test_an_unauthenticated_body_of_empty_objects_is_refused_before_it_is_parsed(client: Client) -> None:
    small = b"[" + b"{}," * 200_000 + b"{}]"  # 600 KB, well under the byte limit: refused by its structure
    status, answer, _ = await post_raw(client, small)
    assert status == 413 and answer["code"] == "BATCH_TOO_MANY_RECORDS", answer
    huge = b"[" + b"{}," * (2 * 1024 * 1024) + b"{}]"  # 6 MiB: refused by its size
    status, answer, _ = await post_raw(client, huge)
    assert status == 413 and answer["code"] == "PAYLOAD_TOO_LARGE", answer


@pytest.mark.parametrize("depth", [40, 5000, 100_000])
async def test_deeply_nested_json_is_a_400_not_a_500(client: Client, depth: int) -> None:
    body = b"[" * depth + b"]" * depth
    for path in (API_BATCHES, API_ENROLL):
        status, answer, _ = await post_raw(client, body, path)
        assert 400 <= status < 500, (path, status, answer)
        if depth <= 5000 and path == API_BATCHES:  # deeper: refused by its structure (413) before parsing
            assert answer["code"] == "BAD_REQUEST" and "nested deeper" in answer["message_en"], answer


def test_forms_named_counts_a_range_as_its_forms() -> None:
    limits.check_batch({"payload": {"kind": "filings", "records": [{"seq": 1, "start_form_no": "1", "count": 5}]}})
    with pytest.raises(Exception, match="BATCH_TOO_MANY_FORMS"):
        records = [{"seq": i, "start_form_no": "1", "count": 1000} for i in range(MAX_BATCH_FORMS // 1000 + 1)]
        limits.check_batch({"payload": {"kind": "filings", "records": records}})


async def test_a_body_that_does_not_arrive_in_time_is_a_408(center: Center, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "BODY_READ_SECONDS", 0.5)
    async with loopback_client(center) as client:
        reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
        head = (
            f"POST {API_BATCHES} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
        )
        writer.write(head.encode() + b'{"payload":')  # ... and the rest never comes
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 10)
        writer.close()
    assert b" 408 " in status_line, status_line
