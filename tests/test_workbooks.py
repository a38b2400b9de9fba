"""Excel both ways: workbooks dropped into the inbox are read as the clerk sees them, what Excel did to a value is
named with what to do, XML comes in any encoding Chinese systems write, a file the reader fails on is archived with
an errors file, and every table written back opens in a spreadsheet with every digit kept."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook

from agent.intake import Intake
from inbox import validate
from inbox.schema import KINDS
from outbox.columns import columns
from outbox.files import write_table
from outbox.tidy import move_old_files
from tests.center_support import eventually, open_center, wait_for
from tests.intake_corpus import Case
from tests.rigs import ENTERPRISE, loopback_agent
from tests.tables import local_zone, raw_rows, read_table, read_workbook
from tests.test_intake_corpus import drop
from tests.test_intake_corpus import intake as intake  # the fixture: a workspace with ports
from tray.state import Level, tray_view

F1, F2 = "260000001", "260000002"


def sheet(path: Path, header: list[str], *rows: list[Any], formats: dict[int, str] | None = None) -> Path:
    """A workbook as Excel saves it: typed cells (numbers, dates, text), ``formats`` by column index."""
    book = Workbook()
    ws = book.active
    ws.append(header)
    for row in rows:
        ws.append(row)
        for index, number_format in (formats or {}).items():
            ws.cell(ws.max_row, index + 1).number_format = number_format
    book.save(path)
    return path


def take_workbook(intake: Intake, name: str, folder: str, header: list[str], *rows: list[Any], **kw: Any) -> str | None:
    path = sheet(intake.workspace.inbox / folder / name, header, *rows, **kw)
    return intake.take(path)


def errors_of(intake: Intake, stem: str) -> list[dict[str, str]]:
    return read_table(intake.workspace.errors / f"{stem}.errors.csv")


# -- workbooks in ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(KINDS))
def test_each_xlsx_template_filled_in_and_dropped_becomes_a_batch(intake: Intake, kind: str) -> None:
    template = intake.workspace.root / "templates" / f"{kind}.xlsx"
    book = load_workbook(template)
    ws = book.worksheets[0]
    assert ws.freeze_panes == "A2"
    if KINDS[kind].ranges:  # a second row, as a clerk adds it: a run of forms
        more = {"filings": ["5300"], "checks": ["口岸备案", "5300"]}.get(kind, [])
        ws.append([None, "260000101", 3, *more])
    dropped = intake.workspace.inbox / kind / f"filled-{kind}.xlsx"
    book.save(dropped)
    batch_id = intake.take(dropped)
    assert batch_id is not None, [p.read_text(encoding="utf-8-sig") for p in intake.workspace.errors.glob("*.csv")]
    records = intake.store.records(batch_id)
    assert [r["seq"] for r in records] == ([2, 3] if KINDS[kind].ranges else [2]), "rows as the sheet numbers them"


def test_identifier_columns_of_the_templates_are_text_and_choices_are_lists(intake: Intake) -> None:
    ws = load_workbook(intake.workspace.root / "templates" / "submissions.xlsx").worksheets[0]
    assert ws["A2"].number_format == "@" and ws["D2"].number_format == "@"  # form and declaration numbers
    ws = load_workbook(intake.workspace.root / "templates" / "queries.xlsx").worksheets[0]
    lists = {str(v.sqref).split(":")[0]: v.formula1 for v in ws.data_validations.dataValidation if v.type == "list"}
    assert "核销单" in lists["A2"] and "以……开始" in lists["C2"]  # as the manual writes it
    assert ws["A2"].value == "核销单" and ws["C2"].value == "以……开始", "the example row uses the listed names"


def test_a_workbook_is_read_as_the_clerk_sees_it(intake: Intake) -> None:
    batch_id = take_workbook(
        intake,
        "seen.xlsx",
        "filings",
        ["核销单号", "口岸"],
        [F1, 2200],  # text, and a port code Excel stored as a number
        [260000002, "上海海关"],  # all nine digits as a number: nothing lost
        [4, "2200"],  # shown as 000000004 by its number format
        [None, None],
        ["260000005\n", "5300"],  # a line break in a cell
        formats={0: "000000000"},
    )
    assert batch_id is not None, errors_of(intake, "seen")
    records = intake.store.records(batch_id)
    assert [(r["seq"], r["form_no"], r["port"]) for r in records] == [
        (2, F1, "2200"),
        (3, F2, "上海海关"),
        (4, "000000004", "2200"),
        (6, "260000005", "5300"),
    ]


@pytest.mark.parametrize(
    ("folder", "header", "row", "column", "says"),
    [
        ("filings", ["form_no", "port"], [4, "2200"], "form_no", "Excel stored it as a number and dropped the leading"),
        (
            "submissions",
            ["form_no", "declaration_no"],
            [F1, 220020261000000001],
            "declaration_no",
            "kept only 15 significant digits",
        ),
        ("filings", ["form_no", "port"], [F1, 100], "port", "Excel stored it as a number and dropped the leading"),
        ("queries", ["business", "attribute", "op", "value"], ["form", "form_no", "eq", 4], "value", "leading zeros"),
    ],
)
def test_what_excel_did_to_a_workbook_cell_is_named_with_what_to_do(
    intake: Intake, folder: str, header: list[str], row: list[Any], column: str, says: str
) -> None:
    assert take_workbook(intake, "damaged.xlsx", folder, header, row) is None
    [error] = errors_of(intake, "damaged")
    assert (error["row"], error["column"]) == ("2", column)
    assert (
        says in error["message"]
        and "请把该列设为文本格式后重新输入，或使用 templates 中的 .xlsx 模板" in error["message"]
    )


@pytest.mark.parametrize(
    ("folder", "text", "says"),
    [
        ("filings", "form_no,port\n4,2200\n", "Excel drops the leading zeros of a number (000000004 becomes 4)"),
        ("submissions", f"form_no,declaration_no\n{F1},2.20020261E+17\n", "scientific notation (2.20020261E+17)"),
        ("queries", "business,attribute,op,value\nform,issue_date,eq,5/6/2026\n", "does not tell day from month"),
        ("filings", "form_no,port\n260000001,100\n", "Excel drops the leading zeros of a number (0100 becomes 100)"),
    ],
)
def test_what_excel_did_to_a_csv_is_named_with_what_to_do(intake: Intake, folder: str, text: str, says: str) -> None:
    assert intake.take(drop(intake, Case("excel.csv", folder, text.encode()))) is None
    [error] = errors_of(intake, "excel")
    assert says in error["message"], error


def test_what_excel_rewrote_is_taken_as_meant_where_that_is_beyond_doubt(intake: Intake) -> None:
    applied = intake.take(drop(intake, Case("apply.csv", "applications", b'copies\n"1,000"\n')))
    assert applied is not None and intake.store.records(applied)[0]["copies"] == 1000
    asked = intake.take(
        drop(intake, Case("ask.csv", "queries", "业务类型,属性,运算,值\n核销单,发单日期,等于,2026/5/6\n".encode()))
    )
    assert asked is not None and intake.store.records(asked)[0]["value"] == "2026-05-06"
    dated = take_workbook(
        intake,
        "dated.xlsx",
        "queries",
        ["业务类型", "属性", "运算", "值"],
        ["核销单", "发单日期", "等于", dt.date(2026, 5, 7)],
    )
    assert dated is not None and intake.store.records(dated)[0]["value"] == "2026-05-07"


def test_every_mistake_of_a_file_is_reported_in_one_pass(intake: Intake) -> None:
    text = (
        "核销单号,口岸,金额,备用\r\n"
        f'{F1},2200,5,x\r\n"{F2}\r\n",9999,6,y\r\n'  # a cell with a line break: the rows after keep their numbers
        f"{F1},,7,z\r\n"  # named twice, and its port is missing
    )
    assert intake.take(drop(intake, Case("all.csv", "filings", text.encode()))) is None
    got = [(e["row"], e["column"], e["message"].split(" / ")[-1]) for e in errors_of(intake, "all")]
    assert (
        got[:2]
        == [
            ("1", "金额", got[0][2]),
            ("1", "备用", got[1][2]),
        ]
        and "unknown column '金额'" in got[0][2]
    )
    assert (
        "3",
        "口岸",
        "port '9999' is not in the port table; give the 4-digit customs code or the port's exact name "
        "('eport-agent ports search' looks ports up)",
    ) in got
    assert ("4", "口岸", "'port' is empty") in got, "the column named as the clerk's header named it"
    assert ("4", "核销单号", f"form {F1} appears more than once in this file (rows 2, 4)") in got


@pytest.mark.parametrize("encoding", ["gbk", "gb2312", "gb18030", "utf-8", "utf-16"])
def test_xml_in_each_encoding_chinese_systems_write(intake: Intake, encoding: str) -> None:
    text = (
        f'<?xml version="1.0" encoding="{encoding.upper()}"?>\n'
        f"<filings><filing><form_no>{F1}</form_no><port>上海海关</port></filing></filings>\n"
    )
    batch_id = intake.take(drop(intake, Case(f"{encoding}.xml", "filings", text.encode(encoding))))
    assert batch_id is not None, [p.read_text(encoding="utf-8-sig") for p in intake.workspace.errors.glob("*.csv")]
    assert intake.store.records(batch_id)[0]["port"] == "上海海关"


def test_a_file_the_reader_fails_on_ends_archived_with_an_errors_file(
    intake: Intake, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: validate.Validator, row: Any) -> Any:
        raise RuntimeError("the reader tripped")

    monkeypatch.setattr(validate.Validator, "check", broken)
    path = drop(intake, Case("trips.csv", "filings", f"form_no,port\n{F1},2200\n".encode()))
    assert intake.take(path) is None
    assert not path.exists() and len(list(intake.workspace.archive.iterdir())) == 1, "never left to fail again"
    [error] = errors_of(intake, "trips")
    assert "读取文件时出错（RuntimeError: the reader tripped）" in error["message"]
    assert intake.problem is not None and "trips.csv" in intake.problem and "trips.errors.xlsx" in intake.problem
    monkeypatch.undo()
    intake.take(drop(intake, Case("fine.csv", "filings", f"form_no,port\n{F2},2200\n".encode())))
    assert intake.problem is None, "the problem describes the latest file"


def test_a_settled_errors_file_goes_to_archive_instead_of_piling_up(intake: Intake) -> None:
    wrong = f"form_no,port\n{F1},9999\n".encode()
    intake.take(drop(intake, Case("june.csv", "filings", wrong)))
    intake.take(drop(intake, Case("june.csv", "filings", wrong + b"\n")))  # fixed wrongly: a new errors file
    assert sorted(p.name for p in intake.workspace.errors.iterdir()) == ["june.errors.csv", "june.errors.xlsx"]
    assert intake.take(drop(intake, Case("june.csv", "filings", f"form_no,port\n{F1},2200\n".encode()))) is not None
    assert list(intake.workspace.errors.iterdir()) == [], "the corrected file went through"
    archived = [p.name for p in intake.workspace.archive.iterdir()]
    assert len([n for n in archived if n.endswith(".errors.csv")]) == 2, archived
    assert len([n for n in archived if n.endswith(".errors.xlsx")]) == 2, archived


def test_the_errors_workbook_names_rows_in_chinese_and_keeps_the_values_as_text(intake: Intake) -> None:
    intake.take(drop(intake, Case("bad.csv", "filings", b"form_no,port\n0042,2200\n")))
    header, rows, ws = read_workbook(intake.workspace.errors / "bad.errors.xlsx")
    assert header == ["行号", "列", "值", "说明"]
    assert rows[0][:3] == [2, "form_no", "0042"]
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref == "A1:D2"


# -- tables out ---------------------------------------------------------------------------------------------------


def test_a_table_is_written_for_programs_and_for_the_clerk(tmp_path: Path) -> None:
    fields = columns(["form_no", "declaration_no", "amount", "issue_date", "at", "event", "message"])
    row = ["000000001", "220020261000000001", "12345.60", "2026-05-06", "2026-05-06T12:00:00+00:00", "used", "x"]
    with local_zone("Asia/Shanghai"):
        workbook = write_table(tmp_path / "t.csv", fields, [row], "结果")
    assert raw_rows(tmp_path / "t.csv")[1][:2] == ['="000000001"', '="220020261000000001"']
    assert read_table(tmp_path / "t.csv")[0]["at"] == "2026-05-06 20:00:00+08:00"
    header, [cells], ws = read_workbook(workbook)
    assert header == ["核销单号", "报关单号", "成交总价", "发单日期", "时间（UTC+08:00）", "变更", "说明"]
    assert cells[:3] == ["000000001", "220020261000000001", 12345.6]
    assert cells[3] == dt.datetime(2026, 5, 6) and cells[4] == dt.datetime(2026, 5, 6, 20, 0)
    assert cells[5] == "已用于出口报关"
    assert ws["A2"].number_format == "@" and ws["C2"].number_format == "#,##0.00"
    assert ws.column_dimensions["B"].width >= 18, "the column fits an 18-digit number"


def test_files_older_than_the_retention_move_into_month_folders(tmp_path: Path) -> None:
    old, new = tmp_path / "a.result.csv", tmp_path / "b.result.csv"
    old.write_text("x")
    new.write_text("y")
    when = time.mktime((2023, 5, 10, 12, 0, 0, 0, 0, -1))
    os.utime(old, (when, when))
    assert move_old_files([tmp_path], keep_days=730) == 1
    assert (tmp_path / "2023-05" / "a.result.csv").read_text() == "x" and new.exists()


async def test_a_file_the_reader_fails_on_shows_in_the_status_and_the_tray(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: validate.Validator, row: Any) -> Any:
        raise RuntimeError("the reader tripped")

    monkeypatch.setattr(validate.Validator, "check", broken)
    with open_center(tmp_path, [ENTERPRISE]) as center:
        async with loopback_agent(center, tmp_path / "ws") as (agent, workspace, _port):
            (workspace.inbox / "filings" / "trips.csv").write_text(f"form_no,port\n{F1},2200\n", encoding="utf-8")
            await wait_for(workspace.errors / "trips.errors.xlsx")
            await eventually(lambda: "trips.csv" in (agent.status()["problem"] or ""), 10, "the problem was not shown")
            view = tray_view(agent.status())
            assert view.level is Level.ATTENTION and any("无法读取文件 trips.csv" in r for r in view.reasons)
            assert not list((workspace.inbox / "filings").iterdir()), "not left in the inbox to fail again"


def test_an_idle_agent_loads_no_spreadsheet_library() -> None:
    code = (
        "import sys, agent.cli, agent.runtime, tray.app, outbox.deliver, inbox.sources; "
        "print(sorted(m for m in ('openpyxl', 'xlsxwriter', 'xlrd') if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
