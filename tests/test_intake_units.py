"""The pieces of intake and delivery a clerk meets directly: settling files, naming and writing Excel-safe files."""

from __future__ import annotations

import csv
import io
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from inbox.watcher import InboxWatcher
from outbox.columns import columns
from outbox.files import csv_bytes, excel_cell, free_path, read_cell, safe_stem, write_atomic
from tests.center_support import wait_until


def drop_marker(root: Path, reported: Callable[[], list[Path]]) -> Path:
    """Drop a marker file after everything else and wait until the watcher reports it.

    Events reach the watcher in the order they happened, and one settling pass reports every file that has settled:
    whatever was touched before the marker and is complete has been reported by then. So a report that has not come
    by now is not coming (this is how the tests below show that something is reported only once).
    """
    marker = root / "zz-marker.csv"
    marker.write_bytes(b"")
    wait_until(lambda: marker in reported(), 5, "the marker file was not reported")
    return marker


def test_csv_for_excel_has_bom_crlf_and_neutralised_formulas() -> None:
    data = csv_bytes(columns(["remark", "value"]), [['=HYPERLINK("x")', "-5"], ["+1+1", "@SUM(A1)"]])
    assert data.startswith(b"\xef\xbb\xbf") and b"\r\n" in data
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == ["备注 remark", "值 value"]
    assert rows[1] == ['\'=HYPERLINK("x")', "-5"]  # a negative number stays a number
    assert rows[2] == ["'+1+1", "'@SUM(A1)"]
    assert excel_cell(None) == ""


def test_csv_protects_identifiers_and_values_a_spreadsheet_would_change() -> None:
    data = csv_bytes(
        columns(["form_no", "declaration_no", "value", "count"]),
        [["000000001", "220020261000000001", "0042", 7], ["26000000A", "", "plain", ""]],
    )
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[1] == ['="000000001"', '="220020261000000001"', '="0042"', "7"]
    assert rows[2] == ['="26000000A"', "", "plain", ""]
    assert [read_cell(cell) for cell in rows[1]] == ["000000001", "220020261000000001", "0042", "7"]


def test_untrusted_names_never_escape_the_folder(tmp_path: Path) -> None:
    assert safe_stem("../../etc/passwd.csv") == "passwd"
    assert safe_stem("..\\..\\x:y*?.csv") == "x_y_"
    assert safe_stem("备案 2026.csv") == "备案 2026"
    assert safe_stem("....") == "batch"


def test_free_path_never_overwrites(tmp_path: Path) -> None:
    write_atomic(tmp_path / "a.result.csv", b"1")
    second = free_path(tmp_path, "a.result.csv")
    assert second.name == "a (2).result.csv"
    third = free_path(tmp_path, "a.result.csv", taken={str(second)})
    assert third.name == "a (3).result.csv"
    assert (tmp_path / "a.result.csv").read_bytes() == b"1"


def test_file_written_in_several_pieces_is_reported_once_complete(tmp_path: Path) -> None:
    seen: list[tuple[Path, bytes]] = []
    done = threading.Event()

    def on_complete(path: Path) -> None:
        seen.append((path, path.read_bytes()))
        done.set()

    watcher = InboxWatcher(tmp_path, on_complete, quiet=0.3)
    watcher.start()
    try:
        target = tmp_path / "slow.csv"
        with target.open("wb") as out:
            for _ in range(5):
                out.write(b"123456789,2200\n")
                out.flush()
                time.sleep(0.1)  # a slow writer: its pauses are shorter than the quiet period (0.3 s)
        assert done.wait(5)
        marker = drop_marker(tmp_path, lambda: [path for path, _ in seen])
    finally:
        watcher.stop()
    assert seen == [(target, b"123456789,2200\n" * 5), (marker, b"")]


def test_temporary_and_lock_files_are_ignored(tmp_path: Path) -> None:
    seen: list[Path] = []
    watcher = InboxWatcher(tmp_path, seen.append, quiet=0.05)
    watcher.start()
    try:
        # real.csv comes last: once it is reported, so would have been any of the others (see drop_marker).
        for name in ("~$book.csv", ".hidden.csv", "x.tmp", "1A2B3C4D", "real.csv"):  # 1A2B3C4D: Excel saving
            (tmp_path / name).write_bytes(b"x")
        wait_until(lambda: seen, 5, "real.csv was not reported")
    finally:
        watcher.stop()
    assert seen == [tmp_path / "real.csv"]


def test_a_file_locked_by_another_program_is_retried_not_failed(tmp_path: Path, monkeypatch) -> None:
    # Linux has no mandatory locks: the lock Excel holds on Windows is played by _openable refusing for a while.
    from inbox import watcher as watcher_module

    locked_until = time.monotonic() + 0.6
    monkeypatch.setattr(watcher_module, "_openable", lambda path: time.monotonic() > locked_until)
    seen: list[tuple[Path, float]] = []
    watcher = InboxWatcher(tmp_path, lambda path: seen.append((path, time.monotonic())), quiet=0.05)
    watcher.start()
    try:
        (tmp_path / "locked.csv").write_bytes(b"form_no,port\n")
        wait_until(lambda: seen, 5, "the locked file was not reported once it could be opened")
        marker = drop_marker(tmp_path, lambda: [path for path, _ in seen])
    finally:
        watcher.stop()
    assert [path for path, _ in seen] == [tmp_path / "locked.csv", marker]  # read once
    assert seen[0][1] >= locked_until


def test_half_written_files_left_by_a_crash_are_removed_but_fresh_ones_kept(tmp_path: Path) -> None:
    from outbox.files import remove_stale_drafts

    stale, fresh, done = tmp_path / ".abc.tmp", tmp_path / ".def.tmp", tmp_path / "a.result.csv"
    for path in (stale, fresh, done):
        path.write_bytes(b"x")
    hour_ago = time.time() - 3600
    os.utime(stale, (hour_ago, hour_ago))
    os.utime(done, (hour_ago, hour_ago))
    assert remove_stale_drafts(tmp_path, older_than=600) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [".def.tmp", "a.result.csv"]  # a writer may own the fresh one
