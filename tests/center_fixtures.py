"""Fixtures shared by the center's tests: every test that asks for ``db_url`` runs on SQLite and, when
EPORT_TEST_POSTGRES_URL is set, on PostgreSQL too. A test file may override ``center`` to set up more."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from center.app import create_app
from center.service import Center
from tests.test_center_support import BACKENDS, Client, Clock, Desk, center_database, enroll, open_center


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with center_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def center(db_url: str) -> Iterator[Center]:
    with open_center(db_url) as center:
        yield center


@pytest.fixture
async def client(center: Center) -> AsyncIterator[Client]:
    async with TestClient(TestServer(create_app(center), host="127.0.0.1")) as client:
        yield client


@pytest.fixture
def desk(center: Center, client: Client) -> Desk:
    return Desk(center, client, enroll(center))


@pytest.fixture
def clock() -> Clock:
    """A clock the test moves by hand (validity periods, expiry)."""
    return Clock()
