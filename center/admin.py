"""Bearer tokens of the admin API: made by ``eport-center admin token``, shown once, stored only as a SHA-256; and
the count of failed authentications by client address, which refuses an address that keeps failing for a while.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from center.db import admin_tokens
from center.ledger.identifiers import require_text


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(conn: Connection, name: str, now: dt.datetime) -> str:
    name = require_text(name, "令牌名称", "token name")
    token = secrets.token_urlsafe(32)
    conn.execute(sa.insert(admin_tokens).values(token_sha256=_digest(token), name=name, created_at=now))
    return token


def token_name(conn: Connection, token: str) -> str | None:
    """The name of a valid token, or None. Looked up by digest, so no stored secret is ever compared."""
    name: str | None = conn.scalar(sa.select(admin_tokens.c.name).where(admin_tokens.c.token_sha256 == _digest(token)))
    return name


# Failed admin authentications (docs/SECURITY.md): after FAILURES_ALLOWED within FAILURE_WINDOW seconds from one
# address, that address is refused (429, Retry-After) until the oldest of them is FAILURE_WINDOW old; a request with
# a good token from an address that is not refused is never slowed, and clears the address's count. Counted in each
# process (with ``serve --workers N`` an address gets up to N times as many tries): the tokens are 256 random bits,
# so this stops noise and makes guessing visible in the log rather than guarding the token's strength.
FAILURES_ALLOWED = 5
FAILURE_WINDOW = 60.0
ADDRESSES_TRACKED = 10_000  # the oldest address is forgotten past this, so a flood of addresses cannot fill memory


class FailedLogins:
    """Recent failed authentications by client address, in this process (used on the event loop only)."""

    def __init__(
        self,
        allowed: int = FAILURES_ALLOWED,
        window: float = FAILURE_WINDOW,
        clock: Callable[[], float] = time.monotonic,
        tracked: int = ADDRESSES_TRACKED,
    ) -> None:
        self.allowed, self.window = allowed, window
        self._clock = clock
        self._tracked = tracked
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, address: str, now: float) -> deque[float]:
        failures = self._failures.get(address, deque())
        while failures and now - failures[0] >= self.window:
            failures.popleft()
        return failures

    def retry_after(self, address: str) -> int | None:
        """Seconds until ``address`` may try again, or None if it may now."""
        now = self._clock()
        failures = self._recent(address, now)
        if not failures:
            self._failures.pop(address, None)
        if len(failures) < self.allowed:
            return None
        return max(1, math.ceil(failures[-self.allowed] + self.window - now))

    def failed(self, address: str) -> int:
        """Count a failure of ``address``; how many it has within the window now."""
        now = self._clock()
        failures = self._recent(address, now)
        failures.append(now)
        self._failures[address] = failures
        self._failures.move_to_end(address)
        while len(self._failures) > self._tracked:
            self._failures.popitem(last=False)
        return len(failures)

    def succeeded(self, address: str) -> None:
        self._failures.pop(address, None)
