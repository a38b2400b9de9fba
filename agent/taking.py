"""Taking a dropped file: what was read is what is kept and answered.

The file is opened once, without following a link, and only if it is a regular file (``lstat``, then the opened
descriptor's own ``fstat`` must be the same inode). Its bytes are copied from that descriptor into a private copy
under state/taking/ while they are hashed; everything after — kind, format, reading, validating, archiving — works
on that copy, never on whatever is at the inbox path by then. A file that changed while it was copied (size or
modification time moved) is not answered from a mix: ``Changed`` has the watcher look at it again once it is stable.
A file replaced by a rename while it was read keeps both versions: the copy (the first version) is answered and
archived, the new file stays in the inbox and is taken on its own.

Symlinks, FIFOs, sockets, devices and directories are never opened for reading (``NotRegular``).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import stat
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from inbox.watcher import LookAgain

CHUNK = 1 << 20
# O_NONBLOCK: should a FIFO slip in between lstat and open, opening it does not wait for a writer.
OPEN_FLAGS = (
    os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
) | getattr(os, "O_CLOEXEC", 0)
# A copy left in state/taking/ by a crash is moved into archive/ once it is this old (nothing is ever deleted).
LEFTOVER_SECONDS = 600.0

# What a non-regular inbox entry is, for the clerk: (Chinese, English).
OBJECT_NAMES = {
    stat.S_IFLNK: ("快捷方式（符号链接）", "a symbolic link"),
    stat.S_IFIFO: ("命名管道", "a named pipe (FIFO)"),
    stat.S_IFSOCK: ("套接字", "a socket"),
    stat.S_IFCHR: ("设备文件", "a device"),
    stat.S_IFBLK: ("设备文件", "a device"),
    stat.S_IFDIR: ("文件夹", "a folder"),
}


class Changed(LookAgain):
    """The file changed while it was being read: it is looked at again once it is stable."""


class NotRegular(Exception):
    """Not a regular file (a link, a pipe, a device ...): refused without being opened."""

    def __init__(self, mode: int) -> None:
        self.zh, self.en = OBJECT_NAMES.get(stat.S_IFMT(mode), ("特殊文件", "a special file"))
        super().__init__(self.en)


@dataclass(frozen=True)
class Snapshot:
    source: Path  # where the clerk dropped it
    copy: Path  # the bytes read, under the same name, in state/taking/<token>/
    sha256: str
    identity: tuple[int, int, int, int]  # st_dev, st_ino, st_size, st_mtime_ns of the source as read

    def source_unchanged(self) -> bool:
        """The inbox path still names the very file that was read, unchanged since."""
        try:
            now = os.lstat(self.source)
        except OSError:
            return False
        return stat.S_ISREG(now.st_mode) and _identity(now) == self.identity

    def source_replaced(self) -> bool:
        """The inbox path now names another file (renamed over the one that was read)."""
        try:
            now = os.lstat(self.source)
        except OSError:
            return False
        return (now.st_dev, now.st_ino) != self.identity[:2]

    @property
    def name(self) -> str:
        """The dropped file's name as the clerk reads it (:func:`readable_name`): what the store and outputs say."""
        return self.copy.name

    def discard(self) -> None:
        shutil.rmtree(self.copy.parent, ignore_errors=True)


def readable_name(name: str) -> str:
    """A name as a clerk reads it. One that is not UTF-8 (its odd bytes kept as surrogates: a share mounted without
    the right character set shows GBK names so) is read as GB18030 where it is that, else with � for its odd bytes:
    the store, the errors file and the logs take text, never undecodable bytes."""
    if not any("\udc80" <= char <= "\udcff" for char in name):
        return name
    raw = os.fsencode(name)
    try:
        return raw.decode("gb18030")
    except UnicodeDecodeError:
        return raw.decode("utf-8", "replace")


def _identity(st: os.stat_result) -> tuple[int, int, int, int]:
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def snapshot(path: Path, staging: Path) -> Snapshot:
    """Copy the regular file at ``path`` from one no-follow descriptor into ``staging``; ``NotRegular`` for anything
    else, ``Changed`` if it changed while being copied, ``FileNotFoundError``/``PermissionError`` as the system says."""
    first = os.lstat(path)
    if not stat.S_ISREG(first.st_mode):
        raise NotRegular(first.st_mode)
    try:
        fd = os.open(path, OPEN_FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise Changed(str(path)) from exc  # became a link between lstat and open: look again
        raise
    folder = staging / f"{os.getpid()}-{uuid.uuid4().hex}"
    try:
        before = os.fstat(fd)
        if not stat.S_ISREG(before.st_mode) or (before.st_dev, before.st_ino) != (first.st_dev, first.st_ino):
            raise Changed(str(path))  # replaced between lstat and open
        folder.mkdir(parents=True)
        copy = folder / readable_name(path.name)
        digest, size = hashlib.sha256(), 0
        with open(fd, "rb", closefd=False) as source, copy.open("xb") as target:
            while chunk := source.read(CHUNK):
                digest.update(chunk)
                target.write(chunk)
                size += len(chunk)
        after = os.fstat(fd)
        if _identity(after) != _identity(before) or size != after.st_size:
            raise Changed(str(path))
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    finally:
        os.close(fd)
    return Snapshot(path, copy, digest.hexdigest(), _identity(before))


def keep(snap: Snapshot, target: Path) -> None:
    """Put the copy read into archive/ as ``target`` (a link where archive/ is on the same disk, else a copy)."""
    try:
        os.link(snap.copy, target)
    except OSError:
        shutil.copyfile(snap.copy, target)


def let_go(snap: Snapshot) -> bool:
    """Remove the source from the inbox if it is still the file read, unchanged; a file changed or replaced since
    stays to be taken on its own. Returns whether it was removed."""
    if not snap.source_unchanged():
        return False
    try:
        snap.source.unlink()
    except FileNotFoundError:
        return False
    return True


def remove_object(path: Path, target: Path) -> Path | None:
    """Move a non-regular inbox entry (the link itself, not what it points to) into archive/ as ``target``; where
    that is not possible it is removed (it holds no data of the clerk's). Returns where it went, if anywhere."""
    try:
        os.link(path, target, follow_symlinks=False)
        kept: Path | None = target
    except OSError:
        kept = None
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    return kept


def leftovers(staging: Path, archive: Path) -> list[Path]:
    """Copies a crash left in state/taking/ (older than LEFTOVER_SECONDS), moved into archive/ as
    ``unfinished-<name>``; returns where they went."""
    moved: list[Path] = []
    if not staging.is_dir():
        return moved
    for folder in staging.iterdir():
        try:
            if time.time() - folder.stat().st_mtime < LEFTOVER_SECONDS:
                continue
            for item in folder.iterdir():
                target = archive / f"unfinished-{folder.name[-8:]}-{item.name}"
                shutil.move(str(item), target)
                moved.append(target)
            folder.rmdir()
        except OSError:
            continue
    return moved
