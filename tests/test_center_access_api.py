"""17999 access accounts over HTTP: the plain endpoints an agent uses (device credential, the account a request
arrives through), the authority's commands and admin API, the periodic sweep, and answers that match the OpenAPI
description. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import jsonschema
import pytest
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from center import db
from center.cli import main
from center.openapi import openapi_spec
from center.service import Center
from sync.access import API_ACCESS_ACCOUNTS, ARRIVING_ACCOUNT_HEADER
from sync.protocol import canonical_json, device_authorization, software_signer
from tests.center_support import (
    ENTERPRISE,
    OTHER_ENTERPRISE,
    Client,
    Clock,
    center_cli,
    eventually,
    loopback_client,
    open_center,
    run_cli,
)

TIMED = "02012345671@17999.e163"
LEASED = "ddn0000001@17999.e163"


@pytest.fixture
def center(db_url: str, clock: Clock) -> Iterator[Center]:
    """Two enterprises without any 17999 account."""
    with open_center(db_url, access=False, clock=clock) as center:
        yield center


@dataclass
class Agent:
    """An enterprise's agent as the center sees it: its enrolled device key, dialled in through ``arriving``."""

    client: Client
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    arriving: str | None = None

    async def call(self, method: str, path: str, body: Any = None, signed: bool = True) -> tuple[int, Any]:
        data = b"" if body is None else canonical_json(body)
        headers = {"Content-Type": "application/json"}
        if signed:
            headers["Authorization"] = device_authorization(
                method, path, data, [self.certificate], software_signer(self.key)
            )
        if self.arriving is not None:
            headers[ARRIVING_ACCOUNT_HEADER] = self.arriving
        response = await self.client.request(method, path, data=data or None, headers=headers)
        return response.status, await response.json()


def agent_of(center: Center, client: Client, enterprise: str = ENTERPRISE, arriving: str | None = None) -> Agent:
    key = ec.generate_private_key(ec.SECP256R1())
    return Agent(client, key, center.enroll_device(enterprise, key.public_key(), "PC"), arriving)


def check(name: str, instance: Any) -> None:
    spec = openapi_spec()
    schema = {"$ref": f"#/components/schemas/{name}", "components": spec["components"]}
    jsonschema.validate(instance, schema, cls=jsonschema.Draft202012Validator)


# The agent's endpoints.


async def test_the_agent_registers_lists_shows_and_deletes_through_its_own_connection(
    center: Center, client: Client
) -> None:
    agent = agent_of(center, client, arriving=TIMED)
    status, overview = await agent.call("GET", API_ACCESS_ACCOUNTS)
    assert (status, overview["open"], overview["accounts"]) == (200, False, [])
    status, registered = await agent.call("POST", API_ACCESS_ACCOUNTS, {"account": TIMED, "type": "timed"})
    assert (status, registered["status"]) == (200, "valid")
    check("AccessAccount", registered)
    status, overview = await agent.call("GET", API_ACCESS_ACCOUNTS)
    assert overview["open"] and [a["account"] for a in overview["accounts"]] == [TIMED]
    check("AccessAccounts", overview)
    status, shown = await agent.call("GET", f"{API_ACCESS_ACCOUNTS}/{TIMED}")
    assert (status, shown) == (200, registered)
    status, deleted = await agent.call("DELETE", f"{API_ACCESS_ACCOUNTS}/{TIMED}")
    assert (status, deleted["status"]) == (200, "deleted")
    assert not (await agent.call("GET", API_ACCESS_ACCOUNTS))[1]["open"]


async def test_the_online_state_check_reads_the_account_the_request_arrives_through(
    center: Center, client: Client
) -> None:
    body = {"account": TIMED, "type": "新年卡"}
    for arriving in (None, "02012345679@17999.e163", "02012345671"):
        status, refusal = await agent_of(center, client, arriving=arriving).call("POST", API_ACCESS_ACCOUNTS, body)
        assert (status, refusal["code"]) == (409, "ACCESS_NOT_ONLINE")
        check("Refusal", refusal)
    status, _ = await agent_of(center, client, arriving=TIMED).call("POST", API_ACCESS_ACCOUNTS, body)
    assert status == 200


async def test_a_password_card_is_registered_and_kept_by_the_system(center: Center, client: Client) -> None:
    agent = agent_of(center, client)
    body = {"account": LEASED, "type": "leased-line"}
    assert (await agent.call("POST", API_ACCESS_ACCOUNTS, body))[1]["code"] == "ACCESS_PASSWORD_REQUIRED"
    status, registered = await agent.call("POST", API_ACCESS_ACCOUNTS, {**body, "password": "ddn-pass"})
    assert status == 200 and "ddn-pass" not in json.dumps(registered)
    status, refusal = await agent.call("DELETE", f"{API_ACCESS_ACCOUNTS}/{LEASED}")
    assert (status, refusal["code"]) == (409, "ACCESS_ACCOUNT_NOT_DELETABLE")


async def test_an_agent_sees_and_touches_its_own_enterprises_accounts_only(center: Center, client: Client) -> None:
    center.access_register(OTHER_ENTERPRISE, LEASED, "leased-line")
    agent = agent_of(center, client)
    assert (await agent.call("GET", API_ACCESS_ACCOUNTS))[1]["accounts"] == []
    for method in ("GET", "DELETE"):
        status, refusal = await agent.call(method, f"{API_ACCESS_ACCOUNTS}/{LEASED}")
        assert (status, refusal["code"]) == (404, "ACCESS_ACCOUNT_NOT_FOUND")


