"""The CA and receipt private keys at rest: encrypted with a passphrase given in a file (or the environment), an
unencrypted database encrypted on its first open with one, never on a command line or in a log (docs/OPERATOR.md,
"The keys at rest")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization

from center import db
from center.cli import main
from center.keyring import NEW_PASSPHRASE_FILE_ENV, PASSPHRASE_ENV, PASSPHRASE_FILE_ENV, KeysLocked
from center.service import Center
from sync.protocol import verify_answer
from tests.center_support import (
    ENTERPRISE,
    Desk,
    center_process,
    enroll,
    filing_payload,
    filings,
    loopback_client,
    open_center,
    run_cli,
)

SECRET = "correct horse battery staple 马"


def stored_keys(center: Center) -> dict[str, str]:
    with center.engine.connect() as conn:
        return {row.name: row.private_key for row in conn.execute(sa.select(db.keys))}


def serve(*argv: str) -> subprocess.CompletedProcess[str]:
    """``eport-center serve ARGV`` in a process of its own, when it is expected to refuse to start."""
    command = [sys.executable, "-m", "center.cli", "serve", *argv]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def passphrase_file(tmp_path: Path, secret: str = SECRET, name: str = "key-passphrase") -> Path:
    path = tmp_path / name
    path.write_text(secret + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The environment, with no key passphrase in it to begin with."""
    for name in (PASSPHRASE_ENV, PASSPHRASE_FILE_ENV, NEW_PASSPHRASE_FILE_ENV):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def assert_encrypted(center: Center) -> None:
    stored = stored_keys(center)
    assert set(stored) == {"ca", "receipt"}
    for text in stored.values():
        assert "PRIVATE KEY" not in text and SECRET not in text
        with pytest.raises(ValueError):
            serialization.load_pem_private_key(text.encode(), password=None)
    assert center.keys_encrypted


async def test_keys_lie_encrypted_and_the_center_signs_with_them(
    db_url: str, tmp_path: Path, env: pytest.MonkeyPatch
) -> None:
    env.setenv(PASSPHRASE_FILE_ENV, str(passphrase_file(tmp_path)))
    with open_center(db_url) as center:
        assert_encrypted(center)
        async with loopback_client(center) as client:
            desk = Desk(center, client, enroll(center))
            [form_no] = center.issue_forms(ENTERPRISE, 1)
            assert (await desk.one("filings", form_no=form_no, port="5300"))["code"] == "OK"  # receipt verified


def test_an_unencrypted_database_is_encrypted_on_its_first_open_with_a_passphrase(
    db_url: str, tmp_path: Path, env: pytest.MonkeyPatch
) -> None:
    with open_center(db_url) as center:  # made before keys were encrypted
        assert all(text.startswith("-----BEGIN PRIVATE KEY-----") for text in stored_keys(center).values())
        assert not center.keys_encrypted
        ca = center.ca_certificate()
        card = enroll(center)
        forms = center.issue_forms(ENTERPRISE, 2)

    env.setenv(PASSPHRASE_ENV, SECRET)
    with Center.open(db_url) as center:
        assert_encrypted(center)
        assert center.ca_certificate() == ca  # every agent's pinned CA still holds
        payload = filing_payload("after-encryption", filings((forms[1], "5300")))
        answer = center.receive_batch(card.sign(payload))  # the card enrolled before still works
        verify_answer(answer, payload, ca)


