"""Files for clerks: written atomically (temp file + rename), never overwriting, Excel-safe."""

from __future__ import annotations

import csv
import io
import os
import re
import tempfile
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path

# Excel runs a cell starting with these as a formula (CSV injection); a leading apostrophe makes it text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
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
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
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
