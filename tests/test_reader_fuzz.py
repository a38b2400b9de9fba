"""Property-based fuzzing of the readers (issue 18): whatever bytes arrive as a CSV, XML or workbook file, reading
them ends in records or in errors a clerk can read (Chinese first, then English) — no other exception escapes — and a
valid file, however it was written (encoding, line ends, delimiter, column order, quoting, typed workbook cells), is
read back as exactly what was written.

The reader is driven as intake drives it (agent.intake.Intake._read): tell the kind, open the source, check each row,
spend the budget; only the store is left out, so that thousands of files take seconds. The last property takes files
through the real intake, errors files included. A few seconds each, a minute in all: they are marked slow."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from agent.intake import Intake, _no_records
from inbox.budget import Budget
from inbox.schema import KINDS, BatchKind
from inbox.sources import FieldError, FileRefused, open_source, tell_kind
from inbox.validate import CONTROL, PortTable, Validator
from tests.intake_corpus import Case
from tests.tables import raw_rows
from tests.test_intake_corpus import PORTS, drop
from tests.test_intake_corpus import intake as intake  # the fixture: a workspace with ports

SLOW_FILES = [HealthCheck.too_slow, HealthCheck.data_too_large]


def fuzz(examples: int, *checks: HealthCheck) -> settings:
    """``examples`` files, however long each takes to read (a workbook takes milliseconds to write)."""
    return settings(max_examples=examples, deadline=None, suppress_health_check=[*SLOW_FILES, *checks])


PORT_TABLE = PortTable.of(PORTS)
CJK = "上海深圳广州天津大连北京南京杭州出口收汇核销单备案四季度定金货款样品"


@dataclass
class Outcome:
    records: list[dict[str, Any]] = field(default_factory=list)
    errors: list[FieldError] = field(default_factory=list)


def read(path: Path, folder: str | None) -> Outcome:
    """The file read as intake reads it: its records, or the errors its errors file would list (but for forms named
    twice, which the store finds)."""
    outcome = Outcome()
    try:
        kind = tell_kind(path, folder)
        source = open_source(path, kind)
        validator = Validator(kind, source, PORT_TABLE)
        with closing(source):
            outcome.errors += source.problems
            budget = Budget(kind)
            for row in source.rows:
                checked, problems, forms = validator.check(row)
                budget.spend(len(forms))
                outcome.errors += problems
                if checked is not None:
                    outcome.records.append(json.loads(checked.text))
            if not outcome.records and not outcome.errors:
                raise _no_records(kind)
    except FileRefused as refused:
        outcome.errors.append(refused.error)
    return outcome


def readable(error: FieldError) -> bool:
    """An error a clerk can read: a Chinese sentence, then an English one, the row a row number or the file (0)."""
    return (
        any("\u4e00" <= ch <= "\u9fff" for ch in error.zh)
        and bool(error.en.strip())
        and "Traceback" not in error.zh + error.en
        and isinstance(error.row, int)
        and error.row >= 0
    )


@contextmanager
def dropped(name: str, data: bytes) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        yield path


def assert_answered(outcome: Outcome) -> None:
    assert outcome.records or outcome.errors, "neither records nor errors"
    for error in outcome.errors:
        assert readable(error), error


# -- what a clerk's file holds ----------------------------------------------------------------------------------------

FORM = st.from_regex(r"2[0-9]{6}[0-9A-Z][0-9]", fullmatch=True)  # 9 characters, ending in a digit
PORT = st.sampled_from([p["code"] for p in PORTS] + [p["name"] for p in PORTS])
TEXT = st.text(  # free text as a clerk types it, line breaks too; no control characters, no spaces around it
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Cn", "Zl", "Zp"), include_characters="\r\n").filter(
        lambda ch: not CONTROL.match(ch)
    ),
    max_size=40,
).map(str.strip)
CHINESE_TEXT = st.text(st.sampled_from(CJK + "ABCabc0123 ,.;\"'-"), max_size=30).map(str.strip)
HOSTILE_CELL = st.one_of(
    FORM,
    PORT,
    st.text(max_size=30),
    st.sampled_from(
        [
            "",
            " ",
            "２６０００００Ａ１",
            "2.6E+08",
            "260000001.0",
            '="260000001"',
            '=HYPERLINK("x")',
            "1,000",
            "0",
            "1001",
            "\u202e2200",
            "\x00",
            "46143",
            "5/6/2026",
            "以……开始",
            "核销单",
        ]
    ),
)
HEADER_WORD = st.sampled_from(
    [c.name for k in KINDS.values() for c in k.columns]
    + [c.zh for k in KINDS.values() for c in k.columns]
    + ["序号", "金额", "", "form_no form_no", "核销单号 form_no", "\ufeffform_no"]
)
LINE_ENDS = st.sampled_from(["\r\n", "\n", "\r"])
DELIMITERS = st.sampled_from([",", "\t", ";"])
FOLDERS = st.sampled_from(list(KINDS))


def mutated(data: bytes, draw: Callable[..., Any]) -> bytes:
    """``data`` with a few bytes flipped, dropped, inserted or cut off, as a broken copy leaves a file."""
    for _ in range(draw(st.integers(0, 4))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        how = draw(st.sampled_from(["flip", "drop", "insert", "cut"]))
        if how == "flip":
            data = data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1 :]
        elif how == "drop":
            data = data[:at] + data[at + 1 :]
        elif how == "insert":
            data = data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
        else:
            data = data[:at]
    return data


@st.composite
def hostile_csv(draw: Callable[..., Any]) -> bytes:
    header = draw(st.lists(HEADER_WORD, min_size=1, max_size=6))
    rows = draw(st.lists(st.lists(HOSTILE_CELL, max_size=7), max_size=8))
    buffer = io.StringIO(newline="")
    quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC]))
    writer = csv.writer(buffer, delimiter=draw(DELIMITERS), lineterminator=draw(LINE_ENDS), quoting=quoting)
    writer.writerows([header, *rows])
    text = buffer.getvalue()
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "gb18030", "utf-16", "big5", "latin-1"]))
    data = text.encode(encoding, errors="replace")
    return mutated(data, draw) if draw(st.booleans()) else data


# -- properties: no exception escapes --------------------------------------------------------------------------------


@pytest.mark.slow
@fuzz(1200)
@given(
    data=st.one_of(hostile_csv(), st.binary(max_size=3000)), folder=FOLDERS, name=st.sampled_from(["a.csv", "a.txt"])
)
def test_any_csv_ends_in_records_or_readable_errors(data: bytes, folder: str, name: str) -> None:
    with dropped(name, data) as path:
        assert_answered(read(path, folder))


def xml_text(text: str) -> str:
    return escape(text)


@st.composite
def hostile_element(draw: Callable[..., Any], depth: int = 0) -> str:
    tag = draw(
        st.sampled_from(
            [
                *("filing", "loss", "condition", "application", "form_no", "port", "count", "start_form_no"),
                *("remark", "copies", "x", "a:b", "xi:include", "序号"),
            ]
        )
    )
    attributes = draw(st.lists(st.tuples(st.sampled_from(["form_no", "id", "x"]), st.text(max_size=20)), max_size=2))
    attrs = "".join(f" {name}{i}={quoteattr(value)}" for i, (name, value) in enumerate(attributes))
    parts = draw(
        st.lists(
            st.one_of(
                HOSTILE_CELL.map(xml_text),
                st.just("<!-- note -->"),
                st.builds(lambda t: f"<![CDATA[{t.replace(']]>', '')}]]>", HOSTILE_CELL),
                st.sampled_from(["&amp;", "&lt;", "&#x202E;", "&#0;", "&nbsp;", "&xxe;", "&#65;"]),
                hostile_element(depth + 1) if depth < 3 else st.just(""),
            ),
            max_size=4,
        )
    )
    return f"<{tag}{attrs}>{''.join(parts)}</{tag}>"


@st.composite
def hostile_xml(draw: Callable[..., Any]) -> bytes:
    root = draw(st.sampled_from([*KINDS, "batch", "filings xmlns='urn:x'"]))
    prologue = draw(
        st.sampled_from(
            [
                "",
                '<?xml version="1.0" encoding="UTF-8"?>\n',
                '<?xml version="1.0" encoding="GBK"?>\n',
                '<?xml version="1.0" encoding="UTF-16"?>\n',
                '<?xml version="1.0" encoding="x-unknown"?>\n',
                '\n<?xml version="1.0"?>',
                '<!DOCTYPE filings SYSTEM "filings.dtd">\n',
                '<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n',
                '<?xml-stylesheet type="text/xsl" href="x.xsl"?>\n',
            ]
        )
    )
    records = draw(st.lists(hostile_element(), max_size=6))
    text = f"{prologue}<{root}>{''.join(records)}</{root.split()[0]}>"
    encoding = "utf-16" if "UTF-16" in prologue else "gbk" if "GBK" in prologue else "utf-8"
    data = text.encode(encoding, errors="replace")
    return mutated(data, draw) if draw(st.booleans()) else data


@pytest.mark.slow
@fuzz(1000)
@given(data=st.one_of(hostile_xml(), st.binary(max_size=2000).map(lambda b: b"<" + b)), folder=FOLDERS)
def test_any_xml_ends_in_records_or_readable_errors(data: bytes, folder: str) -> None:
    with dropped("a.xml", data) as path:
        assert_answered(read(path, folder))


def xlsx_bytes(rows: list[list[Any]]) -> bytes:
    """The workbook openpyxl writes for ``rows``, the same bytes every time (Hypothesis replays an example and wants
    it drawn alike): its document times and its zip entries' times are fixed, not the moment it was saved."""
    from openpyxl import Workbook
    from openpyxl.writer.excel import ExcelWriter

    book = Workbook()
    book.properties.created = book.properties.modified = FIXED_TIME
    sheet = book.active
    for row in rows:
        sheet.append(row)
    saved = io.BytesIO()
    ExcelWriter(book, zipfile.ZipFile(saved, "w", zipfile.ZIP_DEFLATED)).save()  # workbook.save less its "now"
    return _fixed_zip_times(saved.getvalue())


