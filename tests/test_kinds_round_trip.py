"""Every batch kind, as CSV and as XML, dropped into its folder and answered by the real center (issue 4): results
come back in the clerk's format, one row per record (per form of a range), query answers in outbox/queries."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import pytest

from agent.facade import Agent
from agent.workspace import Workspace
from center.service import Center
from tests.center_support import open_center, wait_for
from tests.rigs import ENTERPRISE, loopback_agent
from tests.tables import read_table


@dataclass
class Rig:
    center: Center
    workspace: Workspace
    agent: Agent
    forms: list[str]


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    with open_center(tmp_path, [ENTERPRISE]) as center:
        forms = center.issue_forms(ENTERPRISE, 20)
        async with loopback_agent(center, tmp_path / "ws") as (agent, workspace, _port):
            yield Rig(center, workspace, agent, forms)


def csv_file(header: list[str], rows: list[list[object]]) -> str:
    return "\n".join([",".join(header), *(",".join(map(str, row)) for row in rows)]) + "\n"


def xml_file(kind: str, item: str, header: list[str], rows: list[list[object]]) -> str:
    records = "".join(
        f"<{item}>" + "".join(f"<{h}>{v}</{h}>" for h, v in zip(header, row, strict=True) if v != "") + f"</{item}>"
        for row in rows
    )
    return f'<?xml version="1.0" encoding="UTF-8"?><{kind}>{records}</{kind}>'


async def answer(rig: Rig, kind: str, name: str, text: str) -> list[dict[str, str]]:
    (rig.workspace.inbox / kind / name).write_text(text, encoding="utf-8")
    stem, suffix = name.rsplit(".", 1)
    folder = rig.workspace.outbox / "queries" if kind == "queries" else rig.workspace.results
    result = await wait_for(folder / f"{stem}.result.{'csv' if kind == 'queries' else suffix}")
    if result.suffix == ".xml":
        root = ElementTree.fromstring(result.read_bytes())
        assert root.tag == "results" and root.get("kind") == kind
        return [{"row": item.get("row", ""), **{child.tag: child.text or "" for child in item}} for item in root]
    return read_table(result)


@pytest.mark.parametrize("fmt", ["csv", "xml"])
async def test_every_kind_round_trips_in_the_clerks_format(rig: Rig, fmt: str) -> None:
    f = rig.forms[:10] if fmt == "csv" else rig.forms[10:]

    def drop(kind: str, item: str, header: list[str], rows: list[list[object]]) -> str:
        return csv_file(header, rows) if fmt == "csv" else xml_file(kind, item, header, rows)

    got = await answer(
        rig, "applications", f"apply.{fmt}", drop("applications", "application", ["copies", "remark"], [[50, "四季度"]])
    )
    assert [(r["copies"], r["code"]) for r in got] == [("50", "OK")] and got[0]["unified_no"]

    got = await answer(
        rig,
        "filings",
        f"file.{fmt}",
        drop(
            "filings",
            "filing",
            ["form_no", "start_form_no", "count", "port"],
            [[f[0], "", "", 2200], ["", f[1], 3, 5300]],
        ),
    )
    assert [(r["row"], r["form_no"], r["code"]) for r in got] == [
        (str(row), form, "OK") for row, form in zip([2, 3, 3, 3] if fmt == "csv" else [1, 2, 2, 2], f[:4], strict=True)
    ]

    got = await answer(
        rig, "cancellations", f"cancel.{fmt}", drop("cancellations", "cancellation", ["form_no"], [[f[3]]])
    )
    assert [(r["form_no"], r["code"]) for r in got] == [(f[3], "OK")]
    assert rig.center.form(f[3])["customs_status"] == "cancel_pending"  # type: ignore[index]

    declaration = rig.center.new_declaration_no("2200", dt.date(2026, 11, 27))
    rig.center.customs_use(f[0], declaration, "2200", "2026-11-27")
    rig.center.customs_declare(declaration, f[0], "2026-11-27", "2200", "一般贸易", "12000.00", "USD")
    got = await answer(
        rig,
        "submissions",
        f"submit.{fmt}",
        drop("submissions", "submission", ["form_no", "declaration_no"], [[f[0], declaration]]),
    )
    assert [(r["form_no"], r["code"]) for r in got] == [(f[0], "OK")]

    got = await answer(rig, "losses", f"lose.{fmt}", drop("losses", "loss", ["start_form_no", "count"], [[f[5], 2]]))
    assert [(r["form_no"], r["code"]) for r in got] == [(f[5], "OK"), (f[6], "OK")]

    got = await answer(
        rig,
        "queries",
        f"query.{fmt}",
        drop("queries", "condition", ["business", "attribute", "op", "value"], [["form", "form_no", "eq", f[5]]]),
    )
    assert [(r["form_no"], r["safe_status"]) for r in got] == [(f[5], "lost")]


async def test_a_refusal_comes_back_on_its_row_with_its_code(rig: Rig) -> None:
    got = await answer(rig, "submissions", "early.csv", f"form_no\n{rig.forms[0]}\n")  # issued, never used
    assert (got[0]["status"], got[0]["code"]) == ("ERROR", "FORM_NOT_USED")
    assert "尚未被海关用于出口报关" in got[0]["message"] and "has not been used by customs" in got[0]["message"]
