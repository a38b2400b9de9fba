"""The local control channel: how `eport-agent unlock`, `status` and `card info` reach the agent that holds the card.

The running agent serves a tiny HTTP API on 127.0.0.1 (a random port) and writes the port and a random bearer token
to ``state/control.json``, readable by the owner only; the file goes away when the agent stops. Only a process that
can read the file can talk to the agent. The PIN travels in the body of one loopback request and is handed to the
card; it is never logged (no access log, and no error message carries it).

The same server serves the clerk's status page under ``/page`` (``page/``, loaded at its first request). A browser
gets in through a one-time link (``page_link``: the tray's menu, ``eport-agent status``) that only a holder of the
token can have made; the page then keeps the token in a cookie of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import http.client
import json
import logging
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, cast

from aiohttp import web
from aiohttp.typedefs import Handler

from agent.card.errors import CardError, InvalidPinError, PinBlockedError

log = logging.getLogger(__name__)

CONTROL_FILE = "control.json"
HOST = "127.0.0.1"
STATUS, CARD, UNLOCK = "/v1/status", "/v1/card", "/v1/unlock"
PAGE, PAGE_LINK = "/page", "/v1/page-link"
MAX_BODY = 4096
LINK_SECONDS = 600.0  # how long a page link may wait to be opened


class Controlled(Protocol):
    """The part of the agent facade the channel offers."""

    def status(self) -> dict[str, Any]: ...

    def card_info(self) -> dict[str, Any]: ...

    def unlock(self, pin: str) -> None: ...


class PageLogins:
    """One-time tickets for the status page's link: the long-lived token never appears in a URL."""

    def __init__(self, port: Callable[[], int | None]) -> None:
        self._port = port
        self._tickets: dict[str, float] = {}

    def link(self) -> str:
        now = time.monotonic()
        self._tickets = {t: until for t, until in self._tickets.items() if until > now}
        ticket = secrets.token_urlsafe(24)
        self._tickets[ticket] = now + LINK_SECONDS
        return f"http://{HOST}:{self._port()}{PAGE}/login?ticket={ticket}"

    def redeem(self, ticket: str) -> bool:
        """Whether ``ticket`` is a link's, unused and in time; it is used up either way."""
        until = self._tickets.pop(ticket, None)
        return until is not None and until > time.monotonic()


AGENT: web.AppKey[Controlled] = web.AppKey("agent")
TOKEN = web.AppKey("token", str)
LOGINS = web.AppKey("logins", PageLogins)


def _answer(status: int, **body: Any) -> web.Response:
    return web.json_response(body, status=status)


@web.middleware
async def _authorized(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path == PAGE or request.path.startswith(f"{PAGE}/"):
        return await handler(request)  # the page asks for its own cookie (page/access.py)
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), request.app[TOKEN].encode()):
        return _answer(401, error="unauthorized", message="a valid control token is required")
    return await handler(request)


async def _blocking(fn: Any, *args: Any) -> Any:
    """Store reads and card I/O run off the agent's event loop."""
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


async def get_status(request: web.Request) -> web.Response:
    return web.json_response(await _blocking(request.app[AGENT].status))


async def get_card(request: web.Request) -> web.Response:
    return web.json_response(await _blocking(request.app[AGENT].card_info))


async def post_unlock(request: web.Request) -> web.Response:
    try:
        body = json.loads(await request.read())
    except ValueError:
        return _answer(400, error="bad_request", message="the body must be JSON")
    pin = body.get("pin") if isinstance(body, dict) else None
    if not isinstance(pin, str):
        return _answer(400, error="bad_request", message="the body must be an object with the PIN as text")
    try:
        await _blocking(request.app[AGENT].unlock, pin)
    except InvalidPinError as exc:
        return _answer(409, error="wrong_pin", tries_left=exc.tries_left, message=str(exc))
    except PinBlockedError as exc:
        return _answer(409, error="blocked", message=str(exc))
    except CardError as exc:
        return _answer(409, error="card", message=str(exc))
    except ValueError as exc:  # the PIN's format; the message never repeats the PIN
        return _answer(400, error="bad_pin", message=str(exc))
    return _answer(200, card="unlocked")


async def post_page_link(request: web.Request) -> web.Response:
    return _answer(200, url=request.app[LOGINS].link())


async def serve_page(request: web.Request) -> web.StreamResponse:
    """The status page: its code is loaded at the first request, so an agent nobody looks at never loads it."""
    from page.server import PageFacade, handle

    # The agent facade (agent.facade.Agent) is what the channel serves, and it is the page's facade too.
    return await handle(request, cast(PageFacade, request.app[AGENT]), request.app[TOKEN], request.app[LOGINS])


