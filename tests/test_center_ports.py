"""The port reference table: lookup by code and exact name, the fuzzy pick-list served to agents (the manual's
"模糊输入口岸名称或代码"), and importing a fuller table. On SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from center.cli import main
from center.refusals import Refusal
from center.service import Center
from tests.center_support import Client


def test_search_by_part_of_the_name_best_matches_first(center: Center) -> None:
    found = center.search_ports("深圳")
    assert found[0] == {"code": "5300", "name": "深圳海关"}
    assert all("深圳" in p["name"] for p in found)
    assert center.search_ports("上海海关")[0]["code"] == "2200"  # the exact name first
    assert center.search_ports("") == []
    assert center.search_ports("火星") == []


def test_search_by_the_start_of_the_code(center: Center) -> None:
    codes = [p["code"] for p in center.search_ports("53")]
    assert codes and all(c.startswith("53") for c in codes) and codes == sorted(codes)
    assert center.search_ports("5300")[0]["code"] == "5300"


def test_lookup_by_code_or_exact_name(center: Center) -> None:
    assert center.port("5300") == center.port("深圳海关") == {"code": "5300", "name": "深圳海关"}
    assert center.port("深圳") is None and center.port("9999") is None


async def test_ports_endpoints(client: Client) -> None:
    response = await client.get("/api/v1/ports", params={"q": "深圳"})
    assert response.status == 200 and (await response.json())[0]["code"] == "5300"
    assert len(await (await client.get("/api/v1/ports")).json()) >= 42
    assert await (await client.get("/api/v1/ports/拱北关区")).json() == {"code": "5700", "name": "拱北关区"}
    missing = await client.get("/api/v1/ports/9999")
    assert (missing.status, (await missing.json())["code"]) == (422, "PORT_NOT_FOUND")


def test_import_adds_and_renames(
    center: Center, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = tmp_path / "ports.csv"
    table.write_text("关区代码,关区名称\n5301,皇岗海关\n5302,\n", encoding="utf-8-sig")
    assert main(["ports", "import", "--db", db_url, str(table)]) == 1
    assert "PORT_IMPORT_INVALID" in capsys.readouterr().err
    assert center.port("5301") is None  # all or nothing
    table.write_text("code,name\n5301,皇岗海关\n5302,文锦渡海关\n5300,深圳海关\n0100,北京海关\n", encoding="utf-8")
    assert main(["ports", "import", "--db", db_url, str(table), "--json"]) == 0
    assert '"added": 2' in capsys.readouterr().out
    assert center.port("皇岗海关") == {"code": "5301", "name": "皇岗海关"}
    assert center.port("0100") == {"code": "0100", "name": "北京海关"}
    assert [p["code"] for p in center.search_ports("深圳")] == ["5300"]
    assert main(["ports", "search", "--db", db_url, "皇岗"]) == 0
    assert capsys.readouterr().out.strip() == "5301 皇岗海关"


@pytest.mark.parametrize(
    "text",
    [
        "name\n深圳海关\n",  # no code column
        "code,name\n530,短码海关\n",
        "code,name\n5301,甲海关\n5301,乙海关\n",
        "code,name\n5301,深圳海关\n",  # the name belongs to 5300 already
    ],
)
def test_import_refusals(center: Center, text: str) -> None:
    with pytest.raises(Refusal) as refused:
        center.import_ports(text)
    assert refused.value.code == "PORT_IMPORT_INVALID"
    assert center.port("5301") is None


def test_import_can_swap_two_names(center: Center) -> None:
    center.import_ports("code,name\n5300,拱北关区\n5700,深圳海关\n")
    assert center.port("深圳海关") == {"code": "5700", "name": "深圳海关"}
