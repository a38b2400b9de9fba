"""Keeping the outbox tidy, never by deleting anything a clerk was given.

- An errors file whose mistakes are settled — the corrected file went through, or a newer errors file of the same
  name replaces it — moves to archive/ instead of piling up as ``(2)``, ``(3)``.
- Results, errors, query answers, update pages, receipts and archived sources older than the retention period
  (``[outbox] keep_days``, 730 by default: archives of FX paperwork are kept two years) move into a sub-folder named
  by their month (``results/2024-05/``), out of the clerk's way but kept.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import shutil
from collections.abc import Iterable
from pathlib import Path

from outbox.files import DRAFT_PREFIX, free_path

log = logging.getLogger("eport.outbox")

KEEP_DAYS = 730
MONTH_FOLDER = re.compile(r"\d{4}-\d{2}")


def archive_stamp() -> str:
    """The local time a file went to archive/, at the start of its name there."""
    return dt.datetime.now().astimezone().strftime("%Y%m%dT%H%M%S")


def settled_errors(errors: Path, stem: str) -> list[Path]:
    """The errors files of ``stem``: ``stem.errors.csv``/``.xlsx`` and the ``stem (2).errors.*`` of older agents."""
    pattern = re.compile(re.escape(stem) + r"( \(\d+\))?\.errors\.(csv|xlsx)")
    return sorted(p for p in errors.glob(f"{glob_escape(stem)}*.errors.*") if pattern.fullmatch(p.name))


def glob_escape(text: str) -> str:
    return re.sub(r"([\[\]*?])", r"[\1]", text)


def retire_errors(errors: Path, archive: Path, stem: str) -> list[tuple[Path, Path]]:
    """Move the errors files of ``stem`` to archive/; (old path, new path) of each moved."""
    moved = []
    stamp = archive_stamp()
    for path in settled_errors(errors, stem):
        target = free_path(archive, f"{stamp}-{path.name}")
        try:
            shutil.move(path, target)  # archive/ may be on another disk
        except FileNotFoundError:
            continue
        except OSError as exc:  # open in Excel: it stays, the new one gets the next free name
            log.info("errors file %s stays in place: %s", path.name, exc)
            continue
        moved.append((path, target))
    return moved


def move_old_files(folders: Iterable[Path], keep_days: int, now: dt.datetime | None = None) -> int:
    """Move the files older than ``keep_days`` in each folder into ``folder/<YYYY-MM>/`` (by their modification
    month); returns how many moved. Month folders themselves and drafts are left alone."""
    cutoff = (now or dt.datetime.now().astimezone()).timestamp() - keep_days * 86400
    moved = 0
    for folder in folders:
        if not folder.is_dir():
            continue
        for entry in os.scandir(folder):
            if not entry.is_file() or entry.name.startswith(DRAFT_PREFIX):
                continue
            mtime = entry.stat().st_mtime
            if mtime >= cutoff:
                continue
            month = dt.datetime.fromtimestamp(mtime).strftime("%Y-%m")
            target = free_path(folder / month, entry.name)
            target.parent.mkdir(exist_ok=True)
            try:
                shutil.move(entry.path, target)
            except OSError as exc:  # open in another program: tried again next time
                log.info("%s stays in place for now: %s", entry.name, exc)
                continue
            moved += 1
    if moved:
        log.info("moved %d files older than %d days into month folders", moved, keep_days)
    return moved
