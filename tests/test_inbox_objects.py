"""What was read is what is kept and answered; only regular files are read; a slow writer is waited for (issue 18,
items 1-3). Intake runs without the center, as in test_intake_corpus.py; the watcher's tests use a real watcher."""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from pathlib import Path

import pytest

from agent import intake as intake_module
from agent.intake import Intake
from agent.taking import Changed
from inbox.watcher import InboxWatcher, LookAgain
from tests.center_support import wait_until
from tests.test_intake_corpus import intake as intake  # the fixture: a workspace with ports
from tests.test_intake_units import drop_marker

V1 = b"form_no,port\n260000001,2200\n"
V2 = b"form_no,port\n260000002,2200\n260000003,2200\n"


def archived(intake: Intake) -> list[bytes]:
    return sorted(p.read_bytes() for p in intake.workspace.archive.iterdir())


def errors_text(intake: Intake) -> str:
    return "".join(p.read_text(encoding="utf-8-sig") for p in intake.workspace.errors.glob("*.errors.csv"))


def during_read(monkeypatch: pytest.MonkeyPatch, action: object) -> None:
    """Run ``action`` once, while intake reads the file (between taking its bytes and recording the batch)."""
    real = intake_module.open_source
    fired: list[bool] = []

    def open_and_act(path: Path, kind: object) -> object:
        if not fired:
            fired.append(True)
            action()  # type: ignore[operator]
        return real(path, kind)  # type: ignore[arg-type]

    monkeypatch.setattr(intake_module, "open_source", open_and_act)


# -- item 1: what was read is what is kept and answered ---------------------------------------------------------------


