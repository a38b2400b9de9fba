"""The center under many agents at once, over HTTP, on PostgreSQL, with N API processes (issue: the center in
production).

A throwaway PostgreSQL cluster is started (initdb into a temporary folder, as the ``postgres`` user when run as root,
``pg_ctl start`` on loopback with its default, durable settings; stopped by its own data folder and removed at the
end). One template database is set up through the center's own facade: per simulated agent an enterprise with its
17999 account, an operator key (the card) and a device key both enrolled with the CA, ``--forms`` issued forms, and
``--declared`` of them filed, used by customs and declared, ready to be submitted. The CA and receipt keys are
encrypted with a passphrase given in a file, as in production.

For each N of ``--workers`` a copy of the template is served by ``eport-center serve --workers N`` and the agents
run, each as the real agent does on the wire (``sync.client.CenterClient``: batches signed with the card's key, feed
pulls authorised by the device key):

1. *paced* (``--seconds``): each agent sends a batch every ``--batch-every`` seconds on average (Poisson) and pulls
   its update feed every ``--poll-every`` seconds, moving its cursor as the agent does. A batch is filings (55 %),
   submissions (25 %; of forms whose declaration the agent saw arrive in its feed) or a combined query (20 %), of
   1-200 records (half 1-10, 30 % 11-50, 15 % 51-150, 5 % 151-200). 2 % of the batches are sent twice at once (an
   agent resending after a lost answer). Customs uses (and declares) 30 % of the filed forms through the admin API
   meanwhile, so the feed carries changes the agents did not make.
2. *saturated* (``--saturation-seconds``): every agent sends its next batch as soon as the last one is answered; the
   capacity for batches.
3. *pulls* (``--pull-seconds``): every agent pulls its feed back to back and sends nothing; the capacity for feed
   pulls (at the national scale the most frequent request: docs/SCALING.md).

Each agent starts with its cursor at the end of the set-up's feed, as a running agent has pulled its history long
since. Each phase reports its batches and records per second, latencies, feed pulls, and the cores the center's
processes, PostgreSQL, this load generator and the whole machine kept busy (from /proc).

Then every agent pulls its feed to the end, every receipt is checked as the agent checks it, and the database is
compared with what was sent: each batch stored once, the events of every applied record there exactly once, every
feed entry of an enterprise delivered to its agent once and in order, and ``/metrics`` (all workers together) agreeing.

    python bench/center_load.py [--agents 1000] [--workers 1 2] [--seconds 120] [--saturation-seconds 30]
                                [--pull-seconds 15] [--batch-every 60] [--poll-every 60]

Prints one JSON object; ``errors`` must be 0 and ``verified`` true.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter, deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from center.db import batches, database_url, form_events
from center.keyring import PASSPHRASE_FILE_ENV
from center.service import Center
from sync.client import CenterClient, CenterError, DeviceCredential
from sync.protocol import (
    SignatureError,
    batch_document,
    canonical_json,
    sign_detached,
    software_signer,
    verify_answer,
)

PORTS = ("5300", "2200", "深圳海关", "5100", "上海海关")
KINDS = (("filings", 0.55), ("submissions", 0.25), ("queries", 0.20))
SIZES = ((0.50, 1, 10), (0.30, 11, 50), (0.15, 51, 150), (0.05, 151, 200))
RESEND_SHARE = 0.02
CUSTOMS_SHARE = 0.30
CUSTOMS_WORKERS = 4
SETUP_THREADS = 8
TIMEOUT = 600.0  # a saturated center queues; an answer is waited for, never given up on
FEED_LIMIT = 1000


# A throwaway PostgreSQL cluster (as scripts/test.sh starts one).


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Postgres:
    """initdb + pg_ctl in a temporary folder, on a loopback port; stopped by its own data folder."""

    def __init__(self, root: Path) -> None:
        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
        if not bins:
            raise SystemExit("PostgreSQL is not installed: run scripts/install.sh")
        self.bin = bins[-1]
        self.dir = root / "postgres"
        self.dir.mkdir()
        self.port = _free_port()
        self.root = os.geteuid() == 0
        if self.root:
            shutil.chown(self.dir, "postgres")

    def _run(self, *argv: str) -> None:
        command = ["runuser", "-u", "postgres", "--", *argv] if self.root else list(argv)
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start(self) -> None:
        data = self.dir / "data"
        self._run(str(self.bin / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8")
        options = f"-k {self.dir} -p {self.port} -c listen_addresses=127.0.0.1 -c max_connections=200"
        log = str(self.dir / "server.log")
        self._run(str(self.bin / "pg_ctl"), "-D", str(data), "-l", log, "-w", "-o", options, "start")

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "fast", "-w", "stop")

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def admin(self, sql: str) -> None:
        engine = sa.create_engine(database_url(self.url("postgres")), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql(sql)
        finally:
            engine.dispose()

    def postmaster_pid(self) -> int:
        return int((self.dir / "data" / "postmaster.pid").read_text().split()[0])


# CPU time of process trees, from /proc (who used the 2 cores).


def _children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process, its live descendants and the children it reaped (PostgreSQL's
    backends come and go; gunicorn replaces workers)."""
    total, ticks = 0.0, os.sysconf("SC_CLK_TCK")
    pending = [pid]
    while pending:
        current = pending.pop()
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(v) for v in fields[11:15]) / ticks  # utime, stime, cutime, cstime
            pending += _children(current)
    return total


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (all cores), from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


