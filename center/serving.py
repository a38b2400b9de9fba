"""``eport-center serve``: the HTTP API in this process, or ``--workers N`` API processes on one PostgreSQL database.

One process is the default and the only way on SQLite (one file, one writer at a time: more processes would only
queue on its lock). With ``--workers N`` (PostgreSQL) this process sets the database up (schema, keys, their
encryption), then becomes gunicorn's master with N workers of aiohttp's worker class (``center.workers``); the
processes share nothing but the database, so any request may land on any of them.

Before serving: the transport (TLS off loopback), the key passphrase (``center.keyring``, from the environment) and
the keys themselves are checked, and a center serving other machines must keep its keys encrypted.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import ssl
import sys
import tempfile
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from center import logs
from center.app import check_transport, is_loopback, run_center
from center.db import database_url
from center.keyring import PASSPHRASE_FILE_ENV
from center.metrics import MULTIPROC_ENV
from center.service import Center

log = logging.getLogger(__name__)

SETTINGS_ENV = "EPORT_CENTER_SERVE"  # the settings center.workers runs with

SQLITE_WORKERS = (
    "eport-center: --workers {workers} runs {workers} API processes on one database, which needs PostgreSQL "
    "(--db postgresql://...); a SQLite file is served by one process: leave --workers out (docs/OPERATOR.md, "
    "'Several API processes')"
)
UNENCRYPTED_KEYS = (
    "eport-center: the CA and receipt private keys lie unencrypted in the database, and a center serving {host} "
    "must keep them encrypted. Put a passphrase in a file only the center's user can read and name the file in "
    f"{PASSPHRASE_FILE_ENV}: the keys are encrypted at this start (docs/OPERATOR.md, 'The keys at rest')."
)


def add_options(serve: argparse.ArgumentParser) -> None:
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="API processes sharing the database (more than 1 needs PostgreSQL; default 1)",
    )


def _tls_context(args: argparse.Namespace) -> ssl.SSLContext | None:
    if not (args.tls_cert or args.tls_key):
        return None
    if not (args.tls_cert and args.tls_key):
        raise SystemExit("eport-center: --tls-cert and --tls-key go together")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(args.tls_cert, args.tls_key)
    return context


def serve(args: argparse.Namespace) -> int:
    workers: int = args.workers
    if workers < 1:
        raise SystemExit("eport-center: --workers takes a number of processes, 1 or more")
    if workers > 1 and sa.make_url(database_url(args.db)).get_backend_name() == "sqlite":
        raise SystemExit(SQLITE_WORKERS.format(workers=workers))
    context = _tls_context(args)
    check_transport(args.host, context)
    logs.configure()  # before the keys are opened: their encryption at a first start is logged
    with Center.open(args.db) as center:  # the key passphrase from the environment, if any
        center.unlock_keys()
        if not center.keys_encrypted:
            if not is_loopback(args.host):
                raise SystemExit(UNENCRYPTED_KEYS.format(host=args.host))
            log.warning("the CA and receipt keys lie unencrypted in the database (acceptable on loopback only)")
        if workers == 1:
            run_center(center, args.host, args.port, context)
            return 0
    _become_workers(args, workers)
    return 0  # not reached


def _become_workers(args: argparse.Namespace, workers: int) -> None:
    """Replace this process by gunicorn's master (``python -m center.workers``) in a fresh interpreter: the metrics
    library must see its multiprocess directory before it is first imported (``center.metrics``)."""
    settings: dict[str, Any] = {
        "db": args.db,
        "host": args.host,
        "port": args.port,
        "workers": workers,
        "tls_cert": str(Path(args.tls_cert).resolve()) if args.tls_cert else None,
        "tls_key": str(Path(args.tls_key).resolve()) if args.tls_key else None,
    }
    metrics_dir = tempfile.mkdtemp(prefix="eport-center-metrics-")
    env = {**os.environ, SETTINGS_ENV: json.dumps(settings), MULTIPROC_ENV: metrics_dir}
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-m", "center.workers"], env)
