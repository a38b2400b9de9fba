"""Large files are taken in a short-lived process of their own, so the resident agent's memory comes back.

Reading a file of a million rows needs a hundred MB or more for a while (the form numbers seen, the parser's
buffers); a long-running Python process keeps most of what it once held. A file of ``WORKER_BYTES`` or more is
therefore read, checked and recorded by ``python -m agent.intake_process`` — the same :class:`~agent.intake.Intake`
on the same store — and the resident agent only waits for it and passes on what it announced. Small files, nearly
all of them, are taken in the resident process as before (starting a process costs about half a second).

A worker that fails to start or dies (killed, out of memory) is not the file's fault: the file is then taken in the
resident process, so it is answered either way and never left in the inbox to fail again.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

from agent.config import use_workspace_language
from agent.intake import Intake
from agent.store import Store
from agent.taking import Changed
from agent.workspace import Workspace

log = logging.getLogger("eport.agent")

WORKER_BYTES = 1 << 20  # a filing file of this size holds about 50,000 rows; a 5,000-row file is well under it
AGAIN, LOCKED = 75, 77  # the worker's exit codes for "changed while read" and "locked by another program"


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
        told = self._in_worker(path)
        if told is None:  # no answer from the worker: taken here instead (see the module's docstring)
            self.intake.handle(path)
            return
        for kind, where in told["announced"]:
            self.intake.announce(kind, Path(where))
        self.intake.problem = told["problem"]
        if told["batch"] is not None:
            self.intake.on_batch()

    def _in_worker(self, path: Path) -> dict | None:
        command = [sys.executable, "-m", "agent.intake_process", str(self.intake.workspace.root), str(path)]
        log.info("file %s (%d MB) is taken in a worker process", path.name, os.lstat(path).st_size >> 20)
        try:
            done = subprocess.run(command, capture_output=True, text=True, encoding="utf-8", check=False)
        except OSError as exc:
            log.warning("the intake worker for %s did not start (%s): taken here", path.name, exc)
            return None
        if done.returncode == AGAIN:
            raise Changed(path.name)
        if done.returncode == LOCKED:
            raise PermissionError(path.name)
        if done.returncode != 0:
            log.warning(
                "the intake worker for %s ended with code %d: taken here; its last words: %s",
                path.name,
                done.returncode,
                done.stderr.strip()[-500:],
            )
            return None
        for line in done.stderr.splitlines():  # the worker's log, into the agent's own
            log.info("(worker) %s", line)
        told: dict = json.loads(done.stdout.strip().splitlines()[-1])
        return told


def main(argv: list[str]) -> int:
    """Take one file into the workspace's store; the last line of output says what happened (JSON)."""
    root, path = Path(argv[0]), Path(argv[1])
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    workspace = Workspace(root)
    use_workspace_language(workspace)
    announced: list[tuple[str, str]] = []
    intake = Intake(workspace, Store(workspace.store_file), lambda kind, where: announced.append((kind, str(where))))
    try:
        batch = intake.take(path)
    except Changed:
        return AGAIN
    except PermissionError:
        return LOCKED
    except FileNotFoundError:
        batch = None
    print(json.dumps({"batch": batch, "problem": intake.problem, "announced": announced}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