# The simulated agents.


@dataclass
class Seed:
    """What the set-up made for one agent."""

    enterprise: str
    card_key: ec.EllipticCurvePrivateKey
    card_cert: x509.Certificate
    device_key: ec.EllipticCurvePrivateKey
    device_cert: x509.Certificate
    unused: list[str]
    declared: list[str]
    cursor: int  # the last feed entry of the set-up: a running agent has pulled its history long since


@dataclass
class Sent:
    kind: str
    records: int
    seconds: float
    phase: str


@dataclass
class Agent:
    seed: Seed
    client: CenterClient
    unused: deque[str]
    declared: deque[str]
    cursor: int = 0
    received: list[int] = field(default_factory=list)
    batch_no: int = 0
    sent: list[Sent] = field(default_factory=list)
    answers: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)  # (payload, answer)
    ok: Counter[str] = field(default_factory=Counter)  # OK results by kind
    duplicates: int = 0
    identical: int = 0
    polls: list[tuple[str, float]] = field(default_factory=list)  # (phase, seconds) of each feed pull
    pulling: asyncio.Lock = field(default_factory=asyncio.Lock)  # an agent pulls its feed one page at a time


class Run:
    """The agents, the customs actor and their tallies against one served center."""

    def __init__(
        self,
        seeds: list[Seed],
        base: str,
        ca: x509.Certificate,
        admin_token: str,
        rng: random.Random,
        watch: dict[str, int],
    ):
        self.base, self.ca, self.rng, self.watch = base, ca, rng, watch
        self.admin = {"Authorization": f"Bearer {admin_token}"}
        self.agents = [
            Agent(
                seed,
                CenterClient(
                    base,
                    timeout=TIMEOUT,
                    device=DeviceCredential([seed.device_cert], software_signer(seed.device_key)),
                ),
                deque(seed.unused),
                deque(seed.declared),
                seed.cursor,
            )
            for seed in seeds
        ]
        self.errors: list[str] = []
        self.customs_queue: asyncio.Queue[tuple[Agent, str, str]] = asyncio.Queue()
        self.customs_ok: Counter[tuple[str, str]] = Counter()
        self.customs_seconds: list[float] = []
        self.declaration_serial = 0
        self.phase = ""
        self.deadline = 0.0
        self.stopping = False

    def error(self, text: str) -> None:
        self.errors.append(text)

    # Batches.

    def _size(self) -> int:
        pick = self.rng.random()
        for share, low, high in SIZES:
            if pick < share:
                return self.rng.randint(low, high)
            pick -= share
        return self.rng.randint(SIZES[-1][1], SIZES[-1][2])

    def _kind(self, agent: Agent) -> str:
        pick, kind = self.rng.random(), "queries"
        for name, share in KINDS:
            if pick < share:
                kind = name
                break
            pick -= share
        if kind == "submissions" and not agent.declared:
            kind = "filings"
        if kind == "filings" and not agent.unused:
            kind = "queries"
        return kind

    def _records(self, agent: Agent, kind: str) -> list[dict[str, Any]]:
        if kind == "queries":
            some = self.rng.choice(agent.seed.unused or agent.seed.declared)
            conditions = [{"business": "form", "attribute": "form_no", "op": "prefix", "value": some[:8]}]
            if self.rng.random() < 0.5:
                conditions.append({"business": "核销单", "attribute": "外汇局使用状态", "op": "等于", "value": "有效"})
            return [{"seq": i, **c} for i, c in enumerate(conditions, start=1)]
        pool = agent.unused if kind == "filings" else agent.declared
        count = min(self._size(), len(pool))
        forms = [pool.popleft() for _ in range(count)]
        if kind == "filings":
            return [{"seq": i, "form_no": f, "port": self.rng.choice(PORTS)} for i, f in enumerate(forms, start=1)]
        return [{"seq": i, "form_no": f} for i, f in enumerate(forms, start=1)]

    def _document(self, agent: Agent, kind: str, records: list[dict[str, Any]]) -> tuple[dict[str, Any], ...]:
        agent.batch_no += 1
        payload = {
            "v": 1,
            "batch_id": f"{agent.seed.enterprise}-{agent.batch_no:05d}",
            "kind": kind,
            "enterprise": agent.seed.enterprise,
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "records": records,
        }
        signature = sign_detached(canonical_json(payload), [agent.seed.card_cert], software_signer(agent.seed.card_key))
        return payload, batch_document(payload, signature)

    async def send(self, agent: Agent) -> None:
        kind = self._kind(agent)
        records = self._records(agent, kind)
        payload, document = self._document(agent, kind, records)
        twice = self.rng.random() < RESEND_SHARE
        started = time.perf_counter()
        try:
            if twice:
                first, second = await asyncio.gather(
                    agent.client.send_batch(document), agent.client.send_batch(document)
                )
                agent.duplicates += 1
                agent.identical += canonical_json(first) == canonical_json(second)
            else:
                first = await agent.client.send_batch(document)
        except CenterError as exc:
            self.error(f"{payload['batch_id']}: {exc}")
            return
        agent.sent.append(Sent(kind, len(records), time.perf_counter() - started, self.phase))
        agent.answers.append((payload, first))
        for record, result in zip(records, first.get("results", ()), strict=False):
            if result.get("code") != "OK":
                self.error(f"{payload['batch_id']} record {record['seq']}: {result.get('code')}")
                continue
            agent.ok[kind] += 1
            if kind == "filings" and self.rng.random() < CUSTOMS_SHARE:
                self.customs_queue.put_nowait((agent, record["form_no"], record["port"]))

    async def paced(self, agent: Agent, every: float) -> None:
        while True:
            wait = self.rng.expovariate(1 / every)
            left = self.deadline - time.monotonic()
            if wait >= left:
                await asyncio.sleep(max(0.0, left))
                return
            await asyncio.sleep(wait)
            await self.send(agent)

    async def saturated(self, agent: Agent) -> None:
        while time.monotonic() < self.deadline:
            await self.send(agent)

    async def pulling(self, agent: Agent) -> None:
        while time.monotonic() < self.deadline:
            await self.pull(agent)

    # The update feed.

    async def pull(self, agent: Agent) -> bool:
        """One pull; True if it handed out a full page (there may be more)."""
        async with agent.pulling:
            started = time.perf_counter()
            try:
                updates = await agent.client.updates(agent.cursor, FEED_LIMIT)
            except CenterError as exc:
                self.error(f"feed of {agent.seed.enterprise}: {exc}")
                return False
            agent.polls.append((self.phase, time.perf_counter() - started))
            return self._received(agent, updates)

    def _received(self, agent: Agent, updates: list[dict[str, Any]]) -> bool:
        for update in updates:
            seq = int(update["seq"])
            if seq <= agent.cursor:
                self.error(f"feed of {agent.seed.enterprise}: {seq} after {agent.cursor}")
                continue
            agent.received.append(seq)
            agent.cursor = seq
            if update["event"] == "declared":
                agent.declared.append(update["form_no"])
        return len(updates) == FEED_LIMIT

    async def polling(self, agent: Agent, every: float) -> None:
        await asyncio.sleep(self.rng.uniform(0, every))
        while not self.stopping:
            while await self.pull(agent):
                pass
            await asyncio.sleep(every * self.rng.uniform(0.9, 1.1))

    # Customs, through the admin API.

    async def customs(self, session: aiohttp.ClientSession) -> None:
        """Use and declare queued forms until stopped; an operation under way is always finished (its outcome is
        counted), so the tally matches the database."""
        while not self.stopping:
            try:
                agent, form_no, port = await asyncio.wait_for(self.customs_queue.get(), 0.2)
            except TimeoutError:
                continue
            self.declaration_serial += 1
            # Numbers of their own, apart from those the set-up had the center allocate (from 1).
            declaration_no = f"5300{dt.date.today().year}1{500_000_000 + self.declaration_serial:09d}"
            started = time.perf_counter()
            for action, body in (
                ("use", {"form_no": form_no, "declaration_no": declaration_no, "port": port, "export_date": _today()}),
                (
                    "declare",
                    {
                        "declaration_no": declaration_no,
                        "form_no": form_no,
                        "export_date": _today(),
                        "port": port,
                        "trade_mode": "一般贸易",
                        "amount": "12345.60",
                        "currency": "USD",
                    },
                ),
            ):
                async with session.post(
                    f"{self.base}/api/v1/admin/customs/{action}", json=body, headers=self.admin
                ) as response:
                    if response.status != 200:
                        self.error(f"customs {action} {form_no}: HTTP {response.status} {await response.text()}")
                        break
                    self.customs_ok[(agent.seed.enterprise, action)] += 1
            self.customs_seconds.append(time.perf_counter() - started)

    # Phases.

    async def phase_run(self, name: str, seconds: float, batch_every: float | None = None) -> dict[str, Any]:
        """One phase: "paced" (a batch every ``batch_every`` s on average), "saturated" (back to back) or "pulls"
        (feed pulls back to back, no batches)."""
        self.phase, self.deadline = name, time.monotonic() + seconds
        started, cpu = time.perf_counter(), time.process_time()
        trees = {part: tree_cpu_seconds(pid) for part, pid in self.watch.items()}
        machine = machine_busy_seconds()
        if name == "pulls":
            await asyncio.gather(*(self.pulling(a) for a in self.agents))
        elif batch_every is None:
            await asyncio.gather(*(self.saturated(a) for a in self.agents))
        else:
            await asyncio.gather(*(self.paced(a, batch_every) for a in self.agents))
        elapsed = time.perf_counter() - started
        cores = {part: (tree_cpu_seconds(pid) - trees[part]) / elapsed for part, pid in self.watch.items()}
        cores["bench"] = (time.process_time() - cpu) / elapsed
        cores["machine"] = (machine_busy_seconds() - machine) / elapsed
        sent = [s for a in self.agents for s in a.sent if s.phase == name]
        latencies = sorted(s.seconds for s in sent)
        records = sum(s.records for s in sent)
        pulls = sorted(seconds for a in self.agents for phase, seconds in a.polls if phase == name)
        pulled = {
            "pulls": len(pulls),
            "pulls_per_s": round(len(pulls) / elapsed, 1),
            "pull_latency_ms": _percentiles(pulls),
        }
        if name == "pulls":
            return {"seconds": round(elapsed, 1), **pulled, "cores_used": {k: round(v, 2) for k, v in cores.items()}}
        return {
            "seconds": round(elapsed, 1),
            "batches": len(sent),
            "records": records,
            "records_per_s": round(records / elapsed, 1),
            "batches_per_s": round(len(sent) / elapsed, 2),
            "batch_latency_ms": _percentiles(latencies),
            "batches_by_kind": dict(Counter(s.kind for s in sent)),
            **pulled,
            # Cores busy on average: the center's processes, PostgreSQL's, this load generator's, the machine's.
            "cores_used": {part: round(value, 2) for part, value in cores.items()},
        }