def create_control_app(agent: Controlled, token: str, logins: PageLogins | None = None) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY, middlewares=[_authorized])
    app[AGENT] = agent
    app[TOKEN] = token
    app[LOGINS] = logins or PageLogins(lambda: None)
    app.router.add_get(STATUS, get_status)
    app.router.add_get(CARD, get_card)
    app.router.add_post(UNLOCK, post_unlock)
    app.router.add_post(PAGE_LINK, post_page_link)
    app.router.add_route("*", PAGE, serve_page)
    app.router.add_route("*", PAGE + "/{rest:.*}", serve_page)
    return app


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` readable by the owner only (POSIX mode 0600; on Windows the per-user profile folder guards it).

    Created with that mode from the start and swapped in whole, so no reader ever sees a partial or open file.
    """
    temporary = path.with_name(path.name + ".tmp")
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()  # a leftover may carry wider rights; O_EXCL below then creates it afresh
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(text)
    os.replace(temporary, path)


class ControlServer:
    """Serves the channel for one agent; ``start`` publishes it in ``path``, ``stop`` withdraws it."""

    def __init__(self, agent: Controlled, path: Path) -> None:
        self.path = path
        self.token = secrets.token_urlsafe(32)
        self.port: int | None = None
        self.logins = PageLogins(lambda: self.port)
        # No access log: the page's one-time links and the channel's requests are nobody's to read.
        self._runner = web.AppRunner(create_control_app(agent, self.token, self.logins), access_log=None)

    async def start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, HOST, 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        _write_private(self.path, json.dumps({"port": self.port, "token": self.token, "pid": os.getpid()}))
        log.debug("control channel on %s:%d", HOST, self.port)

    def page_link(self) -> str:
        return self.logins.link()

    async def stop(self) -> None:
        # Another agent started on this workspace since may own the file now: only our own is removed.
        with contextlib.suppress(OSError, ValueError):
            if json.loads(self.path.read_text(encoding="utf-8")).get("token") == self.token:
                self.path.unlink()
        await self._runner.cleanup()


class AgentNotRunning(Exception):
    """No agent answers on this workspace's control channel."""


class ControlClient:
    """Blocking client of the channel, for the command line."""

    def __init__(self, port: int, token: str, timeout: float = 30.0) -> None:
        self.port, self.token, self.timeout = port, token, timeout

    @classmethod
    def for_state(cls, state: Path) -> ControlClient:
        """The client for the agent that published ``state/control.json``; AgentNotRunning when there is none."""
        try:
            found = json.loads((state / CONTROL_FILE).read_text(encoding="utf-8"))
            return cls(int(found["port"]), str(found["token"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise AgentNotRunning(f"no running agent has published {state / CONTROL_FILE}") from exc

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
        connection = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)  # loopback only, by design
        try:
            connection.request(
                method,
                path,
                body=json.dumps(body) if body is not None else None,
                headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
            )
            response = connection.getresponse()
            answer = json.loads(response.read() or b"{}")
        except ConnectionRefusedError as exc:
            raise AgentNotRunning("the agent that published the control channel is gone") from exc
        except (OSError, ValueError, http.client.HTTPException) as exc:
            raise AgentNotRunning(f"the agent does not answer on its control channel: {exc}") from exc
        finally:
            connection.close()
        if response.status == 401:
            raise AgentNotRunning("the agent refused the control token (is it another agent's control file?)")
        return response.status, answer

    def status(self) -> dict[str, Any]:
        return self._request("GET", STATUS)[1]

    def card_info(self) -> dict[str, Any]:
        return self._request("GET", CARD)[1]

    def page_link(self) -> str:
        """A one-time link that opens the running agent's status page."""
        return str(self._request("POST", PAGE_LINK)[1]["url"])

    def unlock(self, pin: str) -> None:
        """Unlock the agent's card; raises the card's own errors (InvalidPinError with tries left, ...)."""
        status, answer = self._request("POST", UNLOCK, {"pin": pin})
        if status == 200:
            return
        error, message = answer.get("error"), str(answer.get("message", ""))
        if error == "wrong_pin":
            raise InvalidPinError(int(answer["tries_left"]))
        if error == "blocked":
            raise PinBlockedError()
        if error == "bad_pin":
            raise ValueError(message)
        raise CardError(message or f"the agent answered HTTP {status}")
