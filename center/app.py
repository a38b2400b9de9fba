"""The center's HTTP API (aiohttp). Routes live in ``create_app``; refusals become answers in one middleware.

Agents use the batch, port and CA endpoints; the authorities use ``/api/v1/admin/...`` with a bearer token (see
``center.operations``); ``/api/v1/openapi.json`` describes all of it (``center.openapi``).

Database work is blocking (SQLite file I/O, and a writer may wait for another writer's ``BEGIN IMMEDIATE``), so it
runs on a small thread pool owned by the app, never on the event loop: one slow batch must not stall the others.

An app holds no state of its own beyond caches: several processes serve one PostgreSQL database side by side
(``center.workers``), and any request may land on any of them. ``/healthz`` tells whether this process reaches the
database and holds its keys; ``/metrics`` serves ``center.metrics``; the access log is ``center.logs``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import os
import ssl
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NoReturn, TypeVar

import sqlalchemy as sa
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from center import access_api, logs, metrics
from center.admin import FailedLogins
from center.limits import check_batch, check_batch_body, read_body
from center.openapi import API_METRICS, API_OPENAPI, openapi_spec
from center.operations import ADMIN_PREFIX, OPERATIONS, Operation
from center.refusals import Refusal
from center.requests import device_enterprise, json_object, parse_json, plain_request
from center.service import Center, Received
from sync.enroll import API_CA, API_ENROLL, API_ENROLL_CHECK
from sync.limits import MAX_BATCH_BYTES, MAX_JSON_DEPTH
from sync.protocol import API_BATCHES, API_PORTS, API_UPDATES

log = logging.getLogger(__name__)
admin_log = logging.getLogger("center.admin")

API_PORT = API_PORTS + "/{port}"
API_ADMIN_FORM = ADMIN_PREFIX + "/forms/{form_no}"
HEALTHZ = "/healthz"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8710
MAX_BODY_BYTES = 64 * 1024 * 1024
DB_WORKERS = 8
ACCESS_SWEEP_SECONDS = 600.0  # how often lapsed 17999 accounts of every enterprise are removed

CENTER = web.AppKey("center", Center)
EXECUTOR = web.AppKey("executor", ThreadPoolExecutor)
ADMIN_FAILURES = web.AppKey("admin_failures", FailedLogins)

T = TypeVar("T")


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


def _refusal_response(refusal: Refusal) -> web.Response:
    # A 429 says when to try again (RFC 9110, Retry-After), as its message does.
    headers = {"Retry-After": str(refusal.facts["seconds"])} if refusal.http_status == 429 else None
    return web.json_response(refusal.as_json(), status=refusal.http_status, headers=headers, dumps=_dumps)


async def _blocking(request: web.Request, fn: Callable[..., T], *args: Any) -> T:
    return await asyncio.get_running_loop().run_in_executor(request.app[EXECUTOR], fn, *args)


def _refused(request: web.Request, refusal: Refusal) -> web.Response:
    request[logs.REFUSAL_CODE] = refusal.code
    metrics.REFUSALS.labels(refusal.code).inc()
    return _refusal_response(refusal)


def _refusals_middleware(max_body: int) -> Middleware:
    @web.middleware
    async def refusals(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except Refusal as refusal:
            return _refused(request, refusal)
        except web.HTTPRequestEntityTooLarge:
            return _refused(request, Refusal("PAYLOAD_TOO_LARGE", limit_mb=max_body // (1024 * 1024)))
        except web.HTTPException:
            raise  # 404/405 and friends keep aiohttp's own answer
        except RecursionError:  # JSON nested deeper than a parser goes, in any endpoint: malformed, not a 500
            return _refused(request, Refusal("BAD_REQUEST", detail=f"JSON nested deeper than {MAX_JSON_DEPTH} levels"))
        except Exception:
            # Nothing was committed (a batch is one transaction); the agent may resend the same batch id.
            log.exception("unexpected error on %s %s", request.method, request.path)
            return _refused(request, Refusal("INTERNAL_ERROR"))

    return refusals


@web.middleware
async def _metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count every answer by route template and status, and time it (the outermost middleware)."""
    started = time.perf_counter()
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        metrics.REQUESTS.labels(route, request.method, str(status)).inc()
        metrics.REQUEST_SECONDS.labels(route).observe(time.perf_counter() - started)


def _receive(center: Center, body: bytes) -> Received:
    # Bounded work (center.limits): size and structure before the parse, records, forms and conditions before the
    # signature is checked and the write lock taken.
    check_batch_body(body)
    document = parse_json(body)  # depth-limited
    check_batch(document)
    return center.receive(document)


async def post_enroll(request: web.Request) -> web.Response:
    """A certificate for the key that signed the request, against a one-time enrollment code (sync.enroll)."""
    body = await read_body(request)
    answer = await _blocking(request, request.app[CENTER].enroll, body)
    return web.json_response(answer, dumps=_dumps)


async def post_enroll_check(request: web.Request) -> web.Response:
    """What a one-time enrollment code would enroll, if it can be used now; nothing changes."""
    body = await read_body(request)
    answer = await _blocking(request, request.app[CENTER].check_enrollment, body)
    return web.json_response(answer, dumps=_dumps)


