"""Device authorizations are good once (docs/SECURITY.md): a request captured and sent again is refused with
AUTH_REPLAYED, by whichever process of the center it reaches; two requests made in the same second both pass; the
center forgets a nonce once its authorization is too old to be taken anyway. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from center import db, replay
from center.refusals import Refusal
from center.service import Center
from sync.access import API_PERMISSIONS
from sync.client import CenterClient, DeviceCredential
from sync.protocol import (
    API_UPDATES,
    DEVICE_CLOCK_SKEW,
    DEVICE_SCHEME,
    DeviceAuthorization,
    canonical_json,
    device_authorization,
    sha256_hex,
    sign_compact,
    software_signer,
    verify_device_authorization,
)
from tests.center_support import (
    BACKENDS,
    ENTERPRISE,
    Client,
    center_database,
    center_process,
    open_center,
    race,
)

FEED = f"{API_UPDATES}?after=0&limit=10"


class Device:
    """An enrolled agent PC's key and certificate."""

    def __init__(self, center: Center) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.certificate: x509.Certificate = center.enroll_device(ENTERPRISE, self.key.public_key(), "finance PC")

    def authorization(self, method: str = "GET", path: str = FEED, now: float | None = None) -> str:
        return device_authorization(method, path, b"", [self.certificate], software_signer(self.key), now=now)


async def get(client: Client, path: str, authorization: str) -> tuple[int, str | None]:
    response = await client.get(path, headers={"Authorization": authorization})
    answer = await response.json()
    return response.status, answer.get("code") if isinstance(answer, dict) else None


def nonces(center: Center) -> int:
    with center.engine.connect() as conn:
        return int(conn.scalar(sa.select(sa.func.count()).select_from(db.device_nonces)) or 0)


async def test_a_captured_request_sent_again_is_refused(center: Center, client: Client) -> None:
    device = Device(center)
    for path in (FEED, API_PERMISSIONS):
        captured = device.authorization(path=path)
        assert (await get(client, path, captured))[0] == 200
        assert await get(client, path, captured) == (401, "AUTH_REPLAYED")
        assert await get(client, path, captured) == (401, "AUTH_REPLAYED")
    # The agent makes a new authorization for every request, so its own retries and pulls go on.
    assert (await get(client, FEED, device.authorization()))[0] == 200


async def test_two_requests_in_the_same_second_both_pass(center: Center, client: Client) -> None:
    device = Device(center)
    second = float(int(time.time()))
    first, other = device.authorization(now=second), device.authorization(now=second)
    assert first != other  # the same request at the same moment: only the nonce tells them apart
    assert (await get(client, FEED, first))[0] == 200
    assert (await get(client, FEED, other))[0] == 200
    # and the agent's own client, many pulls at once
    credential = DeviceCredential([device.certificate], software_signer(device.key))
    agent = CenterClient(str(client.make_url("")), device=credential)
    try:
        pages = await asyncio.gather(*(agent.updates(0, 10) for _ in range(10)))
    finally:
        await agent.close()
    assert len(pages) == 10


async def test_an_authorization_without_a_nonce_is_not_good(center: Center, client: Client) -> None:
    """As an agent older than single-use authorizations makes them: refused, saying what to do."""
    device = Device(center)
    claims = {"m": "GET", "p": FEED, "b": sha256_hex(b""), "t": int(time.time())}
    token = sign_compact(canonical_json(claims), [device.certificate], software_signer(device.key))
    response = await client.get(FEED, headers={"Authorization": f"{DEVICE_SCHEME} {token}"})
    answer = await response.json()
    assert (response.status, answer["code"]) == (401, "DEVICE_UNAUTHORIZED")
    assert "nonce" in answer["message_en"]


def test_two_processes_receiving_one_authorization_at_once_let_it_through_once(db_url: str) -> None:
    """Two Center objects on one database, as two processes of the center, given the same authorization at the
    same moment."""
    with open_center(db_url) as first, Center.open(db_url) as second:
        device = Device(first)
        seconds = time.time()
        header = device.authorization(now=seconds)
        authorization = verify_device_authorization(header, "GET", FEED, b"", first.ca_certificate(), seconds)
        outcomes = race(*(lambda c=c: c.authorize_device(authorization, seconds) for c in (first, second) * 3))
        assert all(isinstance(o, str | Refusal) for o in outcomes), outcomes
        assert sorted(o if isinstance(o, str) else o.code for o in outcomes) == [ENTERPRISE] + ["AUTH_REPLAYED"] * 5


def test_a_nonce_is_kept_while_its_authorization_could_be_taken_and_then_goes(center: Center) -> None:
    device = Device(center)
    start = time.time()

    def authorize(at: float) -> str:
        header = device.authorization(now=at)
        authorization = verify_device_authorization(header, "GET", FEED, b"", center.ca_certificate(), at)
        return center.authorize_device(authorization, at)

    authorize(start)
    authorize(start + 1)
    authorize(start + replay.PURGE_SECONDS + 40)  # a purge is due: the first two are still in their window
    assert nonces(center) == 3
    # Past their window (the device's time plus the skew allowed), the first two go at the next purge; the third
    # could still be taken, so it stays.
    later = start + DEVICE_CLOCK_SKEW + replay.PURGE_SECONDS + 5
    authorize(later)
    with center.engine.connect() as conn:
        left = conn.execute(sa.select(db.device_nonces.c.good_until)).scalars().all()
    assert len(left) == 2 and all(db.as_utc(g) >= replay.moment(later) for g in left)


def test_a_refused_device_leaves_no_nonce(center: Center) -> None:
    device = Device(center)
    with center.engine.begin() as conn:
        conn.execute(sa.update(db.devices).values(revoked=True))
    seconds = time.time()
    authorization = DeviceAuthorization(device.certificate, "n" * 22, int(seconds))
    with pytest.raises(Refusal, match="DEVICE_UNKNOWN"):
        center.authorize_device(authorization, seconds)
    assert nonces(center) == 0


# Several API processes on PostgreSQL (docs/OPERATOR.md, "Several API processes").


@pytest.fixture(params=[BACKENDS[1]])
def pg_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with center_database(request.param, tmp_path) as url:
        yield url


async def test_a_replay_is_refused_whichever_worker_process_takes_it(pg_url: str, tmp_path: Path) -> None:
    with open_center(pg_url) as center:
        device = Device(center)
    with center_process(pg_url, tmp_path / "center.log", "--workers", "2") as served:
        captured = device.authorization()

        async def send() -> tuple[int, str | None]:
            # A connection of its own each time: any process may take it.
            async with (
                aiohttp.ClientSession() as session,
                session.get(served.url + FEED, headers={"Authorization": captured}) as response,
            ):
                answer = await response.json()
                return response.status, answer.get("code") if isinstance(answer, dict) else None

        def processes() -> set[int]:
            lines = served.log_lines()
            return {e["pid"] for e in lines if e.get("logger") == "center.access" and e.get("route") == API_UPDATES}

        answers: list[tuple[int, str | None]] = []
        while len(processes()) < 2 and len(answers) < 240:  # until both processes have taken some
            answers += await asyncio.gather(*(send() for _ in range(12)))
        assert len(processes()) == 2
        assert sorted(status for status, _ in answers) == [200] + [401] * (len(answers) - 1)
        assert {code for status, code in answers if status == 401} == {"AUTH_REPLAYED"}
        replays = [e for e in served.log_lines() if e.get("logger") == "center.replay"]
        assert len(replays) == len(answers) - 1 and all(captured.split(" ")[1] not in str(e) for e in replays)