FIXED_TIME = dt.datetime(2026, 1, 2, 3, 4, 5)


def _fixed_zip_times(data: bytes) -> bytes:
    """The same archive with every entry dated FIXED_TIME."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(zipfile.ZipInfo(info.filename, FIXED_TIME.timetuple()[:6]), source.read(info.filename))
    return out.getvalue()


WORKBOOK_CELL = st.one_of(
    HOSTILE_CELL.filter(lambda t: not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", t)),
    st.integers(-(10**18), 10**18),
    st.floats(allow_nan=False, allow_infinity=False),
    st.dates(dt.date(1900, 3, 1), dt.date(2100, 1, 1)),
    st.booleans(),
    st.none(),
)


@st.composite
def hostile_workbook(draw: Callable[..., Any]) -> bytes:
    header = draw(st.lists(HEADER_WORD.filter(lambda t: "\ufeff" not in t), min_size=1, max_size=5))
    rows = draw(st.lists(st.lists(WORKBOOK_CELL, max_size=6), max_size=6))
    data = xlsx_bytes([header, *rows])
    if draw(st.booleans()):  # a copy broken on the way: a flipped byte inside the zip, or the end missing
        data = mutated(data, draw)
    return data


@pytest.mark.slow
@fuzz(300)
@given(data=hostile_workbook(), folder=FOLDERS)
def test_any_xlsx_ends_in_records_or_readable_errors(data: bytes, folder: str) -> None:
    with dropped("a.xlsx", data) as path:
        assert_answered(read(path, folder))


OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


@pytest.mark.slow
@fuzz(500)
@given(
    head=st.sampled_from([b"", b"PK\x03\x04", OLE_MAGIC, b"PK\x05\x06" + bytes(18)]),
    body=st.binary(max_size=3000),
    name=st.sampled_from(["a.xlsx", "a.xls", "a.xlsm", "a.csv"]),
    folder=FOLDERS,
)
def test_garbage_named_as_a_workbook_ends_in_readable_errors(head: bytes, body: bytes, name: str, folder: str) -> None:
    with dropped(name, head + body) as path:
        assert_answered(read(path, folder))


# -- properties: a valid file is read back as written -----------------------------------------------------------------


@st.composite
def filings(draw: Callable[..., Any]) -> list[dict[str, Any]]:
    forms = draw(st.lists(FORM, min_size=1, max_size=12, unique=True))
    return [{"form_no": form, "port": draw(PORT)} for form in forms]


@st.composite
def applications(draw: Callable[..., Any], text: st.SearchStrategy[str] = TEXT) -> list[dict[str, Any]]:
    rows = draw(st.lists(st.tuples(st.integers(1, 1000), text), min_size=1, max_size=12))
    return [{"copies": copies, "remark": remark} for copies, remark in rows]


def expected(records: list[dict[str, Any]], first_row: int) -> list[dict[str, Any]]:
    """The wire records a reader makes of ``records`` written from row ``first_row`` on, a row each."""
    return [{**record, "seq": first_row + i} for i, record in enumerate(records)]


def header_names(kind: BatchKind, names: list[str], style: str) -> list[str]:
    column = {c.name: c for c in kind.columns}
    return [{"en": n, "zh": column[n].zh, "both": f"{column[n].zh} {n}"}[style] for n in names]


def spreadsheet_csv(rows: list[list[str]], delimiter: str, end: str, quote_all: bool) -> str:
    """Rows as a spreadsheet program saves them: a cell quoted when it holds the delimiter, a quote or a line break
    (Python's csv writer leaves a line feed unquoted when lines end in a carriage return), or every cell."""

    def cell(text: str) -> str:
        if quote_all or any(ch in text for ch in (delimiter, '"', "\r", "\n")):
            return '"' + text.replace('"', '""') + '"'
        return text

    return "".join(delimiter.join(map(cell, row)) + end for row in rows)


@pytest.mark.slow
@fuzz(600)
@given(
    records=st.one_of(filings(), applications(), applications(CHINESE_TEXT)),
    delimiter=DELIMITERS,
    end=LINE_ENDS,
    quote_all=st.booleans(),
    style=st.sampled_from(["en", "zh", "both"]),
    encoding=st.sampled_from(["utf-8-sig", "utf-8", "gb18030", "utf-16"]),
    blank_lines=st.integers(0, 2),
    sep_line=st.booleans(),
    data=st.data(),
)
def test_a_valid_csv_is_read_back_as_written(
    records: list[dict[str, Any]],
    delimiter: str,
    end: str,
    quote_all: bool,
    style: str,
    encoding: str,
    blank_lines: int,
    sep_line: bool,
    data: st.DataObject,
) -> None:
    kind = KINDS["filings" if "form_no" in records[0] else "applications"]
    names = data.draw(st.permutations(list(records[0])))
    if encoding == "gb18030":  # told from its Chinese: a file in GBK holds more Chinese than its header
        assume(style != "en" and all(r.get("remark", "") == "" or re.search(f"[{CJK}]", r["remark"]) for r in records))
        assume(all(set(r.get("remark", "")) <= set(CJK + "ABCabc0123 ,.;\"'-") for r in records))
    rows = [header_names(kind, names, style), *([str(record[n]) for n in names] for record in records)]
    text = (f"sep={delimiter}{end}" if sep_line else "") + end * blank_lines
    text += spreadsheet_csv(rows, delimiter, end, quote_all)
    with dropped("a.csv", text.encode(encoding)) as path:
        outcome = read(path, kind.name)
    assert outcome.errors == []
    assert outcome.records == expected(records, blank_lines + 2)


@st.composite
def valid_xml(draw: Callable[..., Any]) -> tuple[str, list[dict[str, Any]], bytes]:
    records = draw(st.one_of(filings(), applications(TEXT.map(lambda t: t.replace("\r", "")))))
    kind = KINDS["filings" if "form_no" in records[0] else "applications"]
    encoding = draw(st.sampled_from(["UTF-8", "GBK", "GB18030", "UTF-16", None]))
    if encoding == "GBK":
        assume(all(set(r.get("remark", "")) <= set(CJK + "ABCabc0123 ,.;\"'-") for r in records))
    parts = []
    for record in records:
        names = draw(st.permutations(list(record)))
        fields = []
        for name in names:
            value = str(record[name])
            pad = draw(st.sampled_from(["", " ", "\n    "]))
            if draw(st.booleans()) and "]]>" not in value:
                fields.append(f"{pad}<{name}><![CDATA[{value}]]></{name}>")
            else:
                fields.append(f"{pad}<{name}>{escape(value)}</{name}>")
        comment = draw(st.sampled_from(["", "<!-- 第一批 -->"]))
        parts.append(f"{comment}<{kind.item}>{''.join(fields)}</{kind.item}>\n")
    declaration = f'<?xml version="1.0" encoding="{encoding}"?>\n' if encoding else ""
    text = f"{declaration}<{kind.name}>\n{''.join(parts)}</{kind.name}>\n"
    return kind.name, records, text.encode((encoding or "UTF-8").lower())


@pytest.mark.slow
@fuzz(500)
@given(written=valid_xml())
def test_a_valid_xml_file_is_read_back_as_written(written: tuple[str, list[dict[str, Any]], bytes]) -> None:
    kind, records, data = written
    with dropped("a.xml", data) as path:
        outcome = read(path, kind)
    assert outcome.errors == []
    assert outcome.records == expected(records, 1)


@pytest.mark.slow
@fuzz(150)
@given(
    # a text cell holds no carriage return (the package's XML turns it into a line feed) and starts with no "=" (a
    # formula, which only a spreadsheet program computes)
    records=st.one_of(filings(), applications(TEXT.filter(lambda t: "\r" not in t and not t.startswith("=")))),
    numbers=st.booleans(),
    gaps=st.lists(st.integers(0, 2), min_size=12, max_size=12),
    data=st.data(),
)
def test_a_valid_workbook_is_read_back_as_written(
    records: list[dict[str, Any]], numbers: bool, gaps: list[int], data: st.DataObject
) -> None:
    from openpyxl import Workbook

    kind = KINDS["filings" if "form_no" in records[0] else "applications"]
    names = data.draw(st.permutations(list(records[0])))
    book = Workbook()
    sheet = book.active
    sheet.append(header_names(kind, names, data.draw(st.sampled_from(["en", "zh", "both"]))))
    rows = []
    for record, gap in zip(records, gaps, strict=False):
        for _ in range(gap):  # empty rows between, as a clerk leaves them
            sheet.append([])
        cells = []
        for name in names:
            value = record[name]
            if numbers and name in ("form_no", "port") and value.isdigit():  # typed as numbers, as Excel takes them
                cells.append(int(value))
            else:
                cells.append(value or None)
        sheet.append(cells)
        if numbers and "form_no" in names:
            sheet.cell(sheet.max_row, names.index("form_no") + 1).number_format = "000000000"
        rows.append(sheet.max_row)
    out = io.BytesIO()
    book.save(out)
    with dropped("a.xlsx", out.getvalue()) as path:
        outcome = read(path, kind.name)
    assert outcome.errors == []
    want = expected(records, 0)
    for record, row in zip(want, rows, strict=True):
        record["seq"] = row
    assert outcome.records == want


# -- through the real intake: the errors file a clerk opens -----------------------------------------------------------


@pytest.mark.slow
@fuzz(150, HealthCheck.function_scoped_fixture)
@given(
    data=st.one_of(hostile_csv(), hostile_xml(), hostile_workbook(), st.binary(max_size=500)),
    name=st.sampled_from(["june.csv", "june.xml", "june.xlsx", "june.xls", "备案0601.csv", "june.txt"]),
    folder=st.sampled_from([*KINDS, ""]),
)
def test_intake_answers_any_file_with_a_batch_or_an_errors_file_it_wrote_itself(
    intake: Intake, data: bytes, name: str, folder: str
) -> None:
    for leftover in [*intake.workspace.errors.iterdir(), *intake.workspace.archive.iterdir()]:
        leftover.unlink()
    path = drop(intake, Case(name, folder, data))
    batch = intake.take(path)
    assert not path.exists() and len(list(intake.workspace.archive.iterdir())) == 1
    reports = list(intake.workspace.errors.glob("*.errors.csv"))
    assert (batch is None) == (len(reports) == 1)
    for report in reports:
        rows = raw_rows(report)[1:]
        assert rows, "an errors file lists at least one mistake"
        for _row, _column, _value, message in rows:
            zh, _, en = message.partition(" / ")
            assert any("\u4e00" <= ch <= "\u9fff" for ch in zh) and en, message
            assert "读取文件时出错" not in zh, f"the reader failed: {message}"
    assert intake.problem is None, intake.problem


def test_a_broken_zip_inside_is_refused_not_failed_on(tmp_path: Path) -> None:
    """A workbook whose sheet is cut short in the package (a copy broken on the way) fails only when its rows are
    read, after it opened: that too ends in the file's refusal, not in a reader failure."""
    good = xlsx_bytes([["form_no", "port"], *[[f"26000{i:04d}", "2200"] for i in range(2000)]])
    broken = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(good)) as source, zipfile.ZipFile(broken, "w") as target:
        for item in source.infolist():
            content = source.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                content = content[: len(content) // 2]
            target.writestr(item, content)
    path = tmp_path / "broken.xlsx"
    path.write_bytes(broken.getvalue())
    outcome = read(path, "filings")
    assert outcome.errors and all(readable(e) for e in outcome.errors)