def _today() -> str:
    return dt.date.today().isoformat()


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}

    def at(q: float) -> float:
        return round(values[min(len(values) - 1, int(q * len(values)))] * 1000, 1)

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "max": round(values[-1] * 1000, 1)}


# Set-up, once, into the template database.


def _setup_agent(center: Center, index: int, forms: int, declared: int) -> Seed:
    code = f"LOAD{index:06d}"
    center.create_enterprise(code, f"负载测试进出口有限公司{index:06d}")
    center.access_register(code, f"load{index:06d}@17999.e163", "leased-line")
    card_key = ec.generate_private_key(ec.SECP256R1())
    card_cert = center.enroll_operator(code, card_key.public_key(), f"操作员{index}", f"CARD{index:06d}", fx_days=365)
    device_key = ec.generate_private_key(ec.SECP256R1())
    device_cert = center.enroll_device(code, device_key.public_key(), f"pc-{index:06d}")
    issued: list[str] = []
    while len(issued) < forms:
        issued += center.issue_forms(code, min(1000, forms - len(issued)))
    ready = issued[:declared]
    if ready:
        payload = {
            "v": 1,
            "batch_id": "setup",
            "kind": "filings",
            "enterprise": code,
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "records": [{"seq": i, "form_no": f, "port": "5300"} for i, f in enumerate(ready, start=1)],
        }
        signature = sign_detached(canonical_json(payload), [card_cert], software_signer(card_key))
        center.receive_batch(batch_document(payload, signature))
        for form_no in ready:
            number = center.new_declaration_no("5300", dt.date.today())
            center.customs_use(form_no, number, "5300", _today())
            center.customs_declare(number, form_no, _today(), "5300", "一般贸易", "1000.00", "USD")
    cursor = max(update["seq"] for update in center.updates(code, 0, 1_000_000))
    return Seed(code, card_key, card_cert, device_key, device_cert, issued[declared:], ready, cursor)


