"""The card stack in process: EmulatedPivCard ↔ ApduProtocol ↔ PivSession, as hex in / hex out tables."""

from __future__ import annotations

import hashlib
import json
import logging
import stat
from functools import reduce
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from agent.card.apdu import ApduProtocol, encode_apdu
from agent.card.emulated import EmulatedConnection, EmulatedPivCard, self_signed_certificate
from agent.card.errors import ApduError, CardError, InvalidPinError, PinBlockedError
from agent.card.piv import PivSession, encode_tlv, parse_tlvs
from agent.card.piv_admin import DEFAULT_MANAGEMENT_KEY, authenticate

PIN = "123456"
SERIAL = "00112233445566778899AABBCCDDEEFF"
DIGEST = hashlib.sha256(b"export FX collection batch 2024-05").digest()

# Command APDUs, spelled out in hex as a card trace would show them.
SELECT = "00A4040005 A000000308"
SELECT_ANSWER = "6111 4F06000010000100 7907 4F05A000000308"
VERIFY_RIGHT = "0020008008 313233343536FFFF"
VERIFY_WRONG = "0020008008 393939393939FFFF"
VERIFY_EMPTY = "00200080"
SIGN = "0087119C26 7C24 8200 8120" + DIGEST.hex().upper() + "00"
GET_CHUID = "00CB3FFF05 5C035FC102 00"
GET_CERT = "00CB3FFF05 5C035FC10A 00"
FASCN = "D4E739DA739CED39CE739D836858210842108421C84210C3EB"
CHUID_ANSWER = "533B 3019" + FASCN + "3410" + SERIAL + "3508" + b"20351231".hex().upper() + "3E00 FE00"

Steps = list[tuple[str, str]]

# Mutual authentication with the default 3DES management key; the card's witness is 0001020304050607 (the tests'
# cards count instead of drawing random bytes), our challenge 1122334455667788 (tests/test_card_admin.py has more).
MANAGEMENT_KEY_STEPS = [
    ("0087039B04 7C028000 00", "7C0A 8008 90152A4C1CF42780 9000"),
    ("0087039B16 7C14 8008 0001020304050607 8108 1122334455667788 00", "7C0A 8208 6C5E94DCADD39F1D 9000"),
]


def _hex(spaced: str) -> str:
    """Hex as the tables write it (spaces between fields) → plain uppercase hex."""
    return bytes.fromhex(spaced).hex().upper()


