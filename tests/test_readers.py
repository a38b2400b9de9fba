"""The readers as a clerk meets them through the errors file (issue 18): an XML file lists every mistake with its
record, field and value like a CSV file does, its values normalised by the same validator; files saved by old Mac
Excel (CR alone ends a line) read as any other; rows are numbered as Excel numbers them, whatever a cell holds."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agent.intake import Intake
from tests.intake_corpus import Case
from tests.tables import raw_rows
from tests.test_intake_corpus import drop
from tests.test_intake_corpus import intake as intake  # the fixture: a workspace with ports

F1, F2, F3 = "260000001", "260000002", "260000003"
# Words the Chinese half of a message may hold in Latin letters besides what it quotes from the file (<tags>, “values”):
# column names, programs and code names, never a sentence of English.
NAMES = re.compile(
    r"form_no|start_form_no|count|port|declaration_no|copies|remark|XML|CSV|UTF-8|GB18030|Excel|templates|xlsx|"
    r"eport-agent|ports|search|U\+[0-9A-F]{4}|DTD|NUL|CDATA"
)


def errors(intake: Intake, name: str) -> list[list[str]]:
    """The errors file's rows: row, column, value, message."""
    return raw_rows(intake.workspace.errors / f"{Path(name).stem}.errors.csv")[1:]


def chinese_half_is_chinese(message: str) -> bool:
    zh = re.sub(r"<[^>]*>|“[^”]*”|&\w*;?", "", message.split(" / ")[0])
    latin = re.findall(r"[A-Za-z][A-Za-z0-9_+.\-]*", zh)
    return any("\u4e00" <= ch <= "\u9fff" for ch in zh) and all(NAMES.fullmatch(word) for word in latin)


def xml(root: str, *records: str, declaration: str = '<?xml version="1.0" encoding="UTF-8"?>\n') -> bytes:
    return f"{declaration}<{root}>{''.join(records)}</{root}>".encode()


# -- XML: every mistake, with its record, field and value -----------------------------------------------------------


def test_an_xml_file_lists_every_mistake_with_its_record_field_and_value(intake: Intake) -> None:
    data = xml(
        "filings",
        f"<filing><form_no>{F1}</form_no><port>2200</port></filing>",
        "<filing><form_no>12</form_no><port>9999</port><amount>5</amount></filing>",
        f'<filing form_no="{F2}"><port>2200</port></filing>',
        f"<loss><form_no>{F3}</form_no></loss>",
        f"<filing><form_no>{F1}</form_no><port>2200</port><port>5300</port></filing>",
        f"<filing><start_form_no>{F3}</start_form_no><port>2200</port></filing>",
        "<filing><form_no>26000000４</form_no><port>22\u202e00</port></filing>",
    )
    assert intake.take(drop(intake, Case("june.xml", "filings", data))) is None
    rows = errors(intake, "june.xml")
    assert [row[:3] for row in rows] == [
        # the structure first, record by record ...
        ["2", "amount", "5"],
        ["3", "form_no", F2],
        ["4", "loss", F3],
        ["5", "port", "5300"],
        # ... then each record's values, as a CSV file's are checked
        ["2", "form_no", "12"],
        ["2", "port", "9999"],
        ["3", "form_no", ""],
        ["6", "count", ""],
        ["7", "port", "22<U+202E>00"],  # never written raw (outbox.files)
        ["5", "form_no", F1],
    ]
    messages = [row[3] for row in rows]
    assert "unknown field <amount>" in messages[0] and "未知的字段 <amount>" in messages[0]
    assert "“form_no”写成了属性：请写成 <filing> 中的元素 <form_no>…</form_no>" in messages[1]
    assert "element <loss> is not a record: each record is <filing>…</filing>" in messages[2]
    assert "字段 <port> 在这条记录中出现了两次（以第一个为准）" in messages[3]
    assert "只有 2 位数字，应为 9 位" in messages[4]
    assert "port '9999' is not in the port table" in messages[5]
    assert "请填写核销单号，或起始核销单号和份数" in messages[6]
    assert "缺少“份数”" in messages[7]
    assert "不可见的控制字符（U+202E）" in messages[8]
    assert f"form {F1} appears more than once in this file (rows 1, 5)" in messages[9]
    assert all(chinese_half_is_chinese(m) for m in messages), messages


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<filings><filing><form_no>1</form_no></filings>", "a start tag and an end tag do not match"),
        (b"<filings><filing><form_no>A & B</form_no></filing></filings>", "a bare & or < in a value"),
        (b"<filings><filing><form_no>1</form_no></filing>", "the file is incomplete"),
        (b"<filings></filings><filings></filings>", "content after the root element"),
        (b'\n<?xml version="1.0"?><filings></filings>', "is not at the very start of the file"),
        (b"<filings><filing><port>&nbsp;</port></filing></filings>", "an undefined entity (such as &nbsp;)"),
        (b"<filings><filing><port>&#0;</port></filing></filings>", "a character reference &#…; names a character"),
        (b"<filings><a:filing></a:filing></filings>", "an undeclared namespace prefix"),
    ],
)
def test_malformed_xml_is_explained_in_chinese_first_with_its_line(intake: Intake, body: bytes, reason: str) -> None:
    assert intake.take(drop(intake, Case("bad.xml", "filings", body))) is None
    [[row, column, value, message]] = errors(intake, "bad.xml")
    assert (row, column, value) == ("", "", "")
    assert message.startswith("XML 格式错误（第 ") and " / malformed XML (line " in message and reason in message
    assert chinese_half_is_chinese(message), message


