"""Large files are taken in a short-lived process of their own, so the resident agent's memory comes back.

Reading a file of a million rows needs a hundred MB or more for a while (the form numbers seen, the parser's
buffers); a long-running Python process keeps most of what it once held. A file of ``WORKER_BYTES`` or more is
therefore read, checked and recorded by ``python -m agent.intake_process`` — the same :class:`~agent.intake.Intake`
on the same store — and the resident agent only waits for it and passes on what it announced. Small files, nearly
all of them, are taken in the resident process as before (starting a process costs about half a second).

A worker that cannot start is not the file's fault: the file is then taken in the resident process. A worker that
dies on a file (out of memory, killed) or takes too long is: the file gets an errors file saying so and goes to
archive/, so it is answered either way and never left in the inbox to fail again. The worker runs in a session of its
own, so a Ctrl-C meant for the agent does not cut its transaction short; it finishes even if the agent stops.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from agent.config import use_workspace_language
from agent.intake import Intake
from agent.store import Store
from agent.taking import Changed
from agent.workspace import Workspace

log = logging.getLogger("eport.agent")

WORKER_BYTES = 1 << 20  # a filing file of this size holds about 50,000 rows; a 5,000-row file is well under it
AGAIN, LOCKED = 75, 77  # the worker's exit codes for "changed while read" and "locked by another program"
# How long a worker may take: generous (a million rows take about 15 s), so only a worker that hangs meets it.
BASE_SECONDS, SECONDS_PER_MB = 300, 10


class WorkerFailed(Exception):
    """The worker died on a file or took too long: the file's own trouble, said in its errors file."""


class ProcessIntake:
    """The inbox watcher's callback: ``handle(path)`` as :meth:`Intake.handle`, large files in a worker process."""

    def __init__(self, intake: Intake, worker_bytes: int = WORKER_BYTES) -> None:
        self.intake, self.worker_bytes = intake, worker_bytes

    def handle(self, path: Path) -> None:
        try:
            size = os.lstat(path).st_size
        except FileNotFoundError:
            return
        if size < self.worker_bytes:
            self.intake.handle(path)
            return
        try:
            told = self._in_worker(path, size)
        except OSError as exc:
            log.warning("the intake worker for %s did not start (%s): taken here", path.name, exc)
            self.intake.handle(path)
            return
        except WorkerFailed as failed:
            self.intake.take(path, unreadable=failed)
            return
        for kind, where in told.get("announced", []):
            self.intake.announce(kind, Path(where))
        if "problem" in told:  # only a file the worker read changes the problem, as in this process
            self.intake.problem = told["problem"]
        if told.get("batch") is not None or not told:  # a batch (or an answer not understood): ask for a sync
            self.intake.on_batch()

    def _in_worker(self, path: Path, size: int) -> dict[str, Any]:
        """What the worker did with the file; Changed/PermissionError for the watcher to look again."""
        command = [sys.executable, "-X", "utf8", "-m", "agent.intake_process", str(self.intake.workspace.root)]
        seconds = BASE_SECONDS + SECONDS_PER_MB * (size >> 20)
        log.info("file %s (%d MB) is taken in a worker process", path.name, size >> 20)
        with subprocess.Popen(
            [*command, str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            encoding="utf-8",
            errors="replace",
            start_new_session=True,
        ) as worker:
            try:
                out, err = worker.communicate(timeout=seconds)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.communicate()
                raise WorkerFailed(f"reading took longer than {seconds} s") from None
        for line in err.splitlines():  # the worker's log, into the agent's own, at its level
            level, _, message = line.partition(" ")
            log.log(logging.getLevelName(level) if level in LEVELS else logging.INFO, "(worker) %s", message or line)
        if worker.returncode == AGAIN:
            raise Changed(path.name)
        if worker.returncode == LOCKED:
            raise PermissionError(path.name)
        if worker.returncode != 0:
            raise WorkerFailed(f"the reading process ended with code {worker.returncode}")
        try:
            told: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            log.warning("the intake worker for %s said nothing this agent understands: %r", path.name, out[-200:])
            return {}
        return told


LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
UNSET = object()


def main(argv: list[str]) -> int:
    """Take one file into the workspace's store; the last line of output says what happened (JSON)."""
    root, path = Path(argv[0]), Path(argv[1])
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(message)s")
    workspace = Workspace(root)
    use_workspace_language(workspace)
    announced: list[tuple[str, str]] = []
    intake = Intake(workspace, Store(workspace.store_file), lambda kind, where: announced.append((kind, str(where))))
    intake.problem = UNSET  # type: ignore[assignment]  # to tell whether the file was read at all
    try:
        batch = intake.take(path)
    except Changed:
        return AGAIN
    except PermissionError:
        return LOCKED
    except FileNotFoundError:
        batch = None
    told: dict[str, Any] = {"batch": batch, "announced": announced}
    if intake.problem is not UNSET:
        told["problem"] = intake.problem
    print(json.dumps(told, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
