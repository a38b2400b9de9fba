"""The center's first run and its register: `eport-center init` makes a center once; every other command, serve
included, refuses a database without one (a mistyped --db) and creates nothing; `enterprise list`, `operator
list|revoke`, `device list|revoke`; a card revoked at the center is refused when the agent sends its next batch,
and the clerk's result file says so, in Chinese first."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from center.cli import main
from center.refusals import Refusal
from center.service import Center
from tests import rigs
from tests.center_support import (
    ENTERPRISE,
    OTHER_ENTERPRISE,
    center_cli,
    enroll,
    filing_payload,
    filings,
    open_center,
    run_cli,
    wait_for,
)
from tests.tables import read_table

MISSING_DB_COMMANDS = [
    ["serve"],
    ["ca"],
    ["enterprise", "create", "--code", ENTERPRISE, "--name", "x"],
    ["enterprise", "list"],
    ["operator", "list"],
    ["operator", "invite", "--enterprise", ENTERPRISE, "--name", "x"],
    ["device", "revoke", "--certificate", "01"],
    ["safe", "issue", "--enterprise", ENTERPRISE, "--copies", "1"],
    ["admin", "token"],
]


def test_init_makes_a_center_once(tmp_path: Path) -> None:
    db = str(tmp_path / "new" / "center.db")
    made = run_cli(main, "init", "--db", db)
    assert made.code == 0, made.err
    assert made.out.startswith("数据中心已创建 / the center is created")
    ca = run_cli(main, "ca", "--db", db).out
    assert "BEGIN CERTIFICATE" in ca

    again = run_cli(main, "init", "--db", db, "--json")
    assert again.code == 1
    assert again.json()["code"] == "CENTER_EXISTS" and "nothing was changed" in again.err
    assert again.err.index("未做任何更改") < again.err.index("nothing was changed")  # Chinese first
    assert run_cli(main, "ca", "--db", db).out == ca  # the same CA: nothing was made anew


@pytest.mark.parametrize("argv", MISSING_DB_COMMANDS, ids=[" ".join(a[:2]) for a in MISSING_DB_COMMANDS])
def test_a_database_without_a_center_is_refused_and_left_alone(tmp_path: Path, argv: list[str]) -> None:
    typo = tmp_path / "typo" / "centre.db"
    ran = run_cli(main, *argv, "--db", str(typo))
    assert ran.code == 1
    assert "CENTER_NOT_FOUND" in ran.err and f"eport-center init --db {typo}" in ran.err
    assert ran.err.index("没有数据中心") < ran.err.index("There is no data center")
    assert not typo.parent.exists()  # no file, no folder: nothing was created


def test_an_empty_database_is_not_a_center(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    assert "CENTER_NOT_FOUND" in run_cli(main, "enterprise", "list", "--db", str(empty)).err
    assert run_cli(main, "init", "--db", str(empty)).code == 0  # but init may make one in it


def test_lists_and_revocations(center: Center, db_url: str) -> None:
    card = enroll(center)
    enroll(center, OTHER_ENTERPRISE, name="李四")  # the same card serial: the helper gives every card one
    key = ec.generate_private_key(ec.SECP256R1())
    device = center.enroll_device(ENTERPRISE, key.public_key(), "finance-pc-2")

    code, enterprises, _ = center_cli(db_url, "enterprise", "list")
    assert code == 0
    assert [(e["code"], e["cards"], e["pcs"]) for e in enterprises] == [(ENTERPRISE, 1, 1), (OTHER_ENTERPRISE, 1, 0)]

    code, operators, _ = center_cli(db_url, "operator", "list", "--enterprise", ENTERPRISE)
    assert code == 0
    [listed] = operators
    assert listed["certificate"] == format(card.certificate.serial_number, "x")
    assert (listed["name"], listed["role"], listed["card_serial"], listed["revoked"]) == (
        "张三",
        "operator",
        "CARD-0001",
        False,
    )

    # A lost card, by the serial the clerk's `card info` shows: every certificate of it is revoked.
    code, revoked, _ = center_cli(db_url, "operator", "revoke", "--card", "card-0001")
    assert code == 0 and {r["was_revoked"] for r in revoked} == {False} and len(revoked) == 2
    plain = run_cli(main, "operator", "revoke", "--db", db_url, "--certificate", listed["certificate"].upper())
    assert plain.code == 0 and plain.out.startswith("操作员卡张三") and "早已注销" in plain.out
    code, operators, _ = center_cli(db_url, "operator", "list")
    assert [o["revoked"] for o in operators] == [True, True]
    with pytest.raises(Refusal) as refused:
        center.receive_batch(card.sign(filing_payload("after-revocation", filings(("000000001", "5300")))))
    assert refused.value.code == "OPERATOR_REVOKED"

    code, devices, _ = center_cli(db_url, "device", "list")
    assert [(d["name"], d["revoked"]) for d in devices] == [("finance-pc-2", False)]
    assert center_cli(db_url, "device", "revoke", "--certificate", devices[0]["certificate"])[0] == 0
    with pytest.raises(Refusal) as refused:
        center.device_enterprise(device)
    assert refused.value.code == "DEVICE_UNKNOWN"

    code, refusal, err = center_cli(db_url, "operator", "revoke", "--card", "NO-SUCH-CARD")
    assert (code, refusal["code"]) == (1, "CERTIFICATE_NOT_FOUND") and "operator list" in err


async def test_a_card_revoked_at_the_center_is_refused_and_the_clerk_reads_why(tmp_path: Path) -> None:
    with open_center(tmp_path, [rigs.ENTERPRISE]) as center:
        async with rigs.loopback_agent(center, tmp_path / "ws") as (agent, workspace, _port):
            form_no = center.issue_forms(rigs.ENTERPRISE, 1)[0]
            serial = agent.card.info.serial
            assert serial
            db = str(tmp_path / "center.db")
            revoked = await asyncio.to_thread(run_cli, main, "operator", "revoke", "--db", db, "--card", serial)
            assert revoked.code == 0, revoked.err

            lost = workspace.inbox / "filings" / "lost.csv"
            lost.write_text(f"form_no,port\r\n{form_no},5300\r\n", encoding="utf-8")
            result = await wait_for(workspace.results / "lost.result.csv")
            [row] = read_table(result)
            assert (row["status"], row["code"]) == ("ERROR", "OPERATOR_REVOKED")
            assert row["message"].startswith("操作员卡已被注销") and "has been revoked" in row["message"]
        assert center.form(form_no)["customs_status"] == "unused"  # type: ignore[index]