def set_up(url: str, agents: int, forms: int, declared: int) -> tuple[list[Seed], str, x509.Certificate]:
    with Center.open(url) as center:
        token = center.create_admin_token("customs (load test)")
        with ThreadPoolExecutor(SETUP_THREADS) as pool:
            seeds = list(pool.map(lambda i: _setup_agent(center, i, forms, declared), range(1, agents + 1)))
        return seeds, token, center.ca_certificate()


# One run against ``serve --workers N``.


@contextlib.contextmanager
def served(url: str, workers: int, env: dict[str, str], log: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = _free_port()
    command = [sys.executable, "-m", "center.cli", "serve", "--db", url, "--port", str(port), "--workers", str(workers)]
    with log.open("wb") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, workers, server, log)
        yield base, server
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _wait_healthy(base: str, workers: int, server: subprocess.Popen[bytes], log: Path) -> None:
    """Until N different processes have answered /healthz (each request on a new connection)."""
    seen: set[int] = set()
    deadline = time.monotonic() + 120
    while len(seen) < workers:
        if server.poll() is not None:
            raise SystemExit(f"the center stopped (exit {server.returncode}); see {log}")
        if time.monotonic() > deadline:
            raise SystemExit(f"only {len(seen)} of {workers} processes answered within 120 s; see {log}")
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
            health = json.load(response)
            if health["status"] == "ok":
                seen.add(int(health["pid"]))
        time.sleep(0.05)


