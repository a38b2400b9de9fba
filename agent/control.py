"""The local control channel: how `eport-agent unlock`, `status` and `card info` reach the agent that holds the card.

The running agent serves a tiny HTTP API on 127.0.0.1 (a random port) and writes the port and a random bearer token
to ``state/control.json``, readable by the owner only; the file goes away when the agent stops. Only a process that
can read the file can talk to the agent. The PIN travels in the body of one loopback request and is handed to the
card; it is never logged (no access log, and no error message carries it).
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
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web
from aiohttp.typedefs import Handler

from agent.card.errors import CardError, InvalidPinError, PinBlockedError

log = logging.getLogger(__name__)

CONTROL_FILE = "control.json"
HOST = "127.0.0.1"
STATUS, CARD, UNLOCK = "/v1/status", "/v1/card", "/v1/unlock"
MAX_BODY = 4096


class Controlled(Protocol):
    """The part of the agent facade the channel offers."""

    def status(self) -> dict[str, Any]: ...

    def card_info(self) -> dict[str, Any]: ...

    def unlock(self, pin: str) -> None: ...


AGENT: web.AppKey[Controlled] = web.AppKey("agent")
TOKEN = web.AppKey("token", str)


def _answer(status: int, **body: Any) -> web.Response:
    return web.json_response(body, status=status)


@web.middleware
async def _authorized(request: web.Request, handler: Handler) -> web.StreamResponse:
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


def create_control_app(agent: Controlled, token: str) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY, middlewares=[_authorized])
    app[AGENT] = agent
    app[TOKEN] = token
    app.router.add_get(STATUS, get_status)
    app.router.add_get(CARD, get_card)
    app.router.add_post(UNLOCK, post_unlock)
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
        self._runner = web.AppRunner(create_control_app(agent, self.token), access_log=None)
        self.port: int | None = None

    async def start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, HOST, 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        _write_private(self.path, json.dumps({"port": self.port, "token": self.token, "pid": os.getpid()}))
        log.debug("control channel on %s:%d", HOST, self.port)

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