HEX_CASES: dict[str, Steps] = {
    "select PIV by truncated AID": [(SELECT, SELECT_ANSWER + "9000")],
    "select PIV by full AID with Le": [("00A404000BA00000030800001000010000", SELECT_ANSWER + "9000")],
    "select another application": [("00A4040007A0000001510000", "6A82")],
    "PIV command before SELECT": [(VERIFY_EMPTY, "6D00")],
    "verify right PIN, then empty verify says verified": [
        (SELECT, SELECT_ANSWER + "9000"),
        (VERIFY_RIGHT, "9000"),
        (VERIFY_EMPTY, "9000"),
    ],
    "wrong PINs count down, empty verify spends nothing": [
        (SELECT, SELECT_ANSWER + "9000"),
        (VERIFY_EMPTY, "63C3"),
        (VERIFY_WRONG, "63C2"),
        (VERIFY_EMPTY, "63C2"),
        (VERIFY_WRONG, "63C1"),
    ],
    "right PIN resets the counter": [
        (SELECT, SELECT_ANSWER + "9000"),
        (VERIFY_WRONG, "63C2"),
        (VERIFY_RIGHT, "9000"),
        ("0020FF80", "9000"),  # P1=FF: forget the verified state
        (VERIFY_EMPTY, "63C3"),
    ],
    "third wrong PIN blocks, right PIN then refused": [
        (SELECT, SELECT_ANSWER + "9000"),
        (VERIFY_WRONG, "63C2"),
        (VERIFY_WRONG, "63C1"),
        (VERIFY_WRONG, "63C0"),
        (VERIFY_RIGHT, "6983"),
        (VERIFY_EMPTY, "6983"),
    ],
    "PIN of wrong length spends no try": [
        (SELECT, SELECT_ANSWER + "9000"),
        ("0020008006313233343536", "6A80"),
        (VERIFY_EMPTY, "63C3"),
    ],
    "VERIFY of another key reference": [(SELECT, SELECT_ANSWER + "9000"), ("00200081", "6A88")],
    "sign without PIN": [(SELECT, SELECT_ANSWER + "9000"), (SIGN, "6982")],
    "sign with wrong slot": [(SELECT, SELECT_ANSWER + "9000"), (VERIFY_RIGHT, "9000"), ("0087119A" + SIGN[8:], "6A86")],
    "sign with a digest of the wrong size": [
        (SELECT, SELECT_ANSWER + "9000"),
        (VERIFY_RIGHT, "9000"),
        ("0087119C08 7C06 8200 81020102", "6A80"),
    ],
    "CHUID carries the serial as GUID": [(SELECT, SELECT_ANSWER + "9000"), (GET_CHUID, CHUID_ANSWER + "9000")],
    "no certificate yet": [(SELECT, SELECT_ANSWER + "9000"), (GET_CERT, "6A82")],
    "unknown data object": [(SELECT, SELECT_ANSWER + "9000"), ("00CB3FFF055C035FC10500", "6A82")],
    "PUT DATA without the management key, PIN or not": [
        (SELECT, SELECT_ANSWER + "9000"),
        ("00DB3FFF09 5C035FC10A 5300 FE00", "6982"),
        (VERIFY_RIGHT, "9000"),
        ("00DB3FFF09 5C035FC10A 5300 FE00", "6982"),
    ],
    "GENERATE without the management key, PIN or not": [
        (SELECT, SELECT_ANSWER + "9000"),
        ("0047009C05 AC03800111 00", "6982"),
        (VERIFY_RIGHT, "9000"),
        ("0047009C05 AC03800111 00", "6982"),
    ],
    "GENERATE for RSA refused": [
        (SELECT, SELECT_ANSWER + "9000"),
        *MANAGEMENT_KEY_STEPS,
        ("0047009C05 AC03800107 00", "6A80"),
    ],
    "unknown instruction": [(SELECT, SELECT_ANSWER + "9000"), ("00FD0000", "6D00")],
    "proprietary class": [("80A4040005A000000308", "6E00")],
    "GET RESPONSE with nothing pending": [(SELECT, SELECT_ANSWER + "9000"), ("00C0000000", "6985")],
    "chain broken by another instruction": [
        (SELECT, SELECT_ANSWER + "9000"),
        ("10DB3FFF03 5C035F", "9000"),
        (GET_CHUID, "6883"),
        (GET_CHUID, CHUID_ANSWER + "9000"),  # the broken chain is forgotten
    ],
    "APDU too short": [("00A4", "6700")],
    "Lc longer than the data": [("00A4040005A0000003", "6700")],
}


def _card(
    key: ec.EllipticCurvePrivateKey | None = None, certificate: x509.Certificate | None = None
) -> EmulatedPivCard:
    return EmulatedPivCard(pin=PIN, key=key, certificate=certificate, serial=SERIAL, random=lambda n: bytes(range(n)))


@pytest.mark.parametrize("steps", HEX_CASES.values(), ids=HEX_CASES.keys())
def test_card_hex_trace(steps: Steps) -> None:
    card = _card()
    for command, expected in steps:
        assert card.process(bytes.fromhex(command)).hex().upper() == _hex(expected), command


def test_atr_check_byte_is_valid() -> None:
    # TCK is present because T=1 is offered; XOR of T0 .. TCK must be zero.
    atr = _card().atr
    assert atr[0] == 0x3B
    assert reduce(lambda a, b: a ^ b, atr[1:]) == 0
    assert len(atr) == 4 + (atr[1] & 0x0F) + 1


# --- session over the in-process connection ------------------------------------------------------------------


class RecordingConnection(EmulatedConnection):
    """EmulatedConnection that keeps every command APDU, to show which chaining took place."""

    def __init__(self, card: EmulatedPivCard) -> None:
        super().__init__(card)
        self.sent: list[bytes] = []
        self.sws: list[int] = []

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        self.sent.append(apdu)
        data, sw = super().transmit(apdu)
        self.sws.append(sw)
        return data, sw


def _session(card: EmulatedPivCard) -> tuple[PivSession, RecordingConnection]:
    connection = RecordingConnection(card)
    return PivSession(connection), connection


