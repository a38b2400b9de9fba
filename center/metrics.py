"""The center's metrics, served at ``GET /metrics`` in Prometheus text format (prometheus-client).

One process: the library's default registry (with its process and Python collectors). Several processes (``serve
--workers N``): the library's multiprocess mode. ``PROMETHEUS_MULTIPROC_DIR`` is set before the library is first
imported (``center.workers`` runs in a fresh interpreter for that), each process writes its own files there, and
``/metrics`` in any process adds up all of them, so a scrape that lands on any worker sees the whole center.

Labels carry no enterprise, form or person: routes are path templates, kinds and codes are the fixed vocabularies.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as prometheus_multiprocess

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST

# From a one-record batch on an idle center (~5 ms) to a 1,000-form range queued behind others.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.175, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# How long a change waited in the feed before its agent pulled it: agents poll every minute or so.
FEED_LAG_BUCKETS = (0.1, 0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0, 86400.0)

REQUESTS = Counter(
    "eport_center_http_requests",
    "HTTP requests answered, by route (path template), method and status",
    ["route", "method", "status"],
)
REQUEST_SECONDS = Histogram(
    "eport_center_http_request_duration_seconds",
    "Time from a request's arrival to its answer, by route",
    ["route"],
    buckets=LATENCY_BUCKETS,
)
BATCH_SECONDS = Histogram(
    "eport_center_batch_duration_seconds",
    "Time to answer a signed batch (reading it, waiting for a database thread, checking and applying it, the "
    "receipt), by kind; a batch refused whole is kind 'refused'",
    ["kind"],
    buckets=LATENCY_BUCKETS,
)
BATCHES = Counter(
    "eport_center_batches",
    "Signed batches answered, by kind and whether they were applied now or answered from the stored answer of "
    "the same batch id (replayed)",
    ["kind", "outcome"],
)
RECORDS = Counter(
    "eport_center_records",
    "Results of the records applied (one per form of a range), by batch kind and outcome (OK or the refusal code); "
    "a replayed batch is not counted again",
    ["kind", "outcome"],
)
REFUSALS = Counter(
    "eport_center_refusals",
    "Requests refused whole, by refusal code (docs/OPERATOR.md, Refusal codes)",
    ["code"],
)
FEED_ENTRIES = Counter("eport_center_feed_entries", "Update-feed entries handed to agents")
FEED_LAG_SECONDS = Histogram(
    "eport_center_feed_lag_seconds",
    "Feed lag: at each pull that returns entries, how long the oldest of them had waited since the change",
    buckets=FEED_LAG_BUCKETS,
)
SWEEPS = Counter(
    "eport_center_access_sweeps",
    "Periodic sweeps of lapsed 17999 accounts by this center's processes: ran, or skipped because another process "
    "had just done it",
    ["outcome"],
)


def multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


def exposition() -> bytes:
    """The text a scrape gets: this process's metrics, or in multiprocess mode all processes' added up."""
    if not multiprocess():
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    prometheus_multiprocess.MultiProcessCollector(registry)
    return generate_latest(registry)


def process_died(pid: int) -> None:
    """Tidy up after a worker process that exited (gunicorn's ``child_exit``)."""
    prometheus_multiprocess.mark_process_dead(pid)


def observe_batch(kind: str, applied: dict[str, Any] | None, seconds: float) -> None:
    """A batch answered: ``applied`` its new answer, or None when it was the stored answer of a resent batch."""
    BATCH_SECONDS.labels(kind).observe(seconds)
    BATCHES.labels(kind, "replayed" if applied is None else "applied").inc()
    if applied is None:
        return
    counts: dict[str, int] = {}
    for result in applied.get("results", ()):
        code = str(result.get("code", ""))
        counts[code] = counts.get(code, 0) + 1
    for code, count in counts.items():
        RECORDS.labels(kind, code).inc(count)


def observe_feed(entries: Iterable[dict[str, Any]], now: float | None = None) -> None:
    """A pull of the update feed that handed out ``entries`` (``at``: ISO time of each change)."""
    listed = list(entries)
    if not listed:
        return
    FEED_ENTRIES.inc(len(listed))
    oldest = min(datetime.fromisoformat(str(entry["at"])).timestamp() for entry in listed)
    FEED_LAG_SECONDS.observe(max(0.0, (time.time() if now is None else now) - oldest))
