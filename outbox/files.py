"""Files for clerks: written atomically (temp file + rename), never overwriting, Excel-safe."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import tempfile
import time
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path

# Excel runs a cell starting with these as a formula (CSV injection); a leading apostrophe makes it text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Files being written are named like this until their one rename; one left behind was cut short by a crash.
DRAFT_PREFIX, DRAFT_SUFFIX = ".", ".tmp"
UNSAFE_NAME = re.compile(r"[^\w.\- ()\u4e00-\u9fff]+")


def safe_stem(name: str, limit: int = 80) -> str:
    """A file stem derived from an untrusted name: no separators, control or reserved characters."""
    stem = Path(name.replace("\\", "/").split("/")[-1]).stem
    stem = UNSAFE_NAME.sub("_", stem).strip(" .")[:limit]
    return stem or "batch"


def excel_cell(value: object) -> str:
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_STARTS) and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def free_path(folder: Path, name: str, taken: Collection[str] = ()) -> Path:
    """``folder/name``, or ``name (2)``, ``name (3)``... if taken on disk or in ``taken``: nothing is overwritten."""
    path = folder / name
    stem, suffix = name, ""
    if "." in name:
        stem, _, suffix = name.partition(".")
        suffix = "." + suffix
    n = 2
    while path.exists() or str(path) in taken:
        path = folder / f"{stem} ({n}){suffix}"
        n += 1
    return path


def write_atomic(path: Path, data: bytes) -> None:
    """Readers see the old file or the whole new one, never a half-written one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=DRAFT_PREFIX, suffix=DRAFT_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    """UTF-8 with BOM and CRLF: what Excel on Chinese Windows opens correctly."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([excel_cell(v) for v in row] for row in rows)
    return buffer.getvalue().encode("utf-8-sig")


class CsvDraft:
    """A CSV for clerks written row by row into a hidden temporary file, then published under a free name with one
    rename, or discarded: however long it gets, it is never held in memory and never seen half-written."""

    def __init__(self, folder: Path, header: Sequence[str]) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=DRAFT_PREFIX, suffix=DRAFT_SUFFIX)
        self.folder, self.tmp, self.count = folder, Path(tmp), 0
        self._out = os.fdopen(fd, "w", encoding="utf-8-sig", newline="")
        self._writer = csv.writer(self._out, lineterminator="\r\n")
        self._writer.writerow(header)

    def write(self, row: Sequence[object]) -> None:
        self._writer.writerow([excel_cell(v) for v in row])
        self.count += 1

    def publish(self, name: str, taken: Collection[str] = ()) -> Path:
        self._out.flush()
        os.fsync(self._out.fileno())
        self._out.close()
        path = free_path(self.folder, name, taken)
        os.replace(self.tmp, path)
        return path

    def discard(self) -> None:
        self._out.close()
        self.tmp.unlink(missing_ok=True)


def remove_stale_drafts(folder: Path, older_than: float) -> int:
    """Delete the half-written files a crash left in ``folder`` (the finished file was never published), if they are
    older than ``older_than`` seconds, so as never to touch one another process is still writing."""
    removed = 0
    cutoff = time.time() - older_than
    for draft in folder.glob(f"{DRAFT_PREFIX}*{DRAFT_SUFFIX}"):
        with contextlib.suppress(FileNotFoundError):
            if draft.stat().st_mtime < cutoff:
                draft.unlink()
                removed += 1
    return removed