@pytest.mark.parametrize(
    ("cell", "meant"),
    [
        ("２６０００００Ａ１", "2600000A1"),  # full-width, typed with a Chinese input method
        ("2600000a1", "2600000A1"),  # lower case
        (f"  {F1}\n  ", F1),  # spaces and a line break around it
        (f"{F1}\u00a0", F1),  # a non-breaking space, copied from a web page
        (f'="{F1}"', F1),  # the agent's own CSV protection
    ],
)
def test_xml_values_are_normalised_as_csv_values_are(intake: Intake, cell: str, meant: str) -> None:
    escaped = cell.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")
    from_xml = intake.take(
        drop(
            intake,
            Case("n.xml", "filings", xml("filings", f"<filing><form_no>{escaped}</form_no><port>2200</port></filing>")),
        )
    )
    quoted = '"' + cell.replace('"', '""') + '"'
    from_csv = intake.take(drop(intake, Case("n.csv", "filings", f"form_no,port\r\n{quoted},2200\r\n".encode())))
    assert from_xml is not None and from_csv is not None
    [xml_record], [csv_record] = intake.store.records(from_xml), intake.store.records(from_csv)
    assert xml_record["form_no"] == csv_record["form_no"] == meant


def test_an_xml_file_written_against_the_published_xsd_is_taken_with_its_schema_location(intake: Intake) -> None:
    data = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<filings xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'xsi:noNamespaceSchemaLocation="filings.xsd"><filing><form_no>{F1}</form_no><port>2200</port></filing>'
        "</filings>"
    ).encode()
    batch = intake.take(drop(intake, Case("xsd.xml", "filings", data)))
    assert batch is not None and len(intake.store.records(batch)) == 1


# -- CR alone ends a line: "CSV (Macintosh)" from old Mac Excel -------------------------------------------------------


def test_a_csv_saved_by_old_mac_excel_reads_as_any_other(intake: Intake) -> None:
    text = f"核销单号,口岸\r{F1},上海海关\r{F2},2200\r"
    batch = intake.take(drop(intake, Case("mac.csv", "filings", text.encode("gb2312"))))
    assert batch is not None
    assert [(r["seq"], r["form_no"], r["port"]) for r in intake.store.records(batch)] == [
        (2, F1, "上海海关"),
        (3, F2, "2200"),
    ]


def test_the_delimiter_of_a_cr_only_file_is_told_by_its_first_line_alone(intake: Intake) -> None:
    # Tab-separated, its remarks full of commas: the whole file holds more commas than tabs, its first line does not.
    text = "申请份数\t备注\r1,000\t上海,深圳,广州,天津,大连\r5\t北京,南京,杭州\r"
    batch = intake.take(drop(intake, Case("mac.txt", "applications", text.encode("gb2312"))))
    assert batch is not None
    assert [(r["copies"], r["remark"]) for r in intake.store.records(batch)] == [
        (1000, "上海,深圳,广州,天津,大连"),
        (5, "北京,南京,杭州"),
    ]


# -- rows numbered as Excel numbers them ------------------------------------------------------------------------------


@pytest.mark.parametrize("end", ["\r\n", "\n", "\r"], ids=["crlf", "lf", "cr"])
@pytest.mark.parametrize(
    "inside",
    ["\n", "\r\n", "\r", "\n\n\n"],
    ids=["lf-in-cell", "crlf-in-cell", "cr-in-cell", "blank-lines-in-cell"],
)
def test_a_cell_with_line_breaks_is_one_row_as_excel_shows_it(intake: Intake, end: str, inside: str) -> None:
    lines = [
        "copies,remark",
        f'5,"第一行{inside}第二行"',  # row 2: one row in Excel, however many lines it takes in the file
        "0,x",  # row 3
        "",  # row 4: an empty row (Excel shows it)
        f'7,"{"长" * 100_000}"',  # row 5: a cell of 100,000 characters, the most a cell may hold
        "1001,y",  # row 6
    ]
    intake.take(drop(intake, Case("rows.csv", "applications", end.join(lines).encode() + end.encode())))
    got = [(row[0], row[1], row[2][:10]) for row in errors(intake, "rows.csv")]
    assert got == [("3", "copies", "0"), ("5", "remark", "长" * 10), ("6", "copies", "1001")]