def _verifies(public_key: ec.EllipticCurvePublicKey, signature: bytes, digest: bytes = DIGEST) -> bool:
    try:
        public_key.verify(signature, digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    except InvalidSignature:
        return False
    return True


@pytest.fixture
def card_with_cert() -> EmulatedPivCard:
    key = ec.generate_private_key(ec.SECP256R1())
    return _card(key=key, certificate=self_signed_certificate(key))


def test_session_selects_on_start() -> None:
    _, connection = _session(_card())
    assert connection.sent == [bytes.fromhex(SELECT + "00")]


def test_verify_pin_right() -> None:
    card = _card()
    session, _ = _session(card)
    session.verify_pin(PIN)
    assert card.verified
    assert session.pin_tries_left() is None


def test_wrong_pin_tries_left_then_blocked() -> None:
    card = _card()
    session, _ = _session(card)
    with pytest.raises(InvalidPinError) as first:
        session.verify_pin("999999")
    assert first.value.tries_left == 2
    assert card.verify_attempts == 1  # one call, one VERIFY: never retried
    with pytest.raises(InvalidPinError) as second:
        session.verify_pin("999999")
    assert second.value.tries_left == 1
    with pytest.raises(PinBlockedError):
        session.verify_pin("999999")
    with pytest.raises(PinBlockedError):
        session.verify_pin(PIN)
    assert card.verify_attempts == 4
    assert session.pin_tries_left() == 0


def test_pin_errors_read_well_and_hide_the_pin(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    session, _ = _session(_card())
    with pytest.raises(InvalidPinError) as error:
        session.verify_pin("24681357")
    assert error.value.sw == 0x63C2
    assert str(error.value) == "Wrong PIN: 2 tries left before the card locks."
    assert "24681357" not in caplog.text
    assert "24681357" not in repr(error.value)


@pytest.mark.parametrize("bad_pin", ["12345", "123456789", "12345a", "１２３４５６", ""])
def test_malformed_pin_is_refused_before_the_card(bad_pin: str) -> None:
    card = _card()
    session, _ = _session(card)
    with pytest.raises(ValueError, match="6 to 8 digits"):
        session.verify_pin(bad_pin)
    assert card.verify_attempts == 0
    assert card.tries_left == 3


def test_empty_verify_reports_without_spending() -> None:
    card = _card()
    session, connection = _session(card)
    assert session.pin_tries_left() == 3
    assert connection.sent[-1] == bytes.fromhex(VERIFY_EMPTY)
    with pytest.raises(InvalidPinError):
        session.verify_pin("000000")
    assert session.pin_tries_left() == 2
    assert session.pin_tries_left() == 2
    assert card.verify_attempts == 1


def test_sign_without_pin_is_refused(card_with_cert: EmulatedPivCard) -> None:
    session, _ = _session(card_with_cert)
    with pytest.raises(ApduError) as error:
        session.sign_digest(DIGEST)
    assert error.value.sw == 0x6982
    assert str(error.value) == "6982 security status not satisfied"
    assert card_with_cert.signatures == 0


def test_sign_verifies_with_the_certificate(card_with_cert: EmulatedPivCard) -> None:
    session, connection = _session(card_with_cert)
    session.verify_pin(PIN)
    signature = session.sign_digest(DIGEST)
    public_key = session.get_certificate().public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    assert _verifies(public_key, signature)
    assert not _verifies(public_key, signature, hashlib.sha256(b"another batch").digest())
    assert card_with_cert.signatures == 1
    assert connection.sent[2] == bytes.fromhex(SIGN)


def test_sign_rejects_a_digest_of_the_wrong_size(card_with_cert: EmulatedPivCard) -> None:
    session, _ = _session(card_with_cert)
    session.verify_pin(PIN)
    with pytest.raises(ValueError):
        session.sign_digest(b"\x00" * 20)


def test_reset_and_close_end_the_verified_state(card_with_cert: EmulatedPivCard) -> None:
    session, connection = _session(card_with_cert)
    session.verify_pin(PIN)
    card_with_cert.reset()
    with pytest.raises(ApduError):  # reset also deselects PIV: a new session is needed
        session.sign_digest(DIGEST)
    session = PivSession(connection)
    with pytest.raises(ApduError) as error:
        session.sign_digest(DIGEST)
    assert error.value.sw == 0x6982
    session.verify_pin(PIN)
    connection.close()
    assert not card_with_cert.verified
    with pytest.raises(CardError):
        connection.transmit(bytes.fromhex(SELECT))


def test_certificate_round_trip_uses_both_chainings() -> None:
    card = _card()
    session, connection = _session(card)
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = self_signed_certificate(key, common_name="深圳市某某进出口有限公司 signing key")
    assert len(certificate.public_bytes(serialization.Encoding.DER)) > 256
    authenticate(session, DEFAULT_MANAGEMENT_KEY)

    session.put_certificate(certificate)
    put = [apdu for apdu in connection.sent if apdu[1] == 0xDB]
    assert len(put) >= 2
    assert [apdu[0] for apdu in put] == [0x10] * (len(put) - 1) + [0x00]  # command chaining: CLA 10 ... 10 00
    assert all(apdu[4] == 255 for apdu in put[:-1])
    assert card.certificate == certificate

    assert session.get_certificate() == certificate
    assert connection.sws[-2] >> 8 == 0x61  # the card answered 61xx ...
    assert connection.sent[-1][:4] == bytes.fromhex("00C00000")  # ... and we fetched the rest


def test_generate_key_replaces_key_and_clears_certificate(card_with_cert: EmulatedPivCard) -> None:
    old_public = card_with_cert.key.public_key()
    session, _ = _session(card_with_cert)
    authenticate(session, DEFAULT_MANAGEMENT_KEY)
    session.verify_pin(PIN)  # to sign with the new key below
    new_public = session.generate_key()
    assert new_public != old_public
    assert new_public == card_with_cert.key.public_key()
    with pytest.raises(ApduError) as error:
        session.get_certificate()
    assert error.value.sw == 0x6A82
    assert _verifies(new_public, session.sign_digest(DIGEST))


def test_serial_is_the_chuid_guid() -> None:
    session, _ = _session(_card())
    assert session.get_serial() == SERIAL
    # Without a given serial every card gets its own random GUID.
    first, second = EmulatedPivCard().serial, EmulatedPivCard().serial
    assert first != second
    assert PivSession(EmulatedConnection(EmulatedPivCard(serial=first.lower()))).get_serial() == first


def test_unknown_instruction_raises_6d00() -> None:
    protocol = ApduProtocol(EmulatedConnection(_card()))
    protocol.send(0x00, 0xA4, 0x04, 0x00, bytes.fromhex("A000000308"))
    with pytest.raises(ApduError) as error:
        protocol.send(0x00, 0xFD, 0x00, 0x00)
    assert error.value.sw == 0x6D00
    assert str(error.value) == "6D00 instruction not supported"


# --- persistence ----------------------------------------------------------------------------------------------


def test_save_and_load_keep_the_card(tmp_path: Path, card_with_cert: EmulatedPivCard) -> None:
    card_with_cert.process(bytes.fromhex(SELECT))
    card_with_cert.process(bytes.fromhex(VERIFY_WRONG))
    path = tmp_path / "card.json"
    card_with_cert.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "NOT FOR PRODUCTION" in json.loads(path.read_text())["warning"]

    loaded = EmulatedPivCard.load(path)
    assert loaded.serial == SERIAL
    assert loaded.tries_left == 2
    assert loaded.certificate == card_with_cert.certificate
    session, _ = _session(loaded)
    session.verify_pin(PIN)
    certificate = card_with_cert.certificate
    assert certificate is not None
    public_key = certificate.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    assert _verifies(public_key, session.sign_digest(DIGEST))


# --- APDU layer against scripted answers ----------------------------------------------------------------------


class ScriptedConnection:
    """Answers from a script of (expected command hex, response hex incl. SW); fails on any other command."""

    def __init__(self, script: list[tuple[str, str]]) -> None:
        self.script = list(script)

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        assert self.script, f"unexpected extra APDU {apdu.hex().upper()}"
        expected, response = self.script.pop(0)
        assert apdu.hex().upper() == _hex(expected)
        raw = bytes.fromhex(response)
        return raw[:-2], int.from_bytes(raw[-2:], "big")

    def close(self) -> None:
        pass


GET_DATA_CERT = (0x00, 0xCB, 0x3F, 0xFF, bytes.fromhex("5C035FC10A"), 256)
CHAINING_CASES: dict[str, tuple[tuple[int, int, int, int, bytes, int], list[tuple[str, str]], str | int]] = {
    "single answer": (GET_DATA_CERT, [(GET_CERT, "AABB9000")], "AABB"),
    "61xx fetched with GET RESPONSE": (
        GET_DATA_CERT,
        [(GET_CERT, "AABB6103"), ("00C0000003", "CCDDEE9000")],
        "AABBCCDDEE",
    ),
    "6100 means 256 more": (
        GET_DATA_CERT,
        [(GET_CERT, "01" * 256 + "6100"), ("00C0000000", "02" * 256 + "6101"), ("00C0000001", "039000")],
        "01" * 256 + "02" * 256 + "03",
    ),
    "error after chaining": (GET_DATA_CERT, [(GET_CERT, "AA6102"), ("00C0000002", "6F00")], 0x6F00),
    "255 bytes need no chaining": (
        (0x00, 0xDB, 0x3F, 0xFF, b"\x11" * 255, 0),
        [("00DB3FFFFF" + "11" * 255, "9000")],
        "",
    ),
    "600 bytes go in 255 + 255 + 90": (
        (0x00, 0xDB, 0x3F, 0xFF, b"\x11" * 600, 0),
        [("10DB3FFFFF" + "11" * 255, "9000"), ("10DB3FFFFF" + "11" * 255, "9000"), ("00DB3FFF5A" + "11" * 90, "9000")],
        "",
    ),
    "refused chain link stops the chain": (
        (0x00, 0xDB, 0x3F, 0xFF, b"\x11" * 300, 0),
        [("10DB3FFFFF" + "11" * 255, "6A80")],
        0x6A80,
    ),
}


@pytest.mark.parametrize(("command", "script", "expected"), CHAINING_CASES.values(), ids=CHAINING_CASES.keys())
def test_apdu_chaining(
    command: tuple[int, int, int, int, bytes, int], script: list[tuple[str, str]], expected: str | int
) -> None:
    connection = ScriptedConnection(script)
    protocol = ApduProtocol(connection)
    if isinstance(expected, int):
        with pytest.raises(ApduError) as error:
            protocol.send(*command)
        assert error.value.sw == expected
    else:
        assert protocol.send(*command).hex().upper() == expected
    assert connection.script == []


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ((0x00, 0x20, 0x00, 0x80, b"", 0), "00200080"),
        ((0x00, 0xCB, 0x3F, 0xFF, b"", 256), "00CB3FFF00"),
        ((0x00, 0xCB, 0x3F, 0xFF, b"\x5c", 16), "00CB3FFF015C10"),
    ],
)
def test_encode_apdu(arguments: tuple[int, int, int, int, bytes, int], expected: str) -> None:
    assert encode_apdu(*arguments).hex().upper() == expected