def _metrics(base: str) -> dict[str, float]:
    with urllib.request.urlopen(f"{base}/metrics", timeout=30) as response:
        text = response.read().decode()
    totals: Counter[str] = Counter()
    for line in text.splitlines():
        if line.startswith("eport_center_batches_total{") or line.startswith("eport_center_records_total{"):
            name, value = line.rsplit(" ", 1)
            labels = dict(part.split("=", 1) for part in name[name.index("{") + 1 : -1].split(","))
            outcome = labels["outcome"].strip('"')
            totals[f"{name[: name.index('{')]}:{outcome}"] += float(value)
    return dict(totals)


def verify(run: Run, url: str, seeds: list[Seed], metrics: dict[str, float]) -> dict[str, Any]:
    """The database against what the agents sent and received."""
    engine = sa.create_engine(database_url(url))
    try:
        with engine.connect() as conn:
            stored: dict[str, set[str]] = {}
            for row in conn.execute(sa.select(batches.c.enterprise_code, batches.c.batch_id)):
                stored.setdefault(row.enterprise_code, set()).add(row.batch_id)
            feeds: dict[str, list[int]] = {}
            counts: Counter[tuple[str, str]] = Counter()
            start = {seed.enterprise: seed.cursor for seed in seeds}
            for row in conn.execute(
                sa.select(form_events.c.enterprise_code, form_events.c.seq, form_events.c.event).order_by(
                    form_events.c.seq
                )
            ):
                if row.seq > start.get(row.enterprise_code, 0):  # after the set-up
                    feeds.setdefault(row.enterprise_code, []).append(row.seq)
                    counts[(row.enterprise_code, row.event)] += 1
    finally:
        engine.dispose()
    problems: Counter[str] = Counter()
    sent_batches = feed_entries = 0
    for agent in run.agents:
        code = agent.seed.enterprise
        ids = {payload["batch_id"] for payload, _ in agent.answers}
        sent_batches += len(ids)
        if stored.get(code, set()) - {"setup"} != ids:
            problems["batches stored other than sent"] += 1
        expected = {
            "filed": agent.ok["filings"],
            "submitted": agent.ok["submissions"],
            "used": run.customs_ok[(code, "use")],
            "declared": run.customs_ok[(code, "declare")],
        }
        for event, count in expected.items():
            if counts[(code, event)] != count:
                problems[f"{event} events other than the applied records"] += 1
        feed = feeds.get(code, [])
        feed_entries += len(feed)
        if agent.received != feed:
            problems["feed entries not delivered exactly once, in order"] += 1
    receipts_bad = 0
    for agent in run.agents:
        for payload, answer in agent.answers:
            try:
                verify_answer(answer, payload, run.ca)
            except SignatureError:
                receipts_bad += 1
    duplicates = sum(a.duplicates for a in run.agents)
    identical = sum(a.identical for a in run.agents)
    results_ok = sum(sum(a.ok.values()) for a in run.agents)
    metrics_ok = (
        metrics.get("eport_center_batches_total:applied") == sent_batches
        and metrics.get("eport_center_batches_total:replayed") == duplicates
        and metrics.get("eport_center_records_total:OK") == results_ok
    )
    return {
        "batches_sent": sent_batches,
        "batches_stored": sum(len(v - {"setup"}) for v in stored.values()),
        "resent_at_once": duplicates,
        "resent_identical_answers": identical,
        "receipts_invalid": receipts_bad,
        "feed_entries": feed_entries,
        "feed_entries_delivered": sum(len(a.received) for a in run.agents),
        "problems": dict(problems),
        "metrics_agree": metrics_ok,
        "exactly_once": not problems and duplicates == identical and receipts_bad == 0,
    }


