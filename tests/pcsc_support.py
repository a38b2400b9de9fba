"""Fixtures for tests through the real PC/SC stack: pyscard → pcscd → vpcd driver → emulated card.

Load as a pytest plugin (``pytest_plugins = ["tests.pcsc_support"]`` or ``-p tests.pcsc_support``). Fixtures:

- ``pcscd`` (session): uses the running daemon when its socket answers, else starts ``pcscd --foreground --error``
  and stops it at the end of the session.
- ``vpcd_card`` (function): ``(card, vpcd, reader)`` — a fresh :class:`EmulatedPivCard` with a self-signed P-256
  certificate, inserted into reader 0 and seen by pcscd; removed (and seen gone) afterwards.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from agent.card.emulated import EmulatedPivCard, self_signed_certificate
from agent.card.errors import CardError
from agent.card.pcsc import list_readers, readers_with_card
from agent.card.vpcd import VPCD_PORT, VpcdCard
from tests.center_support import wait_until

PCSCD_SOCKET = "/run/pcscd/pcscd.comm"
VPCD_READER_0 = "Virtual PCD 00 00"
CARD_PIN = "123456"


def pcscd_answers(path: str = PCSCD_SOCKET) -> bool:
    """True when something accepts connections on pcscd's socket."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        try:
            sock.connect(path)
        except OSError:
            return False
    return True


def reader_named(fragment: str) -> str:
    """The full name of the first reader whose name contains ``fragment``."""
    for reader in list_readers():
        if fragment in reader:
            return reader
    raise LookupError(f"no reader like {fragment!r} in {list_readers()!r}")


def card_seen(reader: str) -> bool:
    try:
        return reader in readers_with_card()
    except CardError:
        return False


@pytest.fixture(scope="session")
def pcscd() -> Iterator[subprocess.Popen[bytes] | None]:
    """A running pcscd; yields our Popen when we started it, None when one was already running."""
    if pcscd_answers():
        yield None
        return
    executable = shutil.which("pcscd")
    if executable is None:
        pytest.skip("pcscd is not installed")
    process = subprocess.Popen([executable, "--foreground", "--error"])
    try:
        wait_until(lambda: process.poll() is not None or pcscd_answers(), 5, "pcscd did not open its socket")
        if process.poll() is not None:
            pytest.fail(f"pcscd exited at start with code {process.returncode}")
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def vpcd_card(pcscd: subprocess.Popen[bytes] | None) -> Iterator[tuple[EmulatedPivCard, VpcdCard, str]]:
    """A fresh emulated card (PIN 123456, self-signed certificate) in reader "Virtual PCD 00 00"."""
    reader = reader_named(VPCD_READER_0)
    if card_seen(reader):
        pytest.fail(f"{reader!r} already holds a card: another emulated card is connected to port {VPCD_PORT}")
    key = ec.generate_private_key(ec.SECP256R1())
    card = EmulatedPivCard(pin=CARD_PIN, key=key, certificate=self_signed_certificate(key))
    vpcd = VpcdCard(card, port=VPCD_PORT)
    vpcd.insert()
    try:
        wait_until(lambda: card_seen(reader), 3, f"pcscd did not see the emulated card in {reader!r}")
        yield card, vpcd, reader
    finally:
        vpcd.remove()
        # The next test must start from an empty reader, so wait for pcscd to notice the removal.
        wait_until(lambda: not card_seen(reader), 3, f"pcscd went on reporting the removed card in {reader!r}")
