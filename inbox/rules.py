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
        f"Drop into `inbox/{kind.name}/` (or name the file `{kind.name}…` / `{kind.prefixes[-1]}…`); "
        f"XML root `<{kind.name}>`, one `<{kind.item}>` per record; template `templates/{kind.name}.csv`, "
        f"schema `templates/{kind.name}.xsd`.",
        "",
        "| column | 列名 | required 必填 | rule | 规则 | example 示例 |",
        "|---|---|---|---|---|---|",
    ]
    for c in kind.columns:
        if kind.ranges and c.name in ("form_no", "start_form_no", "count"):
            required = "form_no, or start_form_no + count 二选一"
        else:
            required = "yes 是" if c.required else "no 否"
        lines.append(f"| `{c.name}` | {c.zh} | {required} | {c.rule_en} | {c.rule_zh} | `{c.example}` |")
    lines.append("")
    lines += [f"- {zh} {en}" for zh, en in zip(kind.notes_zh, kind.notes_en, strict=True)]
    return [*lines, ""]


def _query_table() -> list[str]:
    lines = ["### 查询属性 Query attributes", "", "| business 业务类型 | attributes 属性 |", "|---|---|"]
    for (b_en, b_zh), attributes in QUERY_ATTRIBUTES.items():
        lines.append(f"| `{b_en}` {b_zh} | " + ", ".join(f"`{a_en}` {a_zh}" for a_en, a_zh in attributes) + " |")
    lines += ["", "Operators 运算: " + ", ".join(f"`{en}` {zh}" for en, zh in QUERY_OPS), ""]
    return lines


def filling_rules() -> str:
    lines = [
        "# 填写规范 Filling rules",
        "",
        "Generated from the schema the agent checks files with (`python -m inbox.rules`); do not edit by hand.",
        "",
        "- Files: CSV (UTF-8 with or without BOM, or GBK/GB18030 as Excel saves them; comma or tab separated) or XML.",
        "- Headers: the English or the Chinese column name, or both (`核销单号 form_no`); a `序号` column is ignored.",
        "- Codes: spaces around them and full-width characters are fixed for you (`２２００` → `2200`); form "
        "numbers are upper-cased.",
        "- Empty rows are skipped. Rows are numbered as Excel numbers them (the header is row 1).",
        "- A file with any mistake is not sent at all: `outbox/errors/<file>.errors.csv` lists every mistake.",
        "- A form named twice in one file is a mistake. A range `start_form_no` + `count` names `count` forms from "
        "`start_form_no` on, counting up its last digits; each form gets its own result row.",
        "",
    ]
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