@pytest.mark.parametrize(
    ("method", "path", "body", "signed", "http", "code"),
    [
        ("GET", API_ACCESS_ACCOUNTS, None, False, 401, "DEVICE_UNAUTHORIZED"),
        ("POST", API_ACCESS_ACCOUNTS, {"account": TIMED, "type": "timed"}, False, 401, "DEVICE_UNAUTHORIZED"),
        ("DELETE", f"{API_ACCESS_ACCOUNTS}/{TIMED}", None, False, 401, "DEVICE_UNAUTHORIZED"),
        ("POST", API_ACCESS_ACCOUNTS, ["not", "an", "object"], True, 400, "BAD_REQUEST"),
        ("POST", API_ACCESS_ACCOUNTS, {"account": TIMED, "type": "月卡"}, True, 422, "ACCESS_TYPE_UNKNOWN"),
        ("GET", f"{API_ACCESS_ACCOUNTS}/02012345671", None, True, 422, "ACCESS_ACCOUNT_INVALID"),
    ],
)
async def test_plain_endpoint_refusals(
    center: Center, client: Client, method: str, path: str, body: Any, signed: bool, http: int, code: str
) -> None:
    status, refusal = await agent_of(center, client).call(method, path, body, signed=signed)
    assert (status, refusal["code"]) == (http, code)


async def test_a_device_authorization_is_good_for_its_own_request_only(center: Center, client: Client) -> None:
    agent = agent_of(center, client)
    listing = device_authorization("GET", API_ACCESS_ACCOUNTS, b"", [agent.certificate], software_signer(agent.key))
    response = await client.delete(f"{API_ACCESS_ACCOUNTS}/{TIMED}", headers={"Authorization": listing})
    assert (response.status, (await response.json())["code"]) == (401, "DEVICE_UNAUTHORIZED")


# The center's side: the authority's commands and admin API, the sweep.


def test_the_access_commands(center: Center, db_url: str) -> None:
    code, registered, _ = center_cli(
        db_url, "access", "register", "--enterprise", ENTERPRISE, "--account", LEASED, "--type", "专线卡"
    )
    assert (code, registered["type"], registered["status"]) == (0, "leased-line", "valid")
    code, usage, _ = center_cli(db_url, "access", "record-usage", "--account", LEASED, "--hours", "12.5")
    assert (code, usage) == (0, {"account": LEASED, "hours_used": 12.5})
    grant = ["access", "grant-emergency", "--enterprise", OTHER_ENTERPRISE, "--hours", "8", "--reason", "传真"]
    code, granted, _ = center_cli(db_url, *grant)
    assert code == 0 and granted["reason"] == "传真"
    code, listed, _ = center_cli(db_url, "access", "list", "--enterprise", OTHER_ENTERPRISE)
    assert (code, listed["open"], listed["emergency"]) == (0, True, granted)
    code, ended, _ = center_cli(db_url, "access", "end-emergency", "--enterprise", OTHER_ENTERPRISE)
    assert code == 0 and ended["ended_at"] is not None
    code, refusal, _ = center_cli(db_url, "access", "end-emergency", "--enterprise", OTHER_ENTERPRISE)
    assert (code, refusal["code"]) == (1, "ACCESS_EMERGENCY_NOT_FOUND")
    assert center_cli(db_url, "access", "sweep")[:2] == (0, {"removed": 0})
    listed_plain = run_cli(main, "access", "list", "--db", db_url, "--enterprise", ENTERPRISE)
    assert listed_plain.code == 0 and f"{LEASED} leased-line (专线卡) until " in listed_plain.out


async def test_the_admin_api_runs_the_same_operations(center: Center, client: Client) -> None:
    headers = {"Authorization": f"Bearer {center.create_admin_token('ops')}"}

    async def admin(action: str, body: dict[str, Any]) -> tuple[int, Any]:
        response = await client.post(f"/api/v1/admin/access/{action}", json=body, headers=headers)
        return response.status, await response.json()

    status, registered = await admin("register", {"enterprise": ENTERPRISE, "account": LEASED, "type": "old-annual"})
    assert status == 200
    check("AccessAccount", registered)
    status, granted = await admin("grant-emergency", {"enterprise": OTHER_ENTERPRISE, "hours": 2, "reason": "r"})
    check("Emergency", granted)
    check("AccessAccounts", (await admin("list", {"enterprise": OTHER_ENTERPRISE}))[1])
    check("AccessUsage", (await admin("record-usage", {"account": LEASED, "hours": 1}))[1])
    check("AccessSweep", (await admin("sweep", {}))[1])
    status, refusal = await admin("register", {"enterprise": ENTERPRISE, "account": LEASED, "type": "old-annual"})
    assert (status, refusal["code"]) == (409, "ACCESS_ACCOUNT_EXISTS")
    response = await client.post("/api/v1/admin/access/sweep", json={})
    assert response.status == 401


async def test_the_running_center_sweeps_lapsed_accounts_by_itself(center: Center, clock: Clock) -> None:
    center.access_register(ENTERPRISE, LEASED, "leased-line")
    clock.advance(days=400)

    def removal() -> str | None:
        with center.engine.connect() as conn:
            return conn.scalar(sa.select(db.access_accounts.c.removal))

    async with loopback_client(center, access_sweep_seconds=0.05):
        await eventually(lambda: removal() is not None, 5, "the running center did not sweep the lapsed account")
    assert removal() == "expired"