def test_encrypted_keys_need_their_passphrase_only_to_sign(tmp_path: Path, env: pytest.MonkeyPatch) -> None:
    db_path = str(tmp_path / "center.db")
    env.setenv(PASSPHRASE_FILE_ENV, str(passphrase_file(tmp_path)))
    open_center(db_path).close()

    env.delenv(PASSPHRASE_FILE_ENV)
    # What needs no private key works without the passphrase ...
    assert (
        run_cli(main, "enterprise", "create", "--db", db_path, "--code", "5101960003", "--name", "成都公司").code == 0
    )
    assert run_cli(main, "ca", "--db", db_path).out.startswith("-----BEGIN CERTIFICATE-----")
    # ... what signs says what is missing, and how to give it.
    with Center.open(db_path) as center, pytest.raises(KeysLocked, match=PASSPHRASE_FILE_ENV):
        center.unlock_keys()
    tls = run_cli(main, "tls", "issue", "--db", db_path, "--host", "127.0.0.1", "--cert-out", "c", "--key-out", "k")
    assert tls.code == 1 and PASSPHRASE_FILE_ENV in tls.err
    refused = serve("--db", db_path, "--port", "0")
    assert refused.returncode == 1 and "encrypted" in refused.stderr and PASSPHRASE_FILE_ENV in refused.stderr

    env.setenv(PASSPHRASE_FILE_ENV, str(passphrase_file(tmp_path, "not the passphrase", "wrong")))
    status = run_cli(main, "keys", "status", "--db", db_path)
    assert status.code == 1 and "does not open the center's keys" in status.err
    assert "not the passphrase" not in status.err


def test_serving_other_machines_needs_encrypted_keys(tmp_path: Path, env: pytest.MonkeyPatch) -> None:
    db_path = str(tmp_path / "center.db")
    open_center(db_path).close()
    cert, key = tmp_path / "tls.pem", tmp_path / "tls.key"
    issued = run_cli(
        main, "tls", "issue", "--db", db_path, "--host", "10.0.0.5", "--cert-out", str(cert), "--key-out", str(key)
    )
    assert issued.code == 0, issued.err
    refused = serve("--db", db_path, "--host", "0.0.0.0", "--tls-cert", str(cert), "--tls-key", str(key))
    assert refused.returncode == 1
    assert "unencrypted" in refused.stderr and PASSPHRASE_FILE_ENV in refused.stderr


def test_the_passphrase_is_on_no_command_line_and_in_no_log(tmp_path: Path, env: pytest.MonkeyPatch) -> None:
    db_path = str(tmp_path / "center.db")
    open_center(db_path).close()  # unencrypted: encrypted at this start
    environment = {**os.environ, PASSPHRASE_FILE_ENV: str(passphrase_file(tmp_path))}
    with center_process(db_path, tmp_path / "center.log", env=environment) as served:
        command_line = Path(f"/proc/{served.process.pid}/cmdline").read_bytes().decode()
        assert served.get("/api/v1/ports/0000")[0] == 422
        assert served.stop() == 0
    assert SECRET not in command_line
    text = (tmp_path / "center.log").read_text(encoding="utf-8")
    assert SECRET not in text
    lines = served.log_lines()  # JSON, every line
    assert any("now encrypted" in line["message"] for line in lines)
    [refused] = [line for line in lines if line.get("route") == "/api/v1/ports/{port}"]
    assert (refused["status"], refused["code"], refused["logger"]) == (422, "PORT_NOT_FOUND", "center.access")
    with Center.open(db_path, key_passphrase=None) as center:
        assert center.keys_encrypted


def test_changing_the_passphrase(tmp_path: Path, env: pytest.MonkeyPatch) -> None:
    db_path = str(tmp_path / "center.db")
    env.setenv(PASSPHRASE_FILE_ENV, str(passphrase_file(tmp_path)))
    with open_center(db_path) as center:
        ca = center.ca_certificate()
    status = run_cli(main, "keys", "status", "--db", db_path, "--json")
    assert (status.code, json.loads(status.out)) == (0, {"encrypted": True, "opened": True})

    assert run_cli(main, "keys", "passphrase", "--db", db_path).code == 1  # no new passphrase given
    env.setenv(NEW_PASSPHRASE_FILE_ENV, str(passphrase_file(tmp_path, "a new one", "new")))
    changed = run_cli(main, "keys", "passphrase", "--db", db_path)
    assert changed.code == 0, changed.err

    assert run_cli(main, "keys", "status", "--db", db_path).code == 1  # the old one no longer opens them
    env.setenv(PASSPHRASE_FILE_ENV, str(tmp_path / "new"))
    assert run_cli(main, "keys", "status", "--db", db_path).code == 0
    with Center.open(db_path) as center:
        center.unlock_keys()
        assert center.ca_certificate() == ca