async def post_batch(request: web.Request) -> web.Response:
    started = time.perf_counter()
    body = await read_body(request, MAX_BATCH_BYTES)
    try:
        received = await _blocking(request, _receive, request.app[CENTER], body)
    except Refusal:
        metrics.BATCH_SECONDS.labels("refused").observe(time.perf_counter() - started)
        raise
    # The answer as stored: a resent batch gets the very bytes it got the first time.
    response = web.Response(text=received.text, content_type="application/json")
    metrics.observe_batch(received.kind, received.applied, time.perf_counter() - started)
    return response


async def get_ports(request: web.Request) -> web.Response:
    """The whole table, or with ``?q=`` the pick-list for part of a port's name or code."""
    center = request.app[CENTER]
    text = request.query.get("q")
    ports = (
        await _blocking(request, center.ports) if text is None else await _blocking(request, center.search_ports, text)
    )
    return web.json_response(ports, dumps=_dumps)


async def get_port(request: web.Request) -> web.Response:
    """One port by its code or exact name."""
    text = request.match_info["port"]
    port = await _blocking(request, request.app[CENTER].port, text)
    if port is None:
        raise Refusal("PORT_NOT_FOUND", port=text)
    return web.json_response(port, dumps=_dumps)


async def get_updates(request: web.Request) -> web.Response:
    """The update feed of the enterprise whose agent (device credential) asks."""
    center = request.app[CENTER]
    enterprise = await _blocking(request, device_enterprise, center, await plain_request(request))
    try:
        after, limit = int(request.query.get("after", "0")), int(request.query.get("limit", "1000"))
    except ValueError:
        raise Refusal("BAD_REQUEST", detail="after and limit are whole numbers") from None
    updates = await _blocking(request, center.updates, enterprise, after, limit)
    metrics.observe_feed(updates)
    return web.json_response({"updates": updates}, dumps=_dumps)


async def get_openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_spec(), dumps=_dumps)


async def _require_admin(request: web.Request) -> None:
    """A valid bearer token, from an address that has not failed too often just now (center.admin.FailedLogins)."""
    failures = request.app[ADMIN_FAILURES]
    address = request.remote or "unknown"
    wait = failures.retry_after(address)
    if wait is not None:  # refused without looking at the token: a guess made now tells nothing
        raise Refusal("ADMIN_RATE_LIMITED", seconds=wait, limit=failures.allowed, window=int(failures.window))
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        _admin_failed(request, failures, address, "no bearer token")
    if await _blocking(request, request.app[CENTER].admin_token_name, token) is None:
        _admin_failed(request, failures, address, "unknown token")
    failures.succeeded(address)


def _admin_failed(request: web.Request, failures: FailedLogins, address: str, reason: str) -> NoReturn:
    """Count and log a failed admin authentication (the address, the request and why; never what was presented)."""
    count = failures.failed(address)
    fields = {"remote": address, "method": request.method, "path": request.path, "reason": reason, "failures": count}
    admin_log.warning("admin authentication failed from %s: %s", address, reason, extra=fields)
    if count == failures.allowed:
        admin_log.warning(
            "admin authentication: %s failed %d times within %d s and is refused for a while",
            address,
            count,
            int(failures.window),
            extra=fields,
        )
    raise Refusal("ADMIN_UNAUTHORIZED")


def admin_operation(operation: Operation) -> Handler:
    """The admin endpoint of one authority operation: a JSON object of its arguments in, its outcome out."""

    async def handle(request: web.Request) -> web.StreamResponse:
        await _require_admin(request)
        body = json_object(await read_body(request), "the body must be a JSON object of the operation's arguments")
        outcome = await _blocking(request, operation.call, request.app[CENTER], body)
        return web.json_response(outcome, dumps=_dumps)

    return handle


async def get_admin_form(request: web.Request) -> web.Response:
    """Any enterprise's form, as the authorities see it."""
    await _require_admin(request)
    form_no = request.match_info["form_no"]
    form = await _blocking(request, request.app[CENTER].form, form_no)
    if form is None:
        raise Refusal("FORM_NOT_FOUND", form_no=form_no)
    return web.json_response(form, dumps=_dumps)


async def get_ca(request: web.Request) -> web.Response:
    return web.Response(text=request.app[CENTER].ca_certificate_pem(), content_type="application/x-pem-file")


async def access_endpoint(request: web.Request) -> web.Response:
    """17999 access accounts and card permissions: plain endpoints, answered by center.access_api."""
    answer = await _blocking(request, access_api.handle, request.app[CENTER], await plain_request(request))
    return web.json_response(answer, dumps=_dumps)


async def _sweep_access(app: web.Application, interval: float) -> None:
    """Remove lapsed 17999 accounts now and every ``interval`` seconds, unless another process of this center just
    did (``Center.scheduled_access_sweep``); a failed sweep is retried next time."""
    center = app[CENTER]
    while True:
        try:
            swept = await asyncio.get_running_loop().run_in_executor(
                app[EXECUTOR], center.scheduled_access_sweep, interval
            )
            metrics.SWEEPS.labels("skipped" if swept is None else "ran").inc()
        except Exception:
            log.exception("the sweep of lapsed 17999 accounts failed")
        await asyncio.sleep(interval)