def test_encode_apdu_refuses_extended_lengths() -> None:
    with pytest.raises(ValueError):
        encode_apdu(0x00, 0xDB, 0x3F, 0xFF, b"\x00" * 256)
    with pytest.raises(ValueError):
        encode_apdu(0x00, 0xCB, 0x3F, 0xFF, le=257)


# --- BER-TLV ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "value", "encoded"),
    [
        (0x82, b"", "8200"),
        (0x70, b"\xaa" * 0x7F, "707F" + "AA" * 0x7F),
        (0x70, b"\xaa" * 0x80, "708180" + "AA" * 0x80),
        (0x53, b"\xaa" * 0x1DE, "538201DE" + "AA" * 0x1DE),
        (0x7F49, b"\x01", "7F490101"),
        (0x5FC10A, b"\x01\x02", "5FC10A020102"),
    ],
)
def test_tlv_round_trip(tag: int, value: bytes, encoded: str) -> None:
    assert encode_tlv(tag, value).hex().upper() == encoded
    assert parse_tlvs(bytes.fromhex(encoded) * 2) == [(tag, value), (tag, value)]


@pytest.mark.parametrize("malformed", ["70", "7003AABB", "708301000000", "5F", "5FC1", "7F8080800100"])
def test_tlv_malformed(malformed: str) -> None:
    with pytest.raises(ValueError):
        parse_tlvs(bytes.fromhex(malformed))


def test_malformed_card_answer_is_a_card_error() -> None:
    connection = ScriptedConnection([(SELECT + "00", "9000"), (GET_CHUID, "5303 3401AA 9000")])
    session = PivSession(connection)
    with pytest.raises(CardError):
        session.get_serial()
