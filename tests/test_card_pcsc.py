"""The card stack through the real PC/SC path: PivSession → PcscConnection → pcscd → vpcd driver → emulated card.

Needs pcscd and the vsmartcard-vpcd driver; fixtures come from ``tests.pcsc_support``.
"""

from __future__ import annotations

import hashlib
import statistics
import time

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from agent.card.emulated import EmulatedPivCard
from agent.card.errors import CardRemovedError, InvalidPinError, NoCardError, NoReaderError
from agent.card.pcsc import PcscConnection, list_readers
from agent.card.piv import PivSession
from agent.card.vpcd import VpcdCard
from tests.center_support import wait_until
from tests.pcsc_support import CARD_PIN, VPCD_READER_0, card_seen, reader_named

pytestmark = pytest.mark.pcsc

VpcdFixture = tuple[EmulatedPivCard, VpcdCard, str]
DIGEST = hashlib.sha256(b"export FX collection batch 2024-05").digest()
SELECT = bytes.fromhex("00A4040005A000000308")


def _public_key(session: PivSession) -> ec.EllipticCurvePublicKey:
    public_key = session.get_certificate().public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    return public_key


@pytest.mark.usefixtures("pcscd")
def test_lists_the_virtual_readers() -> None:
    readers = list_readers()
    assert any(VPCD_READER_0 in reader for reader in readers), readers


def test_verify_and_sign_through_pcscd(vpcd_card: VpcdFixture) -> None:
    card, _, reader = vpcd_card
    assert VPCD_READER_0 in reader
    with PcscConnection(reader) as connection:
        session = PivSession(connection)
        assert session.get_serial() == card.serial
        session.verify_pin(CARD_PIN)
        signature = session.sign_digest(DIGEST)
        _public_key(session).verify(signature, DIGEST, ec.ECDSA(Prehashed(hashes.SHA256())))
    assert card.signatures == 1
    assert card.verify_attempts == 1


def test_wrong_pin_sends_exactly_one_verify(vpcd_card: VpcdFixture) -> None:
    card, _, reader = vpcd_card
    with PcscConnection(reader) as connection:
        session = PivSession(connection)
        with pytest.raises(InvalidPinError) as error:
            session.verify_pin("999999")
        assert error.value.tries_left == 2
        assert card.verify_attempts == 1
        with pytest.raises(InvalidPinError) as error:
            session.verify_pin("999999")
        assert error.value.tries_left == 1
        assert card.verify_attempts == 2
        assert session.pin_tries_left() == 1
        assert card.verify_attempts == 2  # asking costs no VERIFY with a PIN
        session.verify_pin(CARD_PIN)
        assert card.verify_attempts == 3
        assert card.tries_left == 3


def test_close_resets_the_card(vpcd_card: VpcdFixture) -> None:
    _, _, reader = vpcd_card
    with PcscConnection(reader) as connection:
        PivSession(connection).verify_pin(CARD_PIN)
    with PcscConnection(reader) as connection:
        assert PivSession(connection).pin_tries_left() == 3  # not None: the PIN did not outlive the connection


def test_removal_kills_the_connection_and_a_new_one_works(vpcd_card: VpcdFixture) -> None:
    card, vpcd, reader = vpcd_card
    old = PcscConnection(reader)
    try:
        PivSession(old).verify_pin(CARD_PIN)
        vpcd.remove()
        wait_until(lambda: not card_seen(reader), 3, "pcscd did not see the card removed")
        with pytest.raises(CardRemovedError):
            old.transmit(SELECT)

        vpcd.insert()
        wait_until(lambda: card_seen(reader), 3, "pcscd did not see the card inserted")
        with pytest.raises(CardRemovedError):  # the old handle stays dead after re-insertion
            old.transmit(SELECT)
    finally:
        old.close()
    with PcscConnection(reader) as new:
        session = PivSession(new)
        assert session.pin_tries_left() == 3  # the removal powered the card off: PIN to enter again
        session.verify_pin(CARD_PIN)
        _public_key(session).verify(session.sign_digest(DIGEST), DIGEST, ec.ECDSA(Prehashed(hashes.SHA256())))
    assert card.signatures == 1


@pytest.mark.usefixtures("pcscd")
def test_empty_reader_and_unknown_reader() -> None:
    empty = reader_named("Virtual PCD 00 01")
    if card_seen(empty):
        pytest.skip(f"{empty!r} holds a card from someone else")
    with pytest.raises(NoCardError):
        PcscConnection(empty)
    with pytest.raises(NoReaderError):
        PcscConnection("No Such Reader 00 00")


def test_verify_and_sign_latency(vpcd_card: VpcdFixture) -> None:
    # Without TCP_QUICKACK each APDU stalls ~40 ms on delayed ACK; this keeps that regression visible.
    _, _, reader = vpcd_card
    with PcscConnection(reader) as connection:
        session = PivSession(connection)
        timings = []
        for _ in range(20):
            start = time.perf_counter()
            session.verify_pin(CARD_PIN)
            session.sign_digest(DIGEST)
            timings.append(time.perf_counter() - start)
    median_ms = statistics.median(timings) * 1000
    print(f"VERIFY + sign through pcscd: median {median_ms:.2f} ms, max {max(timings) * 1000:.2f} ms")
    assert median_ms < 30
