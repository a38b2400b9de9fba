"""The corpus of awkward and malformed clerk files (issue 4): each case is a file as a clerk's PC would produce it,
the folder it is dropped into, and what the clerk must get back — a batch of N records, or an errors file that says
what is wrong. The files are made here, byte for byte, rather than committed: several are megabytes, some are
binary, and the bytes are easier to review as code."""

from __future__ import annotations

from dataclasses import dataclass

UTF8_BOM = b"\xef\xbb\xbf"
F1, F2, F3 = "260000001", "260000002", "260000003"


@dataclass(frozen=True)
class Case:
    name: str  # the file name as dropped
    folder: str  # "filings", ... or "" for the inbox itself
    data: bytes
    records: int | None = None  # a batch of this many records ...
    error: str | None = None  # ... or an errors file containing this text (English part)
    zh: str | None = None  # ... and this text (Chinese part, which comes first)
    at: tuple[tuple[str, str, str], ...] | None = None  # ... listing exactly these (row, column, value)


def csv(text: str, encoding: str = "utf-8") -> bytes:
    return text.replace("\n", "\r\n").encode(encoding)


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<filings><filing><form_no>&lol3;</form_no><port>2200</port></filing></filings>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE filings [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<filings><filing><form_no>&xxe;</form_no><port>2200</port></filing></filings>"""


def xml_filings(*records: str) -> bytes:
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<filings>' + "".join(records) + "</filings>").encode()


def cases() -> list[Case]:
    return [
        # -- filings that must be read correctly --------------------------------------------------------------
        Case("plain.csv", "filings", csv(f"form_no,port\n{F1},2200\n{F2},5300\n"), records=2),
        Case("bom.csv", "filings", UTF8_BOM + csv(f"form_no,port\n{F1},2200\n"), records=1),
        Case("gbk.csv", "filings", csv(f"核销单号,口岸\n{F1},上海海关\n{F2},深圳海关\n", "gbk"), records=2),
        Case("gb18030.csv", "filings", csv(f"核销单号,口岸\n{F1},上海海关\n", "gb18030"), records=1),
        Case("tabs.csv", "filings", csv(f"核销单号\t口岸\n{F1}\t2200\n"), records=1),
        Case("utf16.txt", "filings", "核销单号\t口岸\r\n260000001\t2200\r\n".encode("utf-16"), records=1),
        Case("mixed-headers.csv", "filings", csv(f"核销单号,port\n{F1},2200\n"), records=1),
        Case("both-headers.csv", "filings", csv(f"核销单号 form_no,口岸(port)\n{F1},2200\n"), records=1),
        Case("spaces.csv", "filings", csv(f"  form_no , port \n  {F1}  ,  2200 \n"), records=1),
        Case("fullwidth.csv", "filings", csv("核销单号,口岸\n２６０００００Ａ１,２２００\n"), records=1),
        Case("lowercase.csv", "filings", csv("form_no,port\n2600000a1,2200\n"), records=1),
        Case("trailing-empty.csv", "filings", csv(f"form_no,port\n{F1},2200\n,\n\n,,\n"), records=1),
        Case("blank-middle.csv", "filings", csv(f"form_no,port\n{F1},2200\n\n{F2},2200\n"), records=2),
        Case("lf-only.csv", "filings", f"form_no,port\n{F1},2200\n".encode(), records=1),
        Case("range.csv", "filings", csv(f"start_form_no,count,port\n{F1},10,2200\n"), records=1),
        Case(
            "range-and-single.csv",
            "filings",
            csv(f"form_no,start_form_no,count,port\n,260000010,5,2200\n{F1},,,5300\n"),
            records=2,
        ),
        Case("row-numbers.csv", "filings", csv(f"序号,核销单号,口岸\n1,{F1},2200\n2,{F2},2200\n"), records=2),
        Case("quoted.csv", "filings", csv(f'"form_no","port"\n"{F1}","上海海关"\n'), records=1),
        Case("备案0601.csv", "", csv(f"form_no,port\n{F1},2200\n"), records=1),
        Case("filings-june.csv", "", csv(f"form_no,port\n{F1},2200\n"), records=1),
        # -- filings that must be refused, saying why ----------------------------------------------------------
        Case("empty.csv", "filings", b"", error="the file is empty"),
        Case("only-bom.csv", "filings", UTF8_BOM, error="the file is empty"),
        Case("whitespace.csv", "filings", b"  \r\n \r\n", error="the file is empty"),
        Case("header-only.csv", "filings", csv("form_no,port\n"), error="the file has no data rows"),
        Case("no-port.csv", "filings", csv(f"form_no\n{F1}\n"), error="missing column 'port'"),
        Case("no-form.csv", "filings", csv("port\n2200\n"), error="missing column 'form_no'"),
        Case(
            "unknown-column.csv",
            "filings",
            csv(f"form_no,port,amount\n{F1},2200,5\n"),
            error="unknown column 'amount'",
        ),
        Case("column-twice.csv", "filings", csv(f"form_no,port,核销单号\n{F1},2200,{F2}\n"), error="appears twice"),
        Case("short-form.csv", "filings", csv("form_no,port\n12345,2200\n"), error="Excel drops the leading zeros"),
        Case("symbol-form.csv", "filings", csv("form_no,port\n26000-001,2200\n"), error="'form_no' is malformed"),
        Case("empty-port.csv", "filings", csv(f"form_no,port\n{F1},\n"), error="'port' is empty"),
        Case("unknown-port.csv", "filings", csv(f"form_no,port\n{F1},9999\n"), error="port '9999' is not in the port"),
        Case(
            "form-and-range.csv",
            "filings",
            csv(f"form_no,start_form_no,count,port\n{F1},{F2},3,2200\n"),
            error="not both",
        ),
        Case(
            "start-no-count.csv", "filings", csv(f"start_form_no,count,port\n{F1},,2200\n"), error="'count' is missing"
        ),
        Case(
            "count-zero.csv",
            "filings",
            csv(f"start_form_no,count,port\n{F1},0,2200\n"),
            error="'count' must be a whole number from 1 to 1000",
        ),
        Case("count-huge.csv", "filings", csv(f"start_form_no,count,port\n{F1},5000,2200\n"), error="'count' must be"),
        Case("count-text.csv", "filings", csv(f"start_form_no,count,port\n{F1},ten,2200\n"), error="'count' must be"),
        Case("range-overflow.csv", "filings", csv("start_form_no,count,port\n999999998,5,2200\n"), error="do not fit"),
        Case(
            "range-letter-end.csv",
            "filings",
            csv("start_form_no,count,port\n26000000A,2,2200\n"),
            error="does not end in digits",
        ),
        Case(
            "duplicate-rows.csv",
            "filings",
            csv(f"form_no,port\n{F1},2200\n{F2},2200\n{F1},5300\n"),
            error=f"form {F1} appears more than once in this file (rows 2, 4)",
        ),
        Case(
            "range-overlap.csv",
            "filings",
            csv(f"form_no,start_form_no,count,port\n{F3},,,2200\n,{F1},5,2200\n"),
            error=f"form {F3} appears more than once",
        ),
        Case("extra-cells.csv", "filings", csv(f"form_no,port\n{F1},2200,oops\n"), error="more cells than the header"),
        Case("formula.csv", "filings", csv(f'form_no,port\n{F1},=HYPERLINK("x")\n'), error="is not in the port"),
        Case("binary.csv", "filings", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), error="binary data"),
        Case(
            "latin1.csv",
            "filings",
            "form_no,port\r\n260000001,Bogotá,Zürich\r\n".encode("cp1252"),
            error="cannot read the file's text encoding",
        ),
        Case(
            "mixed-encoding.csv",
            "filings",
            csv("form_no,port\n" + f"{F1},2200{' ' * 70}\n" * 4000) + "260000002,上海海关\r\n".encode("gbk"),
            error="mixed encodings",
        ),
        Case(
            "long-line.csv",
            "filings",
            b"form_no,port\r\n" + b"9" * (10 * 1024 * 1024) + b",2200\r\n",
            error="cannot be read",
        ),
        Case("unclosed-quote.csv", "filings", csv(f'form_no,port\n"{F1},2200\n{F2},2200\n'), error="malformed"),
        Case("no-kind.csv", "", csv(f"form_no,port\n{F1},2200\n"), error="cannot tell the batch kind"),
        Case("wrong-kind.csv", "filings", csv("copies,remark\n5,x\n"), error="unknown column 'copies'"),
        # -- XML ---------------------------------------------------------------------------------------------------
        Case(
            "ok.xml",
            "filings",
            xml_filings(
                f"<filing><form_no>{F1}</form_no><port>2200</port></filing>",
                f"<filing><start_form_no>{F2}</start_form_no><count>3</count><port>5300</port></filing>",
            ),
            records=2,
        ),
        Case("rooted.xml", "", xml_filings(f"<filing><form_no>{F1}</form_no><port>2200</port></filing>"), records=1),
        Case("bomb.xml", "filings", BILLION_LAUGHS, error="declares a DTD or entities"),
        Case("xxe.xml", "filings", EXTERNAL_ENTITY, error="declares a DTD or entities"),
        Case(
            "broken.xml", "filings", b"<filings><filing><form_no>260000001</form_no></filings>", error="malformed XML"
        ),
        Case(
            "wrong-root.xml",
            "filings",
            b"<losses><loss><form_no>260000001</form_no></loss></losses>",
            error="root element must be <filings>",
        ),
        Case(
            "bad-pattern.xml",
            "filings",
            xml_filings("<filing><form_no>12</form_no><port>2200</port></filing>"),
            error="'form_no': 2 digits where 9 are expected",
            zh="“核销单号”：只有 2 位数字，应为 9 位",
            at=(("1", "form_no", "12"),),
        ),
        Case(
            "unknown-element.xml",
            "filings",
            xml_filings(f"<filing><form_no>{F1}</form_no><port>2200</port><x>1</x></filing>"),
            error="unknown field <x>: a <filing> has the fields form_no, start_form_no, count, port",
            zh="未知的字段 <x>：<filing> 的字段为 form_no（核销单号）、start_form_no（起始核销单号）",
            at=(("1", "x", "1"),),
        ),
        # -- the other kinds ---------------------------------------------------------------------------------------
        Case("apply.csv", "applications", csv("申请份数,备注\n50,四季度\n10,\n", "gbk"), records=2),
        Case("apply-zero.csv", "applications", csv("copies,remark\n0,x\n"), error="'copies' must be"),
        Case("apply-many.csv", "applications", csv("copies\n1001\n"), error="'copies' must be"),
        Case("cancel.csv", "cancellations", csv(f"核销单号\n{F1}\n{F2}\n"), records=2),
        Case("撤销备案.csv", "", csv(f"form_no\n{F1}\n"), records=1),
        Case("submit.csv", "submissions", csv(f"form_no,declaration_no\n{F1},223320260000012345\n{F2},\n"), records=2),
        Case(
            "submit-bad-decl.csv",
            "submissions",
            csv(f"form_no,declaration_no\n{F1},22332026000001234\n"),
            error="17 digits where 18 are expected",
        ),
        Case("lose.csv", "losses", csv(f"起始核销单号,份数\n{F1},3\n"), records=1),
        Case(
            "query.csv",
            "queries",
            csv("业务类型,属性,运算,值\n核销单,核销单号,以…开始,2600\nform,safe_status,eq,valid\n"),
            records=2,
        ),
        Case(
            "query-bad-attr.csv",
            "queries",
            csv("business,attribute,op,value\nform,colour,eq,red\n"),
            error="no such business type or attribute",
        ),
        Case(
            "query-bad-op.csv",
            "queries",
            csv("business,attribute,op,value\nform,form_no,like,26\n"),
            error="op must be eq or prefix",
        ),
        Case("query-none.csv", "queries", csv("business,attribute,op,value\n"), error="at least one condition"),
        # -- issue 18: hostile values, encodings and sizes --------------------------------------------------------
        Case(
            "gbk-declared.xml",
            "filings",
            '<?xml version="1.0" encoding="GBK"?>\n<filings><filing><form_no>260000001</form_no><port>上海海关</port>'
            "</filing></filings>".encode("gbk"),
            records=1,
        ),
        Case(
            "big5-declared.xml",
            "filings",
            '<?xml version="1.0" encoding="Big5"?>\n<filings><filing><form_no>260000001</form_no><port>2200</port>'
            "</filing></filings>".encode("big5"),
            records=1,
        ),
        Case("ethiopic-digit.csv", "filings", csv(f"start_form_no,count,port\n{F1},\u1369,2200\n"), error="'count'"),
        Case("tai-digit.csv", "filings", csv(f"start_form_no,count,port\n{F1},\u19da,2200\n"), error="'count' must"),
        Case(
            "nul-late.csv",
            "applications",
            b"copies,remark\n" + (b"5," + b"x" * 70 + b"\n") * 4000 + b"5,ab\x00cd\n",
            error="'remark' has an invisible control character (U+0000) at character 3",
        ),
        Case("escape.csv", "filings", csv(f"form_no,port\n{F1},22\x1b00\n"), error="control character (U+001B)"),
        Case("rlo.csv", "filings", csv("form_no,port\n2600\u202e00001,2200\n"), error="(U+202E) at character 5"),
        Case(  # a check is one batch: never split
            "too-many-rows.csv",
            "checks",
            csv("form_no,operation\n" + "".join(f"{260000000 + i:09d},losses\n" for i in range(5001))),
            error="more than the 5000 rows a batch may hold",
        ),
        Case(
            "too-many-forms.csv",
            "checks",
            csv(
                "start_form_no,count,operation\n"
                + "".join(f"{260000000 + i * 1000:09d},1000,losses\n" for i in range(21))
            ),
            error="more than the 20000 forms a batch may name",
        ),
        Case(  # a losses file over one batch's forms is signed as two batches, its parts (counted together here)
            "losses-in-parts.csv",
            "losses",
            csv("start_form_no,count\n" + "".join(f"{260000000 + i * 1000:09d},1000\n" for i in range(21))),
            records=21,
        ),
        Case(
            "too-many-conditions.csv",
            "queries",
            csv("business,attribute,op,value\n" + "form,form_no,prefix,26\n" * 101),
            error="more than 100 conditions",
        ),
        Case(
            "query.xml",
            "queries",
            b"<queries><condition><business>form</business><attribute>form_no</attribute><op>eq</op>"
            b"<value>260000001</value></condition></queries>",
            records=1,
        ),
    ]
