"""Watches inbox/ and reports each dropped file once it is complete.

A file is complete when its size and modification time have not changed for a quiet period and it can be opened.
Where the system tells that the writer closed the file after writing (Linux's close-write), one look that finds it
unchanged is enough: a finished file is taken at once, while a file still being written keeps being waited for. A
file another program holds locked is retried, not failed.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

log = logging.getLogger(__name__)

# Excel's lock files, editors' and downloaders' temporary files: never batches.
IGNORED_PREFIXES = ("~$", ".")
IGNORED_SUFFIXES = (".tmp", ".part", ".crdownload", ".swp")
# Excel saves a workbook into a temporary file named by 8 hex digits, without a suffix, then renames it.
EXCEL_SAVING = re.compile(r"[0-9A-F]{8}")


def is_candidate(path: Path) -> bool:
    name = path.name
    if EXCEL_SAVING.fullmatch(name):
        return False
    return not name.startswith(IGNORED_PREFIXES) and not name.lower().endswith(IGNORED_SUFFIXES)


# Events that mean content may have changed; opening and reading (ours included) are not among them.
CHANGE_EVENTS = frozenset({"created", "modified", "moved", "closed"})
# A file that was openable but turned out locked while being read is looked at again after this long.
LOCKED_RETRY_SECONDS = 1.0


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: InboxWatcher) -> None:
        self.watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory or event.event_type not in CHANGE_EVENTS:
            return
        target = getattr(event, "dest_path", "") or event.src_path
        # A close after writing (Linux) says the writer is done: no need to wait out the quiet period.
        self.watcher.touch(Path(str(target)), closed=event.event_type == "closed")


class InboxWatcher:
    """Calls ``on_complete(path)`` from its own thread once per complete file under ``root``; a ``PermissionError``
    from it (another program locked the file meanwhile) has the file looked at again shortly."""

    def __init__(
        self,
        root: Path,
        on_complete: Callable[[Path], None],
        quiet: float = 0.1,
        poll: float = 0.025,
        observer: BaseObserver | None = None,
    ) -> None:
        self.root = root
        self.on_complete = on_complete
        self.quiet = quiet
        self.poll = poll
        self.observer = observer or Observer()
        self.trust_close = True  # False: always wait out the quiet period (the benchmark's baseline)
        # path → (size, mtime, since when they stand still, closed after writing since)
        self._pending: dict[Path, tuple[int, int, float, bool]] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._settle_loop, name="inbox-settle", daemon=True)

    def start(self) -> None:
        self.observer.schedule(_Handler(self), str(self.root), recursive=True)
        self.observer.start()
        self._thread.start()
        self.rescan()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        self.observer.stop()
        self.observer.join(timeout=5)
        self._thread.join(timeout=5)

    def rescan(self) -> None:
        """Pick up files that arrived while the agent was not running (or whose events were lost)."""
        for path in self.root.rglob("*"):
            if path.is_file():
                self.touch(path)

    def touch(self, path: Path, closed: bool = False) -> None:
        """Look at ``path`` until it is complete; ``closed``: its writer has just closed it (Linux's close-write)."""
        if not is_candidate(path):
            return
        with self._lock:
            size, mtime, since, _ = self._pending.get(path, (-1, -1, time.monotonic(), False))
            self._pending[path] = (size, mtime, since, closed and self.trust_close)
        self._wake.set()

    def _settle_loop(self) -> None:
        while not self._stopping.is_set():
            with self._lock:
                idle = not self._pending
            if idle:
                self._wake.wait()
                self._wake.clear()
                continue
            time.sleep(self.poll)
            for path in self._settled():
                try:
                    self.on_complete(path)
                except PermissionError:  # opened, then locked by another program while being read: try again
                    log.info("file %s is locked by another program; trying again shortly", path.name)
                    self._retry_later(path)
                except Exception:  # one bad file must never stop the watcher
                    log.exception("intake of %s failed", path.name)

    def _retry_later(self, path: Path) -> None:
        timer = threading.Timer(LOCKED_RETRY_SECONDS, self.touch, (path,))
        timer.daemon = True
        timer.start()

    def _settled(self) -> list[Path]:
        now = time.monotonic()
        ready: list[Path] = []
        with self._lock:
            for path, (size, mtime, since, closed) in list(self._pending.items()):
                try:
                    stat = path.stat()
                except FileNotFoundError:
                    del self._pending[path]
                    continue
                except OSError:
                    continue
                if (stat.st_size, stat.st_mtime_ns) != (size, mtime):
                    self._pending[path] = (stat.st_size, stat.st_mtime_ns, now, closed)
                elif (closed or now - since >= self.quiet) and _openable(path):
                    del self._pending[path]
                    ready.append(path)
        return ready


def _openable(path: Path) -> bool:
    """False while another program holds the file locked (Windows share modes); it is tried again later."""
    try:
        with path.open("rb"):
            return True
    except PermissionError:
        return False
    except OSError:
        return False
