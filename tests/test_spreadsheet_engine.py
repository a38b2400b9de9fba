"""What a real spreadsheet program shows of the agent's files: LibreOffice Calc, headless, opens the CSV and the
workbook a clerk gets, and saves what it shows as text; every digit of a declaration number and the leading zeros
of a form number must survive. It also writes a genuine old-format .xls, which the agent must read."""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from agent.intake import Intake
from outbox.columns import columns
from outbox.files import write_table
from tests.test_intake_corpus import intake as intake  # the fixture: a workspace with ports
from tests.test_workbooks import sheet

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("soffice") is None and not os.environ.get("CI"),
        reason="LibreOffice is not installed (scripts/install.sh --test installs it)",
    ),
]

DECLARATION, FORM = "220020261000000001", "000000001"
UTF8_CSV = "CSV:44,34,76,1"  # comma, double quote, UTF-8, from line 1: what the import dialog offers for our files


def convert(source: Path, to: str, out: Path, infilter: str | None = None) -> Path:
    """``soffice --convert-to``: the file as LibreOffice opens it, saved as ``to``."""
    profile = out / "lo-profile"
    command = ["soffice", f"-env:UserInstallation=file://{profile}", "--headless"]
    if infilter:
        command.append(f"--infilter={infilter}")
    subprocess.run(
        [*command, "--convert-to", to, "--outdir", str(out), str(source)], check=True, capture_output=True, timeout=120
    )
    return out / f"{source.stem}.{to.split(':')[0]}"


def shown(path: Path) -> list[list[str]]:
    """The cells of a CSV LibreOffice saved: what it showed."""
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


def test_a_spreadsheet_keeps_every_digit_of_our_csv_and_workbook(tmp_path: Path) -> None:
    table = tmp_path / "answers.result.csv"
    workbook = write_table(table, columns(["form_no", "declaration_no", "copies"]), [[FORM, DECLARATION, 5]], "结果")
    seen = tmp_path / "seen"
    seen.mkdir()
    from_csv = shown(convert(table, "csv", seen, UTF8_CSV))
    assert from_csv[1][:2] == [FORM, DECLARATION], from_csv
    (seen / "answers.result.csv").rename(seen / "from-csv.csv")
    from_workbook = shown(convert(workbook, "csv:Text - txt - csv (StarCalc):44,34,76", seen))
    assert from_workbook[0][:2] == ["核销单号", "报关单号"]
    assert from_workbook[1] == [FORM, DECLARATION, "5"], from_workbook


def test_an_old_xls_workbook_is_read(intake: Intake, tmp_path: Path) -> None:
    source = sheet(tmp_path / "old.xlsx", ["核销单号", "口岸"], ["260000001", "2200"], [4, "5300"])
    xls = convert(source, "xls", tmp_path)
    dropped = intake.workspace.inbox / "filings" / xls.name
    shutil.copy(xls, dropped)
    assert intake.take(dropped) is None  # the second row's form number lost its zeros in Excel's number cell
    errors = (intake.workspace.errors / "old.errors.csv").read_text(encoding="utf-8-sig")
    assert "3,核销单号,4" in errors and "Excel stored it as a number and dropped the leading zeros" in errors