def test_a_file_replaced_while_read_keeps_both_versions_and_answers_both(
    intake: Intake, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = intake.workspace.inbox / "filings" / "X.csv"
    path.write_bytes(V1)
    newer = intake.workspace.root / "X-new.csv"
    newer.write_bytes(V2)
    during_read(monkeypatch, lambda: os.replace(newer, path))  # a new version renamed over it

    first = intake.take(path)
    assert first is not None and [r["form_no"] for r in intake.store.records(first)] == ["260000001"]
    assert path.read_bytes() == V2, "the new version stays in the inbox to be taken on its own"
    assert archived(intake) == [V1], "the archive holds the version that was read, under its own hash"

    second = intake.take(path)
    assert second is not None and len(intake.store.records(second)) == 2
    assert archived(intake) == sorted([V1, V2]) and not path.exists()
    assert errors_text(intake) == ""


def test_a_file_appended_to_while_read_is_not_answered_from_a_mix(
    intake: Intake, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = intake.workspace.inbox / "filings" / "growing.csv"
    path.write_bytes(V1)

    def append() -> None:
        with path.open("ab") as out:
            out.write(b"260000002,2200\n")
        os.utime(path, ns=(time.time_ns(), time.time_ns() + 10_000_000))

    during_read(monkeypatch, append)
    with pytest.raises(Changed):
        intake.take(path)
    assert intake.store.counts() == {} and archived(intake) == [] and path.exists()
    assert list(intake.workspace.errors.iterdir()) == [], "nothing was said about a half-read file"
    batch = intake.take(path)  # the watcher looks again once it is stable: read from the start
    assert batch is not None and len(intake.store.records(batch)) == 2
    assert archived(intake) == [V1 + b"260000002,2200\n"]


def test_the_archived_copy_is_the_bytes_read_even_if_the_path_changes_before_archiving(
    intake: Intake, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = intake.workspace.inbox / "filings" / "late.csv"
    path.write_bytes(V1)
    real_commit = intake.store.ingest

    def ingest_then_replace(*args: object, **kwargs: object) -> object:
        context = real_commit(*args, **kwargs)  # type: ignore[arg-type]
        newer = intake.workspace.root / "late-new.csv"
        newer.write_bytes(V2)
        os.replace(newer, path)
        return context

    monkeypatch.setattr(intake.store, "ingest", ingest_then_replace)
    assert intake.take(path) is not None
    assert archived(intake) == [V1] and path.read_bytes() == V2


# -- item 3: regular files only ----------------------------------------------------------------------------------------


def take_within(intake: Intake, path: Path, seconds: float = 5.0) -> None:
    """Intake of ``path`` must end within ``seconds`` (a blocked open() of a FIFO would not)."""
    done = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            intake.take(path)
        except BaseException as exc:  # reported below
            failure.append(exc)
        done.set()

    threading.Thread(target=run, daemon=True).start()
    assert done.wait(seconds), f"intake of {path.name} did not finish within {seconds} s"
    assert not failure, failure


@pytest.mark.parametrize(
    "make, what",
    [
        (lambda p, outside: p.symlink_to(outside), "a symbolic link"),
        (lambda p, outside: p.symlink_to("/dev/zero"), "a symbolic link"),
        (lambda p, outside: p.symlink_to(outside.parent), "a symbolic link"),
        (lambda p, outside: os.mkfifo(p), "a named pipe (FIFO)"),
    ],
    ids=["link-to-outside-file", "link-to-dev-zero", "link-to-folder", "fifo"],
)
def test_links_pipes_and_devices_are_refused_unopened(intake: Intake, tmp_path: Path, make: object, what: str) -> None:
    outside = tmp_path / "secret.csv"
    outside.write_bytes(b"root:SECRET-HASH:19000:0:99999:7:::\n260000001,2200\n")
    path = intake.workspace.inbox / "filings" / "link.csv"
    make(path, outside)  # type: ignore[operator]
    take_within(intake, path)
    text = errors_text(intake)
    assert text.startswith("\ufeff") is False and "这不是普通文件" in text and what in text
    assert text.index("这不是普通文件") < text.index("not a regular file")
    assert "SECRET" not in text, "nothing of what a link points to is read"
    assert intake.store.counts() == {} and not os.path.lexists(path), "the entry left the inbox"
    assert outside.read_bytes().startswith(b"root:"), "what it pointed to is untouched"


def test_a_socket_in_the_inbox_is_refused(intake: Intake) -> None:
    path = intake.workspace.inbox / "filings" / "s.csv"
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(path))
        take_within(intake, path)
    finally:
        server.close()
    assert "a socket" in errors_text(intake) and intake.store.counts() == {}


@pytest.mark.skipif(os.geteuid() != 0, reason="making a device node needs root (CI runs as root)")
def test_a_device_node_is_refused(intake: Intake) -> None:
    path = intake.workspace.inbox / "filings" / "zero.csv"
    os.mknod(path, 0o600 | 0o020000, os.makedev(1, 5))  # a character device: /dev/zero's numbers
    take_within(intake, path)
    assert "a device" in errors_text(intake) and intake.store.counts() == {}


def test_a_file_in_a_sub_folder_is_taken_as_the_kind_folder_it_is_under(intake: Intake) -> None:
    folder = intake.workspace.inbox / "filings" / "六月"
    folder.mkdir()
    batch = intake.take(folder / "a.csv") if (folder / "a.csv").write_bytes(V1) else None
    assert batch is not None and intake.store.batch(batch)["kind"] == "filings"


# -- item 4: any name works --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("data, batch", [(V1, True), (b"form_no,port\n12,2200\n", False)], ids=["batch", "errors"])
def test_a_name_of_80_chinese_characters_is_taken_and_archived(intake: Intake, data: bytes, batch: bool) -> None:
    name = "出口收汇核销单备案" * 9 + ".csv"  # 81 characters, 244 bytes: the archive name alone would pass 255
    path = intake.workspace.inbox / "filings" / name
    path.write_bytes(data)
    assert (intake.take(path) is not None) is batch
    [kept] = intake.workspace.archive.iterdir()
    assert kept.read_bytes() == data and len(kept.name.encode()) <= 200 and "出口收汇核销单备案" in kept.name
    if not batch:
        [report] = intake.workspace.errors.glob("*.errors.csv")
        assert report.name.startswith("出口收汇核销单备案") and len(report.name.encode()) <= 200


# Names a shared folder can hold that Windows Explorer would never make: the clerk's file is taken all the same, and
# nothing the agent writes (archive, errors file) carries a control character, a bidi override or an overlong name.
ODD_NAMES = [
    pytest.param("a" * 251 + ".csv", id="ascii-255-bytes"),  # the longest name a file system allows
    pytest.param("口岸备案\u202e0601.csv", id="bidi-override"),  # shows as "口岸备案1060.csv"
    pytest.param("备案\x07\t0601.csv", id="bell-and-tab"),
    pytest.param("备案\n0601.csv", id="line-break"),  # possible on a Linux or Samba share
    pytest.param(" -备案 0601 .csv", id="spaces-and-dashes"),
    # 备案 in GBK, on a share mounted without the right charset: a name that is not UTF-8
    pytest.param("\udcb1\udcb8\udcb0\udcb8.csv", id="gbk-bytes"),
    pytest.param("\udcff\udcfe0601.csv", id="not-any-encoding"),
]


def test_a_name_in_gbk_bytes_is_read_as_the_clerk_wrote_it(intake: Intake) -> None:
    path = intake.workspace.inbox / "filings" / "\udcb1\udcb8\udcb0\udcb80601.csv"  # 备案0601.csv, as GBK bytes
    path.write_bytes(b"form_no,port\n12,2200\n")

    assert intake.take(path) is None
    assert sorted(p.name for p in intake.workspace.errors.iterdir()) == ["备案0601.errors.csv", "备案0601.errors.xlsx"]
    assert [name for (name,) in intake.store.conn.execute("SELECT name FROM files")] == ["备案0601.csv"]


INVISIBLE_IN_NAMES = re.compile("[\x00-\x1f\x7f\u202a-\u202e\u2066-\u2069\udc80-\udcff]")


@pytest.mark.parametrize("data, batch", [(V1, True), (b"form_no,port\n12,2200\n", False)], ids=["batch", "errors"])
@pytest.mark.parametrize("name", ODD_NAMES)
def test_an_odd_name_is_taken_and_nothing_written_carries_it_raw(
    intake: Intake, name: str, data: bytes, batch: bool
) -> None:
    path = intake.workspace.inbox / "filings" / name
    path.write_bytes(data)
    assert (intake.take(path) is not None) is batch
    assert not os.path.lexists(path), "the file left the inbox"
    [kept] = intake.workspace.archive.iterdir()
    written = [kept, *intake.workspace.errors.iterdir()]
    assert kept.read_bytes() == data and len(written) == (1 if batch else 3)  # the errors file as .csv and .xlsx
    for made in written:
        assert len(os.fsencode(made.name)) <= 200 and not INVISIBLE_IN_NAMES.search(made.name), made.name
    if not batch:
        assert "“核销单号”：只有 2 位数字" in errors_text(intake)


# -- item 2: complete means complete (the watcher) --------------------------------------------------------------------


def watch(root: Path, seen: list[tuple[Path, bytes]], **options: float) -> InboxWatcher:
    def on_complete(path: Path) -> None:
        seen.append((path, path.read_bytes() if path.is_file() and not path.is_symlink() else b""))

    watcher = InboxWatcher(root, on_complete, **options)
    watcher.start()
    return watcher


def test_a_slow_writer_opening_the_file_for_each_piece_is_waited_for(tmp_path: Path) -> None:
    seen: list[tuple[Path, bytes]] = []
    watcher = watch(tmp_path, seen, quiet=5.0, settle=1.5)  # the defaults' shape: settle 1.5 s, quiet longer
    try:
        target = tmp_path / "copy.csv"
        pieces = [b"form_no,port\n260000001,2200\n", b"260000002,2200\n", b"260000003,2200\n"]
        for n, piece in enumerate(pieces):
            with target.open("ab") as out:  # a network copy: each piece its own open and close
                out.write(piece)
            if n < len(pieces) - 1:
                pause_ends = time.monotonic() + 1.0  # the writer's one-second pause; the watcher must not take it
                wait_until(lambda end=pause_ends: time.monotonic() >= end or seen, 2, "")  # type: ignore[misc]
                assert seen == [], "the file was taken between two pieces"
        wait_until(lambda: seen, 10, "the complete file was never taken")
        drop_marker(tmp_path, lambda: [p for p, _ in seen])
    finally:
        watcher.stop()
    assert seen[0] == (target, b"".join(pieces)) and len(seen) == 2


def test_a_file_closed_after_writing_is_taken_after_the_short_settle_not_the_quiet_period(tmp_path: Path) -> None:
    seen: list[tuple[Path, float]] = []
    watcher = InboxWatcher(tmp_path, lambda p: seen.append((p, time.monotonic())), quiet=30.0, settle=0.3)
    watcher.start()
    try:
        dropped = time.monotonic()
        (tmp_path / "done.csv").write_bytes(V1)
        wait_until(lambda: seen, 10, "a closed file was not taken well before the 30 s quiet period")
    finally:
        watcher.stop()
    assert 0.25 <= seen[0][1] - dropped < 5


def test_a_file_renamed_into_the_inbox_is_taken_at_once(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    seen: list[tuple[Path, float]] = []
    watcher = InboxWatcher(inbox, lambda p: seen.append((p, time.monotonic())), quiet=30.0, settle=10.0)
    watcher.start()
    try:
        staged = inbox / "1A2B3C4D"  # Excel writes a temporary file beside the workbook, then renames it
        staged.write_bytes(V1)
        renamed = time.monotonic()
        os.replace(staged, inbox / "saved.csv")
        wait_until(lambda: seen, 5, "a file renamed into the inbox was not taken before the 10 s settle")
    finally:
        watcher.stop()
    assert seen[0][0] == inbox / "saved.csv" and seen[0][1] - renamed < 5


def test_a_fifo_and_a_link_are_handed_over_without_being_opened(tmp_path: Path) -> None:
    seen: list[tuple[Path, bytes]] = []
    os.mkfifo(tmp_path / "pipe.csv")  # opening it for reading would block the watcher for good
    (tmp_path / "link.csv").symlink_to("/dev/zero")
    watcher = watch(tmp_path, seen, quiet=0.05)
    try:
        wait_until(lambda: len(seen) >= 2, 5, "the FIFO and the link were not handed over")
        drop_marker(tmp_path, lambda: [p for p, _ in seen])
    finally:
        watcher.stop()
    assert sorted(p.name for p, _ in seen) == ["link.csv", "pipe.csv", "zz-marker.csv"]


def test_a_file_that_changed_while_read_is_looked_at_again(tmp_path: Path) -> None:
    calls: list[Path] = []

    def on_complete(path: Path) -> None:
        calls.append(path)
        if len(calls) == 1:
            raise LookAgain(path.name)

    watcher = InboxWatcher(tmp_path, on_complete, quiet=0.05)
    watcher.start()
    try:
        (tmp_path / "a.csv").write_bytes(V1)
        wait_until(lambda: len(calls) == 2, 5, "the file was not looked at again")
    finally:
        watcher.stop()