@pytest.mark.parametrize("end", ["\r\n", "\n", "\r"], ids=["crlf", "lf", "cr"])
def test_a_cell_over_the_limit_stops_the_file_at_its_own_row(intake: Intake, end: str) -> None:
    lines = ["copies,remark", '5,"a' + end + 'b"', "0,x", '7,"' + "x" * 100_001 + '"', "8,z"]
    intake.take(drop(intake, Case("long.csv", "applications", end.join(lines).encode() + end.encode())))
    rows = errors(intake, "long.csv")
    assert [row[:3] for row in rows] == [["3", "copies", "0"], ["4", "", ""]]
    assert rows[1][3].startswith("这一行有一个单元格超过 100000 个字符") and "row cannot be read" in rows[1][3]
    assert chinese_half_is_chinese(rows[1][3])


def test_a_row_in_another_encoding_is_named_exactly_with_its_cell(intake: Intake) -> None:
    # 4,000 rows of UTF-8, then one pasted from a GBK file: the decoder reads ahead, the errors file must not.
    data = ("核销单号,口岸\r\n" + f"{F1},2200{' ' * 70}\r\n" * 4000).encode() + f"{F2},上海海关\r\n".encode("gbk")
    intake.take(drop(intake, Case("mixed.csv", "filings", data)))
    [[row, column, value, message]] = errors(intake, "mixed.csv")
    assert (row, column) == ("4002", "口岸") and value.startswith("\ufffd")
    assert message.startswith("这一行的文字无法按文件的编码（UTF-8）读取") and "mixed encodings" in message


def test_a_first_line_naming_the_delimiter_is_no_row(intake: Intake) -> None:
    data = f"sep=;\r\nform_no;port\r\n{F1};2200\r\n12;2200\r\n".encode()
    intake.take(drop(intake, Case("sep.csv", "filings", data)))
    assert [row[:3] for row in errors(intake, "sep.csv")] == [["3", "form_no", "12"]], "Excel shows the header as row 1"


# -- what copying and Excel leave in a cell ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "code", "at"),
    [
        (f"\u200b{F1}", "U+200B", 1),  # a zero width space, copied from a web page or a chat
        (f"{F1}\u2060", "U+2060", 10),  # a word joiner
        (f"\ufeff{F1}", "U+FEFF", 1),  # a byte-order mark: two CSV files joined into one (copy /b a.csv+b.csv)
    ],
)
def test_an_invisible_character_is_named_where_it_stands(intake: Intake, cell: str, code: str, at: int) -> None:
    intake.take(drop(intake, Case("copied.csv", "filings", f"form_no,port\r\n{cell},2200\r\n".encode())))
    [[row, column, _value, message]] = errors(intake, "copied.csv")
    assert (row, column) == ("2", "form_no")
    assert f"“核销单号”的第 {at} 个字符是不可见的控制字符（{code}）" in message


def test_a_date_excel_shows_as_its_serial_number_is_named_with_the_date_it_stands_for(intake: Intake) -> None:
    data = "业务类型,属性,运算,值\r\n核销单,发单日期,等于,46143\r\n核销单,发单日期,以……开始,2026\r\n".encode()
    intake.take(drop(intake, Case("serial.csv", "queries", data)))
    [[row, column, value, message]] = errors(intake, "serial.csv")
    assert (row, column, value) == ("2", "值", "46143")
    assert "Excel 把日期存成了序列号（46143，即 2026-05-01）" in message and "serial number" in message


def test_a_euro_sign_saved_by_chinese_windows_is_read_as_the_clerk_typed_it(intake: Intake) -> None:
    data = "申请份数,备注\r\n50,运费".encode("gbk") + b"\x80" + "100 四季度\r\n".encode("gbk")  # code page 936's €

    batch = intake.take(drop(intake, Case("apply.csv", "applications", data)))

    assert batch is not None, errors(intake, "apply.csv")
    assert [r["remark"] for r in intake.store.records(batch)] == ["运费€100 四季度"]


def test_a_euro_sign_far_down_a_gbk_file_is_read_too(intake: Intake) -> None:
    rows = "".join(f"{260000000 + i:09d},上海海关\r\n" for i in range(20000))  # well past the sample read first
    data = f"核销单号,口岸\r\n{rows}".encode("gbk") + "260099999,上海海关".encode("gbk") + b"\x80\r\n"

    assert intake.take(drop(intake, Case("far.csv", "filings", data))) is None
    [[row, column, value, _message]] = errors(intake, "far.csv")
    assert (row, column, value) == ("20002", "口岸", "上海海关€"), "read, and named as what it is: not a port"


def test_a_short_gbk_file_with_few_chinese_characters_is_read(intake: Intake) -> None:
    data = "申请份数,备注\r\n1,AAA上\r\n".encode("gbk")  # too little text for a statistical detector to be sure

    batch = intake.take(drop(intake, Case("short.csv", "applications", data)))

    assert batch is not None, errors(intake, "short.csv")
    assert [r["remark"] for r in intake.store.records(batch)] == ["AAA上"]
