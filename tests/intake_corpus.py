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


def workbook(*rows: list[object], merge: str | None = None, hide: int | None = None, formats: str = "") -> bytes:
    """An .xlsx as a clerk's Excel saves it (openpyxl writes the same package): typed cells, and if asked a merged
    range, a hidden row, or the first column's number format."""
    import io

    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
        if formats:
            sheet.cell(sheet.max_row, 1).number_format = formats
    if merge:
        sheet.merge_cells(merge)
    if hide:
        sheet.row_dimensions[hide].hidden = True
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def nested(depth: int) -> bytes:
    return b"<a>" * depth + b"</a>" * depth


HUGE = "x" * (5 * 1024 * 1024)  # an attribute of 5 MB


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
        Case(  # Excel on Chinese Windows (code page 936) writes € as the one byte 0x80, which GB18030 has not
            "apply-euro.csv",
            "applications",
            csv("申请份数,备注\n50,运费", "gbk") + b"\x80" + csv("100 四季度\n", "gbk"),
            records=1,
        ),
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
        # -- issue 18: what clerks' PCs and shared folders really produce ------------------------------------------
        # encodings
        Case("utf8-chinese-nobom.csv", "filings", csv(f"核销单号,口岸\n{F1},上海海关\n{F2},深圳海关\n"), records=2),
        Case("gb18030-rare-char.csv", "applications", csv("申请份数,备注\n5,𠮷野家定金\n", "gb18030"), records=1),
        Case(
            "gbk-pasted-row.csv",
            "filings",
            csv(f"核销单号,口岸\n{F1},上海海关\n") + f"{F2},深圳海关\r\n".encode("gbk") + csv(f"{F3},上海海关\n"),
            error="text in this row cannot be read in the file's encoding (UTF-8): mixed encodings",
            zh="这一行的文字无法按文件的编码（UTF-8）读取",
            at=(("3", "口岸", "*"),),
        ),
        Case(
            "two-files-joined.csv",  # copy /b a.csv+b.csv: the second file's mark and header land inside the first
            "filings",
            UTF8_BOM + csv(f"form_no,port\n{F1},2200\n") + UTF8_BOM + csv(f"form_no,port\n{F2},2200\n"),
            error="'form_no' has an invisible control character (U+FEFF) at character 1",
            at=(("3", "form_no", "*"), ("3", "port", "PORT")),
        ),
        Case(
            "notepad-unicode.xml",  # Windows Notepad's "Unicode": UTF-16 with its mark, no declaration
            "filings",
            f"<filings><filing><form_no>{F1}</form_no><port>上海海关</port></filing></filings>".encode("utf-16"),
            records=1,
        ),
        Case(
            "gb2312-declared-gbk-char.xml",  # an old ERP says GB2312 and writes GBK: 堃 is not in GB2312
            "applications",
            '<?xml version="1.0" encoding="GB2312"?>\n<applications><application><copies>5</copies>'
            "<remark>王堃定金</remark></application></applications>".encode("gbk"),
            records=1,
        ),
        Case(
            "declared-utf8-saved-gbk.xml",
            "filings",
            '<?xml version="1.0" encoding="UTF-8"?>\n<filings><filing><form_no>260000001</form_no><port>上海海关'
            "</port></filing></filings>".encode("gbk"),
            error="text on line 2 is not in the declared encoding utf-8",
            zh="第 2 行的文字不是声明的编码 utf-8",
        ),
        # line ends
        Case("mac-cr.csv", "filings", f"form_no,port\r{F1},2200\r{F2},5300\r".encode(), records=2),
        Case("mac-gb2312.csv", "filings", f"核销单号,口岸\r{F1},上海海关\r{F2},2200\r".encode("gb2312"), records=2),
        Case(
            "mac-tabs-commas.txt",
            "applications",
            "申请份数\t备注\r1,000\t上海,深圳,广州,天津\r5\t北京,南京\r".encode("gb2312"),
            records=2,
        ),
        Case(
            "mixed-line-ends.csv", "filings", f"form_no,port\r\n{F1},2200\n{F2},2200\r{F3},2200\r\n".encode(), records=3
        ),
        Case("no-last-line-end.csv", "filings", f"form_no,port\r\n{F1},2200\r\n{F2},2200".encode(), records=2),
        Case(
            "line-break-in-cell.csv",
            "applications",
            csv('copies,remark\n5,"四季度\n第二批"\n0,x\n'),
            error="'copies' must be a whole number from 1 to 1000",
            at=(("3", "copies", "0"),),
        ),
        Case(
            "mac-line-break-in-cell.csv",
            "applications",
            'copies,remark\r5,"四季度\r第二批"\r0,x\r'.encode(),
            error="'copies' must be a whole number from 1 to 1000",
            at=(("3", "copies", "0"),),
        ),
        Case(
            "blank-rows-first.csv",
            "filings",
            csv(f"\n,\nform_no,port\n{F1},2200\n12,2200\n"),
            error="2 digits where 9 are expected",
            at=(("5", "form_no", "12"),),
        ),
        # what Excel and the programs around it leave in a cell
        Case("text-formula.csv", "filings", csv(f'form_no,port\n="{F1}",="2200"\n'), records=1),
        Case(
            "text-formula-short.csv",
            "filings",
            csv('form_no,port\n="12",2200\n'),
            error="'form_no' is malformed",
            at=(("2", "form_no", '="12"'),),
        ),
        Case(
            "scientific-form.csv",
            "filings",
            csv("form_no,port\n2.6E+08,2200\n"),
            error="scientific notation (2.6E+08)",
            zh="Excel 把长数字显示成了科学计数法（2.6E+08）",
            at=(("2", "form_no", "2.6E+08"),),
        ),
        Case(
            "trailing-dot-zero.csv",  # a program that wrote numbers as floats
            "filings",
            csv(f"form_no,port\n{F1}.0,2200\n"),
            error="'form_no' is malformed",
            at=(("2", "form_no", f"{F1}.0"),),
        ),
        Case(
            "count-dot-zero.csv",
            "losses",
            csv(f"start_form_no,count\n{F1},10.0\n"),
            error="'count' must be a whole number from 1 to 1000",
            at=(("2", "count", "10.0"),),
        ),
        Case("thousands-count.csv", "losses", csv(f'start_form_no,count\n{F1},"1,000"\n'), records=1),
        Case(
            "date-serial.csv",
            "queries",
            csv("业务类型,属性,运算,值\n核销单,发单日期,等于,46143\n"),
            error="Excel stored the date as its serial number (46143, that is 2026-05-01)",
            zh="Excel 把日期存成了序列号（46143，即 2026-05-01）",
            at=(("2", "值", "46143"),),
        ),
        Case("nbsp.csv", "filings", csv(f"form_no,port\n{F1}\u00a0,2200\u00a0\n"), records=1),
        Case(
            "zero-width-space.csv",
            "filings",
            csv(f"form_no,port\n\u200b{F1},2200\n"),
            error="'form_no' has an invisible control character (U+200B) at character 1",
            zh="“核销单号”的第 1 个字符是不可见的控制字符（U+200B）",
        ),
        Case("sep-line.csv", "filings", csv(f"sep=,\nform_no,port\n{F1},2200\n{F2},2200\n"), records=2),
        Case("semicolons.csv", "filings", csv(f"form_no;port\n{F1};2200\n"), records=1),
        Case("used-range.csv", "filings", csv(f"form_no,port,,,\n{F1},2200,,,\n,,,,\n"), records=1),
        Case(
            "vlookup-errors.csv",
            "filings",
            csv(f"form_no,port\n{F1},#N/A\n#REF!,2200\n"),
            error="port '#N/A' is not in the port table",
            at=(("2", "port", "#N/A"), ("3", "form_no", "#REF!")),
        ),
        Case(
            "merged-port.xlsx",  # one port typed into a merged cell over three rows: Excel keeps it in the first
            "filings",
            workbook(["核销单号", "口岸"], [F1, 2200], [F2, None], [F3, None], merge="B2:B4"),
            error="'port' is empty",
            at=(("3", "口岸", ""), ("4", "口岸", "")),
        ),
        Case(  # a hidden row is still the file's, as in the CSV Excel would save: sent
            "hidden-row.xlsx",
            "filings",
            workbook(["form_no", "port"], [F1, "2200"], [F2, "2200"], [F3, "2200"], hide=3),
            records=3,
        ),
        Case(
            "vlookup-errors.xlsx",
            "filings",
            workbook(["form_no", "port"], [F1, "#N/A"]),
            error="port '#N/A' is not in the port table",
            at=(("2", "port", "#N/A"),),
        ),
        Case(
            "date-serial.xlsx",  # a date cell whose format was cleared: Excel shows its serial number
            "queries",
            workbook(["business", "attribute", "op", "value"], ["form", "issue_date", "eq", 46143]),
            error="serial number (46143, that is 2026-05-01)",
            at=(("2", "value", "46143"),),
        ),
        Case("zero-padded.xlsx", "filings", workbook(["form_no", "port"], [1, "2200"], formats="000000000"), records=1),
        Case("workbook-named.csv", "filings", workbook(["form_no", "port"], [F1, "2200"]), records=1),
        Case("empty.xlsx", "filings", workbook(), error="the file is empty"),
        Case(
            "web-export.xls",  # a web system's "Excel export": an HTML table named .xls
            "filings",
            b"<html><head><meta charset='gbk'></head><body><table><tr><td>form_no</td><td>port</td></tr>"
            b"<tr><td>260000001</td><td>2200</td></tr></table></body></html>",
            error="cannot open this Excel file",
            zh="无法打开这个 Excel 文件",
        ),
        Case("csv-renamed.xlsx", "filings", csv(f"form_no,port\n{F1},2200\n"), error="cannot open this Excel file"),
        Case(
            "copy-cut-short.xlsx",  # a copy from a shared folder interrupted half-way
            "filings",
            workbook(["form_no", "port"], [F1, "2200"])[:3000],
            error="cannot open this Excel file",
        ),
        Case(
            "password.xlsx",  # a workbook saved with a password is an OLE container, not a zip
            "filings",
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504) + b"E\x00n\x00c\x00r\x00y\x00p\x00t\x00e\x00d\x00",
            error="protected by a password",
        ),
        # sizes (sync/limits.py)
        Case(
            "checks-5000.csv",  # a check is one batch: its rows up to the limit
            "checks",
            csv("form_no,operation\n" + "".join(f"{260000000 + i:09d},losses\n" for i in range(5000))),
            records=5000,
        ),
        Case(
            "conditions-100.csv",
            "queries",
            csv("业务类型,属性,运算,值\n" + "核销单,核销单号,等于,260000001\n" * 100),
            records=100,
        ),
        Case("range-1000.csv", "losses", csv(f"start_form_no,count\n{F1},1000\n"), records=1),
        Case("range-to-the-top.csv", "losses", csv("start_form_no,count\n999999000,1000\n"), records=1),
        Case(
            "range-1001.csv",
            "losses",
            csv(f"start_form_no,count\n{F1},1001\n"),
            error="'count' must be a whole number from 1 to 1000",
            at=(("2", "count", "1001"),),
        ),
        Case(
            "long-remark.csv",  # a cell of 100,000 characters (the most a cell may hold) is read, and checked
            "applications",
            csv('copies,remark\n5,"' + "定" * 100_000 + '"\n0,x\n'),
            error="'remark' is malformed: expected optional, at most 200 characters",
            at=(("2", "remark", "*"), ("3", "copies", "0")),
        ),
        Case(
            "cell-over-the-limit.csv",  # refused at the row Excel shows it in, a line break in a cell before it
            "applications",
            csv('copies,remark\n5,"a\nb"\n0,x\n7,"' + "x" * 100_001 + '"\n8,z\n'),
            error="a cell is over 100000 characters",
            zh="这一行有一个单元格超过 100000 个字符",
            at=(("3", "copies", "0"), ("4", "", "")),
        ),
        Case(
            "checks-5001.xml",
            "checks",
            b"<checks>"
            + b"".join(
                b"<check><form_no>%09d</form_no><operation>losses</operation></check>" % (260000000 + i)
                for i in range(5001)
            )
            + b"</checks>",
            error="more than the 5000 rows a batch may hold",
        ),
        # XML a shared folder may hold
        Case(
            "doctype-system.xml",
            "filings",
            b'<!DOCTYPE filings SYSTEM "filings.dtd">\n<filings/>',
            error="declares a DTD",
        ),
        Case(
            "parameter-entity.xml",
            "filings",
            b'<?xml version="1.0"?>\n<!DOCTYPE filings [<!ENTITY % ext SYSTEM "http://203.0.113.9/x.dtd"> %ext;]>\n'
            b"<filings/>",
            error="declares a DTD or entities",
        ),
        Case(
            "xinclude.xml",  # never expanded: an unknown field, and nothing of the file it names is read
            "filings",
            b'<filings><filing><xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file:///etc/passwd" '
            b'parse="text"/><port>2200</port></filing></filings>',
            error="unknown field <{http://www.w3.org/2001/XInclude}include>",
            at=(
                ("1", "{http://www.w3.org/2001/XInclude}include", ""),
                ("1", "{http://www.w3.org/2001/XInclude}include", "file:///etc/passwd"),  # its own text, quoted back
                ("1", "{http://www.w3.org/2001/XInclude}include", "text"),
                ("1", "form_no", ""),
            ),
        ),
        Case(
            "deep-in-a-field.xml",
            "filings",
            b"<filings><filing><form_no>" + nested(100_000) + b"</form_no><port>2200</port></filing></filings>",
            error="field <form_no> holds its value only, not the element <a>",
            at=(("1", "form_no", ""), ("1", "form_no", "")),
        ),
        Case(
            "deep-under-the-root.xml",
            "filings",
            b"<filings>" + nested(200_000) + b"</filings>",
            error="element <a> is not a record: each record is <filing>",
            at=(("1", "a", ""),),
        ),
        Case(
            "huge-attribute.xml",
            "filings",
            f'<filings><filing note="{HUGE}"><form_no>{F1}</form_no><port>2200</port></filing></filings>'.encode(),
            error="unknown attribute note",
            at=(("1", "note", "x" * 200 + "…"),),
        ),
        Case(
            "attributes-for-fields.xml",
            "filings",
            f'<filings><filing form_no="{F1}" port="2200"/></filings>'.encode(),
            error="'form_no' is written as an attribute: write it as the element <form_no>…</form_no> inside <filing>",
            at=(("1", "form_no", F1), ("1", "port", "2200"), ("1", "port", ""), ("1", "form_no", "")),
        ),
        Case(
            "cdata-and-comments.xml",
            "filings",
            xml_filings(
                f"<!-- 六月 --><filing><form_no><![CDATA[{F1}]]></form_no><port>2200</port></filing>",
                f"<?note x?><filing>\n  <port>上海海关</port>\n  <form_no> {F2} </form_no>\n</filing>",
            ),
            records=2,
        ),
        Case(
            "fullwidth.xml",
            "filings",
            xml_filings("<filing><form_no>２６０００００ａ１</form_no><port>２２００</port></filing>"),
            records=1,
        ),
        Case(
            "default-namespace.xml",
            "filings",
            f'<filings xmlns="urn:eport:filings"><filing><form_no>{F1}</form_no></filing></filings>'.encode(),
            error="the XML root element must be <filings>, not <{urn:eport:filings}filings>",
        ),
        Case(
            "blank-line-before-declaration.xml",
            "filings",
            b'\r\n<?xml version="1.0" encoding="UTF-8"?>\r\n<filings/>',
            error="the XML declaration <?xml …?> is not at the very start of the file",
            zh="XML 声明 <?xml …?> 不在文件的最开头",
        ),
        Case(
            "bare-ampersand.xml",
            "applications",
            "<applications><application><copies>5</copies><remark>A&B 公司</remark></application>"
            "</applications>".encode(),
            error="malformed XML (line 1): an illegal character or construct (such as a bare & or < in a value",
            zh="XML 格式错误（第 1 行）：有不合法的字符或写法",
        ),
        Case("empty-root.xml", "filings", b"<filings/>", error="the file has no data rows"),
        Case(
            "bidi-reference.xml",
            "filings",
            xml_filings(f"<filing><form_no>{F1}</form_no><port>22&#x202E;00</port></filing>"),
            error="'port' has an invisible control character (U+202E) at character 3",
            at=(("1", "port", "22<U+202E>00"),),
        ),
        Case(
            "nul-reference.xml",
            "filings",
            xml_filings(f"<filing><form_no>{F1}</form_no><port>&#0;</port></filing>"),
            error="a character reference &#…; names a character XML does not allow",
        ),
        Case(
            "same-form-twice.xml",
            "filings",
            xml_filings(*[f"<filing><form_no>{F1}</form_no><port>2200</port></filing>"] * 2),
            error=f"form {F1} appears more than once in this file (rows 1, 2)",
            at=(("2", "form_no", F1),),
        ),
    ]
