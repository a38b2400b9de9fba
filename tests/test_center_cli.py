"""``eport-center``: in process through ``main(argv)``, and the installed console script in a subprocess."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from center.cli import main
from center.service import Center
from sync.protocol import check_issued_by
from tests.center_support import free_port, wait_until


def _public_key_file(tmp_path: Path) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / "card.pub.pem"
    path.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return path


def _console_script() -> str:
    script = shutil.which("eport-center")
    assert script, "the eport-center console script is not installed (pip install -e .)"
    return script


def test_enterprise_operator_issue_and_ca(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "center.db")
    assert main(["init", "--db", db]) == 0
    assert main(["enterprise", "create", "--db", db, "--code", "3301960001", "--name", "杭州测试公司"]) == 0
    assert "created" in capsys.readouterr().out
    assert main(["enterprise", "create", "--db", db, "--code", "3301960001", "--name", "杭州测试公司"]) == 0
    assert "already registered" in capsys.readouterr().out

    out_cert = tmp_path / "certs" / "operator.pem"
    assert (
        main(
            [
                "operator",
                "enroll",
                "--db",
                db,
                "--enterprise",
                "3301960001",
                "--name",
                "张三",
                "--public-key",
                str(_public_key_file(tmp_path)),
                "--card-serial",
                "CARD-7",
                "--out",
                str(out_cert),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert str(out_cert) in printed
    assert main(["ca", "--db", db]) == 0
    ca_pem = capsys.readouterr().out
    ca = x509.load_pem_x509_certificate(ca_pem.encode())
    assert ca_pem in printed
    check_issued_by(x509.load_pem_x509_certificate(out_cert.read_bytes()), ca)

    assert main(["safe", "issue", "--db", db, "--enterprise", "3301960001", "--copies", "3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"forms": ["000000001", "000000002", "000000003"]}
    assert main(["safe", "issue", "--db", db, "--enterprise", "3301960001", "--copies", "2"]) == 0
    assert capsys.readouterr().out.split() == ["000000004", "000000005"]
    with Center.open(db) as center:
        assert (center.form("000000005") or {})["customs_status"] == "unused"


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["enterprise", "create", "--code", "123", "--name", "x"], "ENTERPRISE_CODE_INVALID"),
        (["safe", "issue", "--enterprise", "9999999999", "--copies", "1"], "ENTERPRISE_NOT_FOUND"),
        (["safe", "issue", "--enterprise", "9999999999", "--copies", "0"], "COPIES_INVALID"),
    ],
)
def test_refusals_print_the_code_and_fail(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], code: str
) -> None:
    assert main(["init", "--db", str(tmp_path / "center.db")]) == 0
    capsys.readouterr()
    assert main([*argv, "--db", str(tmp_path / "center.db")]) == 1
    err = capsys.readouterr().err
    assert code in err
    assert "/" in err  # both messages


def test_enroll_with_a_file_that_is_not_a_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "center.db")
    main(["init", "--db", db])
    main(["enterprise", "create", "--db", db, "--code", "3301960001", "--name", "公司"])
    junk = tmp_path / "junk.pem"
    junk.write_text("not a key")
    assert (
        main(
            [
                "operator",
                "enroll",
                "--db",
                db,
                "--enterprise",
                "3301960001",
                "--name",
                "张三",
                "--public-key",
                str(junk),
                "--out",
                str(tmp_path / "o.pem"),
            ]
        )
        == 1
    )
    assert "KEY_INVALID" in capsys.readouterr().err
    assert not (tmp_path / "o.pem").exists()


def test_console_script_help() -> None:
    done = subprocess.run([_console_script(), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    for command in ("init", "serve", "enterprise", "operator", "safe", "customs", "admin", "ports", "simulate", "ca"):
        assert command in done.stdout


def test_serve(tmp_path: Path) -> None:
    assert main(["init", "--db", str(tmp_path / "center.db")]) == 0
    port = free_port()
    server = subprocess.Popen(
        [_console_script(), "serve", "--db", str(tmp_path / "center.db"), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )

    def healthy() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                assert json.load(response)["status"] == "ok"
                return True
        except OSError:
            assert server.poll() is None, server.communicate()
            return False

    try:
        wait_until(healthy, 30, "the server did not come up")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/ports", timeout=5) as response:
            assert {"code": "5300", "name": "深圳海关"} in json.load(response)
    finally:
        server.terminate()
        server.communicate(timeout=30)


def test_serve_refuses_plain_http_off_loopback(tmp_path: Path) -> None:
    assert main(["init", "--db", str(tmp_path / "c.db")]) == 0
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "center.cli",
            "serve",
            "--db",
            str(tmp_path / "c.db"),
            "--host",
            "0.0.0.0",
            "--port",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "loopback" in done.stderr