async def drive(
    args: argparse.Namespace, seeds: list[Seed], base: str, ca: x509.Certificate, token: str, watch: dict[str, int]
) -> Any:
    run = Run(seeds, base, ca, token, random.Random(args.seed), watch)
    connector = aiohttp.TCPConnector(limit=CUSTOMS_WORKERS)
    async with aiohttp.ClientSession(connector=connector) as session:
        customs = [asyncio.create_task(run.customs(session)) for _ in range(CUSTOMS_WORKERS)]
        polling = [asyncio.create_task(run.polling(a, args.poll_every)) for a in run.agents]
        phases = {"paced": await run.phase_run("paced", args.seconds, args.batch_every)}
        if args.saturation_seconds > 0:
            phases["saturated"] = await run.phase_run("saturated", args.saturation_seconds)
        if args.pull_seconds > 0:
            phases["pulls"] = await run.phase_run("pulls", args.pull_seconds)
        run.phase, run.stopping = "drain", True
        await asyncio.gather(*customs)
        for task in polling:
            task.cancel()  # a pull cut short leaves the cursor where it was: the drain pulls it again
        await asyncio.gather(*polling, return_exceptions=True)
        # Every agent pulls its feed to the end, as its next syncs would.
        drained = await asyncio.gather(*(_drain(run, a) for a in run.agents))
    for agent in run.agents:
        await agent.client.close()
    return run, phases, {"drain_pulls": sum(drained)}


