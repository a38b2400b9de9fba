"""The filling rules (填写规范) and the blank templates, made from the schema the validator uses.

python -m inbox.rules > docs/FILLING_RULES.md
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from inbox.schema import KINDS, QUERY_ATTRIBUTES, QUERY_OPS, BatchKind
from inbox.xsd import xml_sample, xsd_text


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


def write_templates(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for kind in KINDS.values():
        (folder / f"{kind.name}.csv").write_bytes(template_csv(kind))
        (folder / f"{kind.name}.xml").write_text(xml_sample(kind), encoding="utf-8")
        (folder / f"{kind.name}.xsd").write_text(xsd_text(kind), encoding="utf-8")


if __name__ == "__main__":
    print(filling_rules(), end="")
