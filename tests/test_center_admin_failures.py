"""Failed authentications at the admin API (docs/SECURITY.md): each is logged without what was presented, and an
address that fails five times within a minute is refused (429, Retry-After) until the minute is over; a good token
is never slowed. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator

import pytest

from center.admin import FAILURE_WINDOW, FAILURES_ALLOWED, FailedLogins
from center.service import Center
from tests.center_support import ENTERPRISE, Client, loopback_client


class Ticks:
    """The failure count's clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ticks() -> Ticks:
    return Ticks()


@pytest.fixture
async def client(center: Center, ticks: Ticks) -> AsyncIterator[Client]:
    async with loopback_client(center, admin_failures=FailedLogins(clock=ticks)) as client:
        yield client


async def verify(client: Client, token: str | None, form_no: str = "000000001") -> tuple[int, dict[str, str], str]:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    response = await client.get(f"/api/v1/admin/forms/{form_no}", headers=headers)
    return response.status, dict(response.headers), (await response.json()).get("code", "")


async def test_five_failures_in_a_minute_close_the_address_for_the_rest_of_it(
    center: Center, client: Client, ticks: Ticks
) -> None:
    [form_no] = center.issue_forms(ENTERPRISE, 1)
    token = center.create_admin_token("ops")
    for attempt in range(FAILURES_ALLOWED):
        ticks.now += 5
        assert (await verify(client, f"guess-{attempt}", form_no))[::2] == (401, "ADMIN_UNAUTHORIZED")
    status, headers, code = await verify(client, "guess-5", form_no)
    assert (status, code) == (429, "ADMIN_RATE_LIMITED")
    # The first failure was 20 s ago: the address may try again when it is a minute old.
    assert headers["Retry-After"] == str(int(FAILURE_WINDOW - 20))
    # Refused without looking at the token, so a right guess now would tell nothing either.
    assert (await verify(client, token, form_no))[::2] == (429, "ADMIN_RATE_LIMITED")
    ticks.now += FAILURE_WINDOW - 20 - 1
    assert (await verify(client, token, form_no))[1]["Retry-After"] == "1"
    ticks.now += 1
    assert (await verify(client, token, form_no))[0] == 200


async def test_a_good_token_is_not_slowed_and_clears_the_count(center: Center, client: Client, ticks: Ticks) -> None:
    [form_no] = center.issue_forms(ENTERPRISE, 1)
    token = center.create_admin_token("ops")
    for _ in range(3):
        for attempt in range(FAILURES_ALLOWED - 1):
            assert (await verify(client, f"typo-{attempt}", form_no))[0] == 401
        started = time.perf_counter()
        assert (await verify(client, token, form_no))[0] == 200
        assert time.perf_counter() - started < 1.0  # no delay is added to a good request
    # Many good requests in a row are answered alike.
    assert {(await verify(client, token, form_no))[0] for _ in range(30)} == {200}


async def test_a_failure_is_logged_without_what_was_presented(
    center: Center, client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "a-token-somebody-guessed-0123456789"
    with caplog.at_level(logging.WARNING, logger="center.admin"):
        for _ in range(FAILURES_ALLOWED):
            await verify(client, secret)
        await verify(client, None)
    records = [r for r in caplog.records if r.name == "center.admin"]
    failures = [r for r in records if "failed from" in r.getMessage()]
    assert len(failures) == FAILURES_ALLOWED  # the sixth request was refused before its token was looked at
    assert [r.__dict__["failures"] for r in failures] == list(range(1, FAILURES_ALLOWED + 1))
    assert {(r.__dict__["remote"], r.__dict__["reason"], r.__dict__["path"]) for r in failures} == {
        ("127.0.0.1", "unknown token", "/api/v1/admin/forms/000000001")
    }
    assert any("is refused for a while" in r.getMessage() for r in records)
    everything = " ".join(r.getMessage() + json.dumps(r.__dict__, default=str) for r in caplog.records)
    assert secret not in everything


def test_the_count_is_per_address_and_forgets_the_oldest_addresses() -> None:
    ticks = Ticks()
    failures = FailedLogins(allowed=2, window=60, clock=ticks, tracked=3)
    failures.failed("10.0.0.1")
    failures.failed("10.0.0.1")
    assert failures.retry_after("10.0.0.1") == 60 and failures.retry_after("10.0.0.2") is None
    for address in ("10.0.0.2", "10.0.0.3", "10.0.0.4"):
        failures.failed(address)
    assert failures.retry_after("10.0.0.1") is None  # forgotten: at most ``tracked`` addresses are kept
    ticks.now += 30
    failures.failed("10.0.0.4")
    assert failures.retry_after("10.0.0.4") == 30
    ticks.now += 30
    assert failures.retry_after("10.0.0.4") is None
    failures.succeeded("10.0.0.4")
    assert failures.retry_after("10.0.0.4") is None