async def _drain(run: Run, agent: Agent) -> int:
    pulls = 1
    while await run.pull(agent):
        pulls += 1
    return pulls


def one_run(args: argparse.Namespace, pg: Postgres, workers: int, setup: Any, env: dict[str, str], tmp: Path) -> Any:
    seeds, token, ca = setup
    database = f"load_n{workers}"
    pg.admin(f"CREATE DATABASE {database} TEMPLATE load_template")
    url = pg.url(database)
    log = tmp / f"center-n{workers}.log"
    with served(url, workers, env, log) as (base, server):
        watch = {"center": server.pid, "postgres": pg.postmaster_pid()}
        run, phases, feed = asyncio.run(drive(args, seeds, base, ca, token, watch))
        metrics = _metrics(base)
    checks = verify(run, url, seeds, metrics)
    customs = sorted(run.customs_seconds)
    return {
        "workers": workers,
        **phases,
        "feed": feed,
        "customs": {"forms_used_and_declared": len(customs), "latency_ms": _percentiles(customs)},
        "errors": len(run.errors),
        "first_errors": run.errors[:5],
        "verification": checks,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seconds", type=float, default=120, help="the paced phase")
    parser.add_argument("--saturation-seconds", type=float, default=30, help="the saturated phase (0: none)")
    parser.add_argument("--pull-seconds", type=float, default=15, help="the phase of feed pulls only (0: none)")
    parser.add_argument("--batch-every", type=float, default=60, help="mean seconds between an agent's batches")
    parser.add_argument("--poll-every", type=float, default=60, help="seconds between an agent's feed pulls")
    parser.add_argument("--forms", type=int, default=500, help="forms issued to each enterprise")
    parser.add_argument("--declared", type=int, default=10, help="of them, ready to be submitted")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="eport-load-") as tmp_name:
        tmp = Path(tmp_name)
        os.chmod(tmp, 0o755)  # the postgres user reaches its folder inside
        passphrase = tmp / "key-passphrase"
        passphrase.write_text(hashlib.sha256(os.urandom(32)).hexdigest() + "\n")
        passphrase.chmod(0o600)
        os.environ[PASSPHRASE_FILE_ENV] = str(passphrase)  # the set-up and the served center alike
        env = dict(os.environ)
        pg = Postgres(tmp)
        pg.start()
        try:
            pg.admin("CREATE DATABASE load_template")
            started = time.perf_counter()
            setup = set_up(pg.url("load_template"), args.agents, args.forms, args.declared)
            setup_seconds = time.perf_counter() - started
            runs = [one_run(args, pg, n, setup, env, tmp) for n in args.workers]
        finally:
            pg.stop()
    result = {
        "agents": args.agents,
        "cores": os.cpu_count(),
        "setup_seconds": round(setup_seconds, 1),
        "paced": {"seconds": args.seconds, "batch_every_s": args.batch_every, "poll_every_s": args.poll_every},
        "runs": runs,
        "errors": sum(r["errors"] for r in runs),
        "verified": all(r["verification"]["exactly_once"] and r["verification"]["metrics_agree"] for r in runs),
    }
    if len(runs) > 1 and all("saturated" in r for r in runs):
        base = runs[0]["saturated"]["records_per_s"]
        result["saturated_scaling"] = {
            str(r["workers"]): round(r["saturated"]["records_per_s"] / base, 2) for r in runs
        }
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
