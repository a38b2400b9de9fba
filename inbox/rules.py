"""The filling rules (填写规范) and the blank templates, made from the schema the validator uses.

python -m inbox.rules > docs/FILLING_RULES.md
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from inbox.schema import KINDS, QUERY_ATTRIBUTES, QUERY_OPS, BatchKind, Column
from inbox.xsd import xml_sample, xsd_text
from sync.access import ACCOUNT_TYPES


def _kind_rules(kind: BatchKind) -> list[str]:
    lines = [
        f"## {kind.zh} {kind.name}",
        "",
        f"放入 `inbox/{kind.name}/`（或以 `{kind.prefixes[-1]}…` / `{kind.name}…` 作文件名开头）；"
        f"XML 根元素 `<{kind.name}>`，每条记录一个 `<{kind.item}>`；模板 `templates/{kind.name}.xlsx`"
        f"（或 `.csv`），XML 模式 `templates/{kind.name}.xsd`。",
        f"Drop into `inbox/{kind.name}/` (or start the file name with `{kind.name}…` / `{kind.prefixes[-1]}…`); "
        f"XML root `<{kind.name}>`, one `<{kind.item}>` per record; template `templates/{kind.name}.xlsx` "
        f"(or `.csv`), schema `templates/{kind.name}.xsd`.",
        "",
        "| 列名 | column | 必填 required | 规则 | rule | 示例 example |",
        "|---|---|---|---|---|---|",
    ]
    for c in kind.columns:
        if kind.ranges and c.name in ("form_no", "start_form_no", "count"):
            required = "二选一：核销单号，或起始核销单号 + 份数 / form_no, or start_form_no + count"
        else:
            required = "是 yes" if c.required else "否 no"
        lines.append(f"| {c.zh} | `{c.name}` | {required} | {c.rule_zh} | {c.rule_en} | `{c.example}` |")
    lines.append("")
    lines += [f"- {zh} {en}" for zh, en in zip(kind.notes_zh, kind.notes_en, strict=True)]
    return [*lines, ""]


def _query_table() -> list[str]:
    lines = ["### 查询属性 Query attributes", "", "| 业务类型 business | 属性 attributes |", "|---|---|"]
    for (b_en, b_zh), attributes in QUERY_ATTRIBUTES.items():
        lines.append(f"| {b_zh} `{b_en}` | " + "、".join(f"{a_zh} `{a_en}`" for a_en, a_zh in attributes) + " |")
    lines += ["", "运算 Operators: " + "、".join(f"{zh} `{en}`" for en, zh in QUERY_OPS), ""]
    return lines


GENERAL_RULES = [
    (
        "文件：Excel 工作簿（.xlsx，也接受旧的 .xls；读第一个工作表），CSV（UTF-8，带或不带 BOM，"
        "或 Excel 默认保存的 GBK/GB18030；逗号或制表符分隔），或 XML（UTF-8、UTF-16、GBK、GB2312、GB18030）。",
        "Files: an Excel workbook (.xlsx, or the old .xls; its first sheet is read), CSV (UTF-8 with or without BOM, "
        "or the GBK/GB18030 Excel saves by default; comma or tab separated), or XML (UTF-8, UTF-16, GBK, GB2312, "
        "GB18030).",
    ),
    (
        "表头：中文列名或英文列名，或两者都写（`核销单号 form_no`）；`序号` 列会被忽略。",
        "Headers: the Chinese or the English column name, or both (`核销单号 form_no`); a `序号` column is ignored.",
    ),
    (
        "代码前后的空格和全角字符会自动纠正（`２２００` → `2200`）；核销单号中的字母转为大写。",
        "Codes: spaces around them and full-width characters are fixed for you (`２２００` → `2200`); form numbers "
        "are upper-cased.",
    ),
    (
        "Excel 会把 000000004 变成 4、把 18 位报关单号变成 2.20020261E+17：请使用 templates 中的 .xlsx 模板"
        "（编号列已设为文本格式），或先把这些列设为文本格式再输入；出现这种情况时，错误文件会指出是 Excel "
        "改动了数值。`1,000` 这样带千位分隔符的数、`2026/5/6` 这样的日期按原意读取。",
        "Excel turns 000000004 into 4 and an 18-digit declaration number into 2.20020261E+17: use the .xlsx "
        "templates in templates/ (their number columns are formatted as text), or format those columns as text "
        "before typing; when it happens, the errors file says that Excel changed the value. `1,000` with a "
        "thousands separator and dates like `2026/5/6` are read as meant.",
    ),
    (
        "空行会被跳过。行号与 Excel 中的行号一致（表头为第 1 行），单元格内换行不影响行号。",
        "Empty rows are skipped. Rows are numbered as Excel numbers them (the header is row 1); a line break in a "
        "cell does not change them.",
    ),
    (
        "文件中有任何错误都不会发送：`outbox/errors/<文件名>.errors.xlsx`（及同名 .csv）一次列出全部错误。",
        "A file with any mistake is not sent at all: `outbox/errors/<file>.errors.xlsx` (and the .csv beside it) "
        "lists every mistake at once.",
    ),
    (
        "同一文件中重复出现的核销单号是错误。`起始核销单号` + `份数` 表示从起始号开始、末尾数字递增的连续 "
        "`份数` 张核销单，每张在结果中各占一行。",
        "A form named twice in one file is a mistake. A range `start_form_no` + `count` names `count` forms from "
        "`start_form_no` on, counting up its last digits; each form gets its own result row.",
    ),
]


def filling_rules() -> str:
    lines = [
        "# 填写规范 Filling rules",
        "",
        "本文件由代理检查文件所用的规则生成（`python -m inbox.rules`），请勿手工修改。"
        " Generated from the schema the agent checks files with; do not edit by hand.",
        "",
    ]
    for zh, en in GENERAL_RULES:
        lines += [f"- {zh}", f"  {en}"]
    lines.append("")
    for kind in KINDS.values():
        lines += _kind_rules(kind)
        if kind.name == "queries":
            lines += _query_table()
    return "\n".join(lines).rstrip() + "\n"


def template_csv(kind: BatchKind) -> bytes:
    """A blank sheet for Excel: both header names in each cell, one example row."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(f"{c.zh} {c.name}" for c in kind.columns)
    writer.writerow("" if kind.ranges and c.name in ("start_form_no", "count") else c.example for c in kind.columns)
    return buffer.getvalue().encode("utf-8-sig")


