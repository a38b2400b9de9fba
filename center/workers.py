"""``eport-center serve --workers N``: gunicorn's master with N workers of aiohttp's worker class
(``aiohttp.GunicornWebWorker``), all serving the center's app on one PostgreSQL database.

Run by ``center.serving`` (never by hand: it sets the database up and checks the keys first) as ``python -m
center.workers`` with its settings in ``EPORT_CENTER_SERVE`` and ``PROMETHEUS_MULTIPROC_DIR`` naming a fresh folder
for the metrics of all the processes (``center.metrics``), which the master removes when it stops.

Each worker opens its own engine after the fork (connections are never shared across processes), opens the keys
with the passphrase from the environment, and answers any request: the processes share no state but the database.
The master restarts a worker that dies and stops them all, letting requests in flight finish, on SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.worker import GunicornWebWorker
from gunicorn.app.base import BaseApplication

from center import logs, metrics
from center.app import create_app
from center.service import Center
from center.serving import SETTINGS_ENV

GRACEFUL_SECONDS = 30


def _bind(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def app_factory(db: str) -> Callable[[], Awaitable[web.AppRunner]]:
    """What each worker runs after the fork: the center's app over an engine of its own."""

    async def factory() -> web.AppRunner:
        center = await asyncio.to_thread(Center.open, db)  # the key passphrase from the environment
        app = create_app(center)

        async def close(app: web.Application) -> None:
            center.close()

        app.on_cleanup.append(close)
        return web.AppRunner(
            app,
            access_log=logs.access_logger(),
            access_log_class=logs.JsonAccessLogger,
            shutdown_timeout=GRACEFUL_SECONDS * 0.9,
        )

    return factory


class CenterWorker(GunicornWebWorker):
    """aiohttp's worker, serving TLS with the same context as one process does (``center.serving``): the standard
    library's defaults for a server, not a context built from gunicorn's deprecated ``ssl_version``."""

    @staticmethod
    def _create_ssl_context(cfg: Any) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cfg.certfile, cfg.keyfile)
        return context


def _child_exit(server: Any, worker: Any) -> None:
    metrics.process_died(worker.pid)


def _on_exit(server: Any) -> None:
    shutil.rmtree(os.environ[metrics.MULTIPROC_ENV], ignore_errors=True)


class CenterWorkers(BaseApplication):
    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        s = self.settings
        config: dict[str, Any] = {
            "bind": [_bind(s["host"], s["port"])],
            "workers": s["workers"],
            "worker_class": "center.workers.CenterWorker",
            "proc_name": "eport-center",
            "graceful_timeout": GRACEFUL_SECONDS,
            "timeout": 60,  # a worker whose event loop has not ticked for a minute is replaced
            "logconfig_dict": logs.logging_config(),
            "child_exit": _child_exit,
            "on_exit": _on_exit,
            "certfile": s.get("tls_cert"),
            "keyfile": s.get("tls_key"),
            "control_socket_disable": True,  # gunicorn >= 25.1: no control socket in the user's home
        }
        for key, value in config.items():
            if value is not None and key in self.cfg.settings:
                self.cfg.set(key, value)

    def load(self) -> Callable[[], Awaitable[web.AppRunner]]:
        return app_factory(self.settings["db"])


def main() -> None:
    if not os.environ.get(metrics.MULTIPROC_ENV):
        raise SystemExit("center.workers is started by 'eport-center serve --workers N'")
    settings = json.loads(os.environ[SETTINGS_ENV])
    CenterWorkers(settings).run()


if __name__ == "__main__":
    main()
