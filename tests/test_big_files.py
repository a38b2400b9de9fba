"""A file larger than one batch may be (sync/limits.py) is answered in parts: read and checked whole, signed as several
batches of at most the limits, each answered on its own; large files are read in a short-lived worker process so the
resident agent's memory comes back (issue 18)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from agent import intake_process, listing, store_ingest
from agent.intake import Intake
from agent.intake_process import ProcessIntake
from agent.resend import CannotResend, resend
from agent.store import Store
from inbox import budget
from sync.limits import MAX_BATCH_BYTES, MAX_BATCH_CONTAINERS, MAX_BATCH_RECORDS
from tests.center_support import open_center, wait_for
from tests.rigs import ENTERPRISE, loopback_agent
from tests.tables import raw_rows, read_table
from tests.test_intake_corpus import intake as intake  # the fixture: a workspace with ports


def filings(count: int, first: int = 260000000, bad_row: int | None = None) -> str:
    """A filings CSV of ``count`` rows; ``bad_row`` (a row as Excel numbers it) gets a port that does not exist."""
    rows = [f"{first + i:09d},{'9999' if i + 2 == bad_row else '2200'}\n" for i in range(count)]
    return "form_no,port\n" + "".join(rows)


def drop(intake: Intake, name: str, text: str, folder: str = "filings") -> Path:
    path = intake.workspace.inbox / folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_file_over_one_batch_becomes_parts_in_order_with_its_own_row_numbers(intake: Intake) -> None:
    first = intake.take(drop(intake, "六月.csv", filings(2 * MAX_BATCH_RECORDS + 1)))

    assert first is not None
    parts = [intake.store.batch(part) for part in intake.store.parts(first)]
    assert [(p["part"], p["parts"], p["record_count"]) for p in parts] == [(1, 3, 5000), (2, 3, 5000), (3, 3, 1)]
    assert [p["stem"] for p in parts] == [f"六月（第{n}部分，共3部分）" for n in (1, 2, 3)]
    assert parts[0]["id"] == first, "the file's row names its first part"
    last = intake.store.records(parts[2]["id"])
    assert last == [{"seq": 10002, "form_no": f"{260000000 + 10000:09d}", "port": "2200"}], (
        "rows keep the file's numbers"
    )
    assert [b["id"] for b in intake.store.batches_in("received")] == [p["id"] for p in parts]


def test_a_mistake_anywhere_refuses_the_whole_file_before_anything_is_signed(intake: Intake) -> None:
    assert intake.take(drop(intake, "big.csv", filings(12000, bad_row=11000))) is None

    assert intake.store.counts() == {}, "no part of it is kept"
    rows = raw_rows(intake.workspace.errors / "big.errors.csv")
    assert [r[:3] for r in rows[1:]] == [["11000", "port", "9999"]]


def test_a_form_named_in_two_parts_is_found(intake: Intake) -> None:
    text = filings(MAX_BATCH_RECORDS + 10) + "260000003,2200\n"  # row 5,012 repeats row 5, in another part

    assert intake.take(drop(intake, "twice.csv", text)) is None
    rows = raw_rows(intake.workspace.errors / "twice.errors.csv")
    assert "5, 5012" in rows[1][3]


def test_a_check_is_never_split(intake: Intake) -> None:
    text = "form_no,operation\n" + "".join(f"{260000000 + i:09d},losses\n" for i in range(MAX_BATCH_RECORDS + 1))

    assert intake.take(drop(intake, "check.csv", text, "checks")) is None
    assert "5000 rows a batch may hold" in (intake.workspace.errors / "check.errors.csv").read_text("utf-8-sig")


def test_a_file_over_the_per_file_limit_is_refused(intake: Intake, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(budget, "MAX_FILE_RECORDS", 20)  # the real limit is two million rows

    assert intake.take(drop(intake, "huge.csv", filings(21))) is None
    text = (intake.workspace.errors / "huge.errors.csv").read_text("utf-8-sig")
    assert "文件超过 20 行的上限" in text and intake.store.counts() == {}


def test_a_large_file_is_taken_in_a_worker_process(intake: Intake) -> None:
    announced: list[tuple[str, str]] = []
    asked: list[bool] = []
    intake.announce = lambda kind, path: announced.append((kind, path.name))
    intake.on_batch = lambda: asked.append(True)
    path = drop(intake, "large.csv", filings(300))

    ProcessIntake(intake, worker_bytes=1000).handle(path)

    assert not path.exists() and asked == [True], "taken, and a sync asked for"
    assert intake.store.counts() == {"received": 1}
    assert intake.store.conn.execute("SELECT name FROM files").fetchall() == [("large.csv",)]
    bad = drop(intake, "bad.csv", filings(300, bad_row=7))
    ProcessIntake(intake, worker_bytes=1000).handle(bad)
    assert announced == [("errors", "bad.errors.xlsx")], "what the worker announced reaches the tray"
    assert intake.problem is None


def test_a_worker_that_takes_too_long_is_stopped_and_the_file_refused_with_why(
    intake: Intake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(intake_process, "BASE_SECONDS", 0)  # no time at all: the worker is stopped at once
    monkeypatch.setattr(intake_process, "SECONDS_PER_MB", 0)
    path = drop(intake, "slow.csv", filings(300))

    ProcessIntake(intake, worker_bytes=1000).handle(path)

    assert not path.exists() and intake.store.counts() == {}, "not read here instead, and not left in the inbox"
    text = (intake.workspace.errors / "slow.errors.csv").read_text("utf-8-sig")
    assert "读取文件时出错" in text and "longer than 0 s" in text
    assert [p.name.endswith("slow.csv") for p in intake.workspace.archive.iterdir()] == [True]
    assert intake.problem is not None and "slow.csv" in intake.problem


def test_a_worker_that_cannot_start_leaves_the_file_to_the_resident_agent(
    intake: Intake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "executable", str(intake.workspace.root / "no-such-python"))  # a fault, made here
    path = drop(intake, "large.csv", filings(300))

    ProcessIntake(intake, worker_bytes=1000).handle(path)

    assert not path.exists() and intake.store.counts() == {"received": 1}


async def test_a_split_file_comes_back_as_one_result_per_part(tmp_path: Path) -> None:
    with open_center(tmp_path, [ENTERPRISE]) as center:
        forms = center.issue_forms(ENTERPRISE, 3)
        async with loopback_agent(center, tmp_path / "ws") as (_agent, workspace, _port):
            rows = [f"{form},2200\n" for form in forms]  # three real forms, then unknown ones to fill the parts
            rows += [f"{270000000 + i:09d},2200\n" for i in range(MAX_BATCH_RECORDS + 100)]
            (workspace.inbox / "filings" / "月底.csv").write_text("form_no,port\n" + "".join(rows), encoding="utf-8")
            results = [
                await wait_for(workspace.results / f"月底（第{n}部分，共2部分）.result.csv", timeout=60) for n in (1, 2)
            ]
            first, second = (read_table(result) for result in results)
            assert len(first) == MAX_BATCH_RECORDS and len(second) == 103
            assert [row["status"] for row in first[:3]] == ["OK"] * 3, first[:3]
            assert first[0]["row"] == "2" and second[-1]["row"] == str(len(rows) + 1), (
                "rows as the clerk's file has them"
            )
            receipts = sorted(p.name for p in workspace.receipts.glob("*.receipt.jws"))
            assert len(receipts) == 2, receipts
            assert Store(workspace.store_file).counts() == {"delivered": 2}


def test_the_page_lists_a_split_file_once_with_all_its_rows(intake: Intake) -> None:
    intake.take(drop(intake, "六月.csv", filings(2 * MAX_BATCH_RECORDS + 1)))
    intake.take(drop(intake, "small.csv", "form_no,port\n280000001,2200\n"))

    listed = listing.files(intake.store, listing.FileFilter())["files"]
    assert [(f["name"], f["rows"], f["parts"]) for f in listed] == [("small.csv", 1, 1), ("六月.csv", 10001, 3)]
    in_last_part = f"{260000000 + 10000:09d}"
    found = listing.files(intake.store, listing.FileFilter(q=in_last_part))["files"]
    assert [f["name"] for f in found] == ["六月.csv"], "a form of any part finds the file"


def test_parts_also_fit_a_batch_body_when_rows_are_long(intake: Intake) -> None:
    remark = "四季度出口运费" * 28  # 196 characters, as long as a remark may be
    text = "申请份数,备注\n" + f"5,{remark}\n" * MAX_BATCH_RECORDS

    first = intake.take(drop(intake, "long.csv", text, "applications"))

    assert first is not None
    parts = [intake.store.batch(part) for part in intake.store.parts(first)]
    assert len(parts) >= 2 and sum(p["record_count"] for p in parts) == MAX_BATCH_RECORDS
    for part in parts:  # each part's records, escaped at worst, leave room in a 4 MiB body
        escaped = sum(len(body.encode("ascii", "backslashreplace")) for body in intake.store.record_texts(part["id"]))
        assert escaped < MAX_BATCH_BYTES * 0.8


def _split_with_states(intake: Intake, *states: str) -> str:
    """A file in three parts whose parts reached ``states`` (set directly: this is about how the file is judged)."""
    first = intake.take(drop(intake, "六月.csv", filings(2 * MAX_BATCH_RECORDS + 1)))
    assert first is not None
    for part, state in zip(intake.store.parts(first), states, strict=True):
        with intake.store.transaction():
            intake.store.conn.execute("UPDATE batches SET state = ? WHERE id = ?", (state, part))
    return first


def _outcomes(intake: Intake) -> dict[str, list[str]]:
    return {
        outcome: [f["name"] for f in listing.files(intake.store, listing.FileFilter(outcome=outcome))["files"]]
        for outcome in listing.OUTCOMES
    }


@pytest.mark.parametrize(
    "states, outcome",
    [
        (("delivered", "delivered", "rejected"), "partly"),  # the last part refused whole
        (("rejected", "delivered", "delivered"), "partly"),  # the first part refused whole
        (("sent", "delivered", "delivered"), "pending"),  # a part still on its way
        (("rejected", "rejected", "rejected"), "refused"),
    ],
)
def test_a_split_file_is_judged_by_all_its_parts(intake: Intake, states: tuple[str, ...], outcome: str) -> None:
    _split_with_states(intake, *states)

    [shown] = listing.files(intake.store, listing.FileFilter())["files"]
    assert shown["outcome"] == outcome
    assert {name for name, files in _outcomes(intake).items() if files} == {outcome}
    assert shown["resendable"] is (outcome == "refused"), "never sent again while a part of it went through"
    if outcome != "refused":
        with pytest.raises(CannotResend):
            resend(intake.workspace, intake.store, shown["key"])


def test_a_split_file_dropped_again_while_a_part_is_on_its_way_is_not_sent_twice(intake: Intake) -> None:
    _split_with_states(intake, "delivered", "sent", "sent")

    again = intake.workspace.inbox / "filings" / "六月 - 副本.csv"
    again.write_text(filings(2 * MAX_BATCH_RECORDS + 1), encoding="utf-8")
    assert intake.take(again) is None
    assert intake.store.counts() == {"delivered": 1, "sent": 2}, "no second copy of it"


def test_parts_fit_the_centers_count_of_braces_and_brackets(intake: Intake) -> None:
    text = "申请份数,备注\n" + "5,[加急][Q4]\n" * MAX_BATCH_RECORDS  # brackets in a value count at the center too

    first = intake.take(drop(intake, "urgent.csv", text, "applications"))

    assert first is not None
    bodies = [",".join(intake.store.record_texts(part)) for part in intake.store.parts(first)]
    assert len(bodies) >= 2
    assert all(body.count("{") + body.count("[") <= MAX_BATCH_CONTAINERS - 64 for body in bodies)


def test_a_check_stays_one_batch_whatever_its_size(intake: Intake, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_ingest, "MAX_PART_TEXT_BYTES", 1000)  # as if its records were long
    rows = "".join(f"{260000000 + i:09d},losses\n" for i in range(20))

    check = intake.take(drop(intake, "check.csv", "form_no,operation\n" + rows, "checks"))
    filing = intake.take(drop(intake, "filing.csv", filings(20)))

    assert check is not None and filing is not None
    assert len(intake.store.parts(check)) == 1 and len(intake.store.parts(filing)) > 1


def test_reading_a_file_holds_the_store_only_for_its_commit(intake: Intake) -> None:
    other = Store(intake.workspace.store_file)  # the sync, the signer, the page: another connection
    other.conn.execute("PRAGMA busy_timeout = 100")  # it would not wait a reading out
    store_file = intake.workspace.store_file

    with intake.store.ingest("a" * 64, "x.csv", "x", "filings", "csv") as ingest:
        for i in range(2 * MAX_BATCH_RECORDS):
            form = f"{260000000 + i:09d}"
            ingest.add(i + 2, f'{{"form_no":"{form}","port":"2200","seq":{i + 2}}}', [form])
        other.set_meta(probe="written while a file was read")
        assert list(store_file.parent.glob(f"{store_file.name}.ingest-*")), "its records wait in scratch space"
        first = ingest.commit()

    assert other.meta()["probe"] == "written while a file was read"
    assert sum(len(intake.store.records(part)) for part in intake.store.parts(first)) == 2 * MAX_BATCH_RECORDS
    assert not list(store_file.parent.glob(f"{store_file.name}.ingest-*")), "and the scratch space is gone"
