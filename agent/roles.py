"""Exclusive roles in a workspace, held with an operating-system file lock: the resident agent (one `run` or `demo`
per workspace) and the sender (one process at a time sends and delivers, while `run` and `sync-daemon` share a
workspace). The kernel releases a lock when its process dies, so a restarted agent takes its role at once — no lease
has to run out first.

filelock does the locking (flock on POSIX, LockFileEx on Windows); on a file system without locks it falls back to a
lock file, which a crash can leave behind.
"""

from __future__ import annotations

import json
from pathlib import Path

from filelock import FileLock, Timeout

from agent.control import CONTROL_FILE

RESIDENT_LOCK = "agent.lock"
SENDER_LOCK = "sync.lock"


class Role:
    """One exclusive role; ``try_take`` never waits."""

    def __init__(self, path: Path) -> None:
        # Not thread-local: the role belongs to the process, whichever thread takes or releases it.
        self._lock = FileLock(path, thread_local=False)

    def try_take(self) -> bool:
        try:
            self._lock.acquire(blocking=False)
        except Timeout:
            return False
        return True

    def release(self) -> None:
        if self._lock.is_locked:
            self._lock.release(force=True)


class AlreadyRunning(Exception):
    """Another agent is the resident agent of this workspace."""

    def __init__(self, workspace: Path, pid: int | None) -> None:
        which = f"进程 {pid}" if pid else "另一进程"
        which_en = f"process {pid}" if pid else "another process"
        super().__init__(
            f"此工作目录已有 eport-agent 在运行（{which}，见系统托盘图标）：{workspace}；本次启动不做任何改动"
            f" / an agent already runs on this workspace ({which_en}, see its tray icon): {workspace};"
            " this one changes nothing and exits"
        )


def running_pid(state: Path) -> int | None:
    """The process id the running agent published with its control channel, if it did."""
    try:
        return int(json.loads((state / CONTROL_FILE).read_text(encoding="utf-8"))["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