def _ping(center: Center) -> None:
    with center.engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))


async def healthz(request: web.Request) -> web.Response:
    """Whether this process can serve: it reaches the database and holds the CA and receipt keys (503 if not)."""
    center = request.app[CENTER]
    try:
        await _blocking(request, _ping, center)
        database = "ok"
    except Exception as exc:
        log.warning("health check: the database is unreachable: %s", exc.__class__.__name__)
        database = "unreachable"
    keys = "loaded" if center.keys_loaded else "not loaded"
    healthy = database == "ok" and center.keys_loaded
    answer = {"status": "ok" if healthy else "unavailable", "database": database, "keys": keys, "pid": os.getpid()}
    return web.json_response(answer, status=200 if healthy else 503)


async def get_metrics(request: web.Request) -> web.Response:
    """The metrics in Prometheus text format (all worker processes' together; see center.metrics)."""
    text = await asyncio.get_running_loop().run_in_executor(request.app[EXECUTOR], metrics.exposition)
    response = web.Response(body=text)
    response.headers["Content-Type"] = metrics.CONTENT_TYPE
    return response


def create_app(
    center: Center,
    *,
    max_body_bytes: int = MAX_BODY_BYTES,
    db_workers: int = DB_WORKERS,
    access_sweep_seconds: float = ACCESS_SWEEP_SECONDS,
    admin_failures: FailedLogins | None = None,
) -> web.Application:
    """The HTTP application over ``center``. The caller owns the center (and closes it)."""
    app = web.Application(
        client_max_size=max_body_bytes, middlewares=[_metrics_middleware, _refusals_middleware(max_body_bytes)]
    )
    app[CENTER] = center
    app[ADMIN_FAILURES] = admin_failures if admin_failures is not None else FailedLogins()

    async def executor_ctx(app: web.Application) -> AsyncIterator[None]:
        executor = ThreadPoolExecutor(max_workers=db_workers, thread_name_prefix="center-db")
        app[EXECUTOR] = executor
        # The keys are opened before the first request: a missing or wrong passphrase stops the start, clearly.
        await asyncio.get_running_loop().run_in_executor(executor, center.unlock_keys)
        yield
        executor.shutdown(wait=True)

    async def access_sweep_ctx(app: web.Application) -> AsyncIterator[None]:
        sweep = asyncio.create_task(_sweep_access(app, access_sweep_seconds))
        yield
        sweep.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweep

    app.cleanup_ctx.append(executor_ctx)
    app.cleanup_ctx.append(access_sweep_ctx)  # after the executor: stopped before it is shut down
    app.router.add_post(API_BATCHES, post_batch)
    app.router.add_get(API_PORTS, get_ports)
    app.router.add_get(API_PORT, get_port)
    app.router.add_get(API_CA, get_ca)
    app.router.add_post(API_ENROLL, post_enroll)
    app.router.add_post(API_ENROLL_CHECK, post_enroll_check)
    app.router.add_get(API_OPENAPI, get_openapi)
    app.router.add_get(API_UPDATES, get_updates)
    app.router.add_get(HEALTHZ, healthz)
    app.router.add_get(API_METRICS, get_metrics)
    app.router.add_get(API_ADMIN_FORM, get_admin_form)
    for operation in OPERATIONS:
        app.router.add_post(operation.path, admin_operation(operation))
    for method, path in access_api.ROUTES:
        app.router.add_route(method, path, access_endpoint)
    return app


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def check_transport(host: str, ssl_context: ssl.SSLContext | None) -> None:
    # docs/ARCHITECTURE.md, The wire: TLS on the network, plain HTTP only on loopback.
    if ssl_context is None and not is_loopback(host):
        raise ValueError(f"plain HTTP is only allowed on loopback; give a TLS certificate to serve on {host}")


def run_center(
    center: Center, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, ssl_context: ssl.SSLContext | None = None
) -> None:
    """Serve until interrupted (Ctrl+C / SIGTERM). The caller closes the center afterwards."""
    check_transport(host, ssl_context)
    web.run_app(
        create_app(center),
        host=host,
        port=port,
        ssl_context=ssl_context,
        print=log.info,  # "Running on ...", a log line like the others
        access_log=logs.access_logger(),
        access_log_class=logs.JsonAccessLogger,
    )


async def start_center(
    center: Center, host: str = DEFAULT_HOST, port: int = 0, ssl_context: ssl.SSLContext | None = None
) -> tuple[web.AppRunner, int]:
    """Serve inside a running event loop (the agent's demo, tests); returns the runner and the bound port.

    Stop with ``await runner.cleanup()``.
    """
    check_transport(host, ssl_context)
    runner = web.AppRunner(create_app(center))
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
    await site.start()
    bound: int = runner.addresses[0][1]
    return runner, bound
