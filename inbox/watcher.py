"""Watches inbox/ and reports each dropped file once it is complete.

A file is complete when its size and modification time have not changed for a quiet period (``quiet``, agent.toml
``[inbox] quiet_seconds``, long enough for a slow export or a network copy that pauses between writes) and it can be
opened. Where the system tells that the writer closed the file after writing (Linux's close-write), a shorter settle
is enough (``settle``, ``[inbox] close_settle_seconds``): the file is taken once no new write has started within it
after the close — a writer that opens the file again for each piece (a network copy appending one piece a second) is
still waited for, since each new piece restarts the wait. A file renamed into the inbox (how Excel and most programs
save) is complete when it arrives. A file another program holds locked, or one that changed while it was read, is
looked at again, not failed.

Anything that is not a regular file (a link, a pipe, a socket, a device) is handed over at once, never opened here:
intake refuses it with an errors file. Files in sub-folders are watched too (intake takes them as the kind folder
they are under).
"""

from __future__ import annotations

import logging
import os
import re
import stat
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
# A file that was openable but turned out locked (or changed) while being read is looked at again after this long.
LOCKED_RETRY_SECONDS = 1.0
# Defaults of agent.toml's [inbox] quiet_seconds and close_settle_seconds.
QUIET_SECONDS = 3.0
CLOSE_SETTLE_SECONDS = 1.5


class LookAgain(Exception):
    """Raised by ``on_complete``: the file changed while it was being read; look at it again once it is stable."""


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: InboxWatcher) -> None:
        self.watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory or event.event_type not in CHANGE_EVENTS:
            return
        target = getattr(event, "dest_path", "") or event.src_path
        # A close after writing (Linux) says the writer is done, unless it writes again within the settle; a file
        # renamed into the inbox is complete as it arrives.
        moved_in = event.event_type == "moved"
        self.watcher.touch(Path(str(target)), closed=event.event_type == "closed", moved=moved_in)


class InboxWatcher:
    """Calls ``on_complete(path)`` from its own thread once per complete file under ``root``; a ``PermissionError``
    from it (another program locked the file meanwhile) has the file looked at again shortly."""

    def __init__(
        self,
        root: Path,
        on_complete: Callable[[Path], None],
        quiet: float = QUIET_SECONDS,
        poll: float = 0.025,
        observer: BaseObserver | None = None,
        settle: float = CLOSE_SETTLE_SECONDS,
    ) -> None:
        self.root = root
        self.on_complete = on_complete
        self.quiet = quiet
        self.settle = min(settle, quiet)  # after a close-write; never longer than the quiet period itself
        self.poll = poll
        self.observer = observer or Observer()
        # path → (size, mtime, since when they stand still, how long they must stand still)
        self._pending: dict[Path, tuple[int, int, float, float]] = {}
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
        for folder, folders, files in os.walk(self.root):  # never into a linked folder
            for name in files + [f for f in folders if os.path.islink(os.path.join(folder, f))]:
                self.touch(Path(folder) / name)

    def touch(self, path: Path, closed: bool = False, moved: bool = False) -> None:
        """Look at ``path`` until it is complete; ``closed``: its writer has just closed it (Linux's close-write);
        ``moved``: it was just renamed into the inbox."""
        if not is_candidate(path):
            return
        wait = self.quiet
        if moved:
            wait = 0.0
        elif closed:
            wait = self.settle
        with self._lock:
            size, mtime, since, _ = self._pending.get(path, (-1, -1, time.monotonic(), wait))
            self._pending[path] = (size, mtime, since, wait)
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
                except LookAgain:  # written to while it was read: read again from the start once stable
                    log.info("file %s changed while it was read; reading it again once it is stable", path.name)
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
            for path, (size, mtime, since, wait) in list(self._pending.items()):
                try:
                    found = os.lstat(path)
                except FileNotFoundError:
                    del self._pending[path]
                    continue
                except OSError:
                    continue
                if stat.S_ISDIR(found.st_mode):
                    del self._pending[path]
                elif not stat.S_ISREG(found.st_mode):  # a link, pipe, device...: intake refuses it unopened
                    del self._pending[path]
                    ready.append(path)
                elif (found.st_size, found.st_mtime_ns) != (size, mtime):
                    # A new write restarts the wait; after a close the settle, else the whole quiet period.
                    self._pending[path] = (found.st_size, found.st_mtime_ns, now, wait)
                elif now - since >= wait and _openable(path):
                    del self._pending[path]
                    ready.append(path)
        return ready


def _openable(path: Path) -> bool:
    """False while another program holds the file locked (Windows share modes); it is tried again later."""
    try:
        os.close(os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)))
        return True
    except PermissionError:
        return False
    except OSError:
        return False