# Choices a template's cell offers as a drop-down list (the names the validator accepts, Chinese first).
CHOICES: dict[tuple[str, str], list[str]] = {
    ("queries", "business"): [zh for _en, zh in QUERY_ATTRIBUTES],
    ("queries", "attribute"): sorted({zh for pairs in QUERY_ATTRIBUTES.values() for _en, zh in pairs}),
    ("queries", "op"): [zh for _en, zh in QUERY_OPS],
    ("access", "type"): list(ACCOUNT_TYPES.values()),
    ("access", "months"): ["6", "12"],
}

# The example values of the list columns, by the Chinese names the lists offer.
EXAMPLES_ZH = {
    **{en: zh for en, zh in QUERY_ATTRIBUTES},
    **{en: zh for pairs in QUERY_ATTRIBUTES.values() for en, zh in pairs},
    **dict(QUERY_OPS),
    **ACCOUNT_TYPES,
}


def _is_identifier(column: Column) -> bool:
    return column.digits is not None or (column.code and column.integer is None and column.pattern is not None)


def template_xlsx(kind: BatchKind, path: Path, ports: Sequence[tuple[str, str]] = ()) -> None:
    """A blank workbook for Excel: identifier columns formatted as text (Excel's "@", so 000000001 keeps its zeros
    and an 18-digit number its digits), the rule of each column shown when a cell is selected, drop-down lists for
    the kind's choices (the ports of the cached port table, when there is one), one example row."""
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet(kind.zh)
    header = book.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
    text = book.add_format({"num_format": "@"})
    rows = 5000  # the rows the formats and lists are laid over
    port_list = None
    if ports and kind.name == "filings":
        codes = book.add_worksheet("口岸代码")
        codes.write_row(0, 0, ["关区代码 code", "口岸 name"], header)
        for index, (code, name) in enumerate(ports, start=1):
            codes.write_string(index, 0, code, text)
            codes.write_string(index, 1, name)
        codes.hide()
        port_list = f"='口岸代码'!$A$2:$A${len(ports) + 1}"
    for index, column in enumerate(kind.columns):
        title = f"{column.zh} {column.name}"
        sheet.write_string(0, index, title, header)
        width = max(12, len(title) + 4)
        sheet.set_column(index, index, width, text if _is_identifier(column) else None)
        prompt = {"input_title": column.zh[:32], "input_message": column.rule_zh[:255]}
        choices = CHOICES.get((kind.name, column.name))
        rule: dict[str, object]
        if column.name == "port" and port_list is not None:
            rule = {"validate": "list", "source": port_list, "error_type": "information"}
        elif choices:
            rule = {"validate": "list", "source": choices}
        elif column.integer is not None:
            low, high = column.integer
            rule = {"validate": "integer", "criteria": "between", "minimum": low, "maximum": high}
        else:
            rule = {"validate": "any"}
        sheet.data_validation(1, index, rows, index, {**rule, **prompt, "error_message": column.rule_zh[:255]})
        if not (kind.ranges and column.name in ("start_form_no", "count")) and column.example:
            example = EXAMPLES_ZH.get(column.example, column.example) if choices else column.example
            sheet.write_string(1, index, example, text if _is_identifier(column) else None)
    sheet.freeze_panes(1, 0)
    book.close()


def write_templates(folder: Path, ports: Sequence[tuple[str, str]] = ()) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for kind in KINDS.values():
        (folder / f"{kind.name}.csv").write_bytes(template_csv(kind))
        (folder / f"{kind.name}.xml").write_text(xml_sample(kind), encoding="utf-8")
        (folder / f"{kind.name}.xsd").write_text(xsd_text(kind), encoding="utf-8")
        template_xlsx(kind, folder / f"{kind.name}.xlsx", ports)


if __name__ == "__main__":
    print(filling_rules(), end="")
