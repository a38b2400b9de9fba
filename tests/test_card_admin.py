"""Administering the card as a real PIV card wants it: the 9B card management key (mutual authentication with
witness and challenge, or the host's challenge-response; 3DES and AES), Yubico's GET METADATA, CHANGE REFERENCE
DATA of PIN and PUK, and naming the kind of card. The emulated card enforces it all, so the host side below is the
code that meets a real card. Hex in, hex out as a card trace shows it; the tests' cards draw "random" witnesses and
challenges as 00 01 02 ..."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from agent.card.apdu import Connection
from agent.card.emulated import EmulatedConnection, EmulatedPivCard, self_signed_certificate
from agent.card.errors import (
    ApduError,
    CardError,
    InvalidPinError,
    ManagementKeyError,
    PinBlockedError,
    PukBlockedError,
    WrongPukError,
)
from agent.card.piv import PivSession
from agent.card.piv_admin import (
    ALGORITHM_3DES,
    ALGORITHM_AES128,
    ALGORITHM_AES192,
    ALGORITHM_AES256,
    ALGORITHMS,
    DEFAULT_MANAGEMENT_KEY,
    ManagementKeyInfo,
    authenticate,
    card_type,
    change_pin,
    change_puk,
    management_key_info,
    parse_management_key,
)
from agent.card_identity import enroll_card
from tests.test_card_apdu import SELECT, SELECT_ANSWER, VERIFY_EMPTY, VERIFY_RIGHT, Steps, _hex

PIN = "123456"
PUT_EMPTY_CERT = "00DB3FFF07 5C035FC10A 5300"  # PUT DATA of an empty 9C certificate object: needs the management key
WITNESS_3DES = "0087039B04 7C028000 00"
MUTUAL_3DES = "0087039B16 7C14 8008 0001020304050607 8108 1122334455667788 00"
CUSTOM_AES128 = bytes.fromhex("00112233445566778899AABBCCDDEEFF")
AES_PLAIN = "00112233445566778899AABBCCDDEEFF"
AES192_CIPHER = "DDA97CA4864CDFE06EAF70A0EC0D7191"


def counting(size: int) -> bytes:
    return bytes(range(size))


def card(**options: object) -> EmulatedPivCard:
    return EmulatedPivCard(pin=PIN, random=counting, **options)  # type: ignore[arg-type]


CASES: dict[str, tuple[dict[str, object], Steps]] = {
    "3DES mutual: the card's witness, then our challenge encrypted back": (
        {},
        [
            (SELECT, SELECT_ANSWER + "9000"),
            (PUT_EMPTY_CERT, "6982"),
            (WITNESS_3DES, "7C0A 8008 90152A4C1CF42780 9000"),
            (MUTUAL_3DES, "7C0A 8208 6C5E94DCADD39F1D 9000"),
            (PUT_EMPTY_CERT, "9000"),
        ],
    ),
    "3DES challenge-response: the host alone proves the key": (
        {},
        [
            (SELECT, SELECT_ANSWER + "9000"),
            ("0087039B04 7C028100 00", "7C0A 8108 0001020304050607 9000"),
            ("0087039B0C 7C0A 8208 90152A4C1CF42780", "9000"),
            (PUT_EMPTY_CERT, "9000"),
        ],
    ),
    "a wrong witness is refused and unlocks nothing": (
        {},
        [
            (SELECT, SELECT_ANSWER + "9000"),
            (WITNESS_3DES, "7C0A 8008 90152A4C1CF42780 9000"),
            ("0087039B16 7C14 8008 FFFFFFFFFFFFFFFF 8108 1122334455667788 00", "6982"),
            (PUT_EMPTY_CERT, "6982"),
            (MUTUAL_3DES, "6A80"),  # the witness was used up: a second try starts over
        ],
    ),
    "an answer without a witness asked for": ({}, [(SELECT, SELECT_ANSWER + "9000"), (MUTUAL_3DES, "6A80")]),
    "a key of another algorithm is refused before any key is tried": (
        {},
        [(SELECT, SELECT_ANSWER + "9000"), ("00870A9B04 7C028000 00", "6A86")],
    ),
    "AES-192 (YubiKey 5.7 and later) with the default key": (
        {"management_algorithm": ALGORITHM_AES192},
        [
            (SELECT, SELECT_ANSWER + "9000"),
            (WITNESS_3DES, "6A86"),
            ("00870A9B04 7C028000 00", "7C12 8010 3F92E2FCE73F9D83187C140D035F7EDC 9000"),
            (
                "00870A9B26 7C24 8010 000102030405060708090A0B0C0D0E0F 8110 112233445566778899AABBCCDDEEFF00 00",
                "7C12 8210 E2681915416E89A2FEDBD0779E9247F4 9000",
            ),
            (PUT_EMPTY_CERT, "9000"),
        ],
    ),
    "power off forgets the management key": (
        {},
        [
            (SELECT, SELECT_ANSWER + "9000"),
            (WITNESS_3DES, "7C0A 8008 90152A4C1CF42780 9000"),
            (MUTUAL_3DES, "7C0A 8208 6C5E94DCADD39F1D 9000"),
            ("reset", ""),
            (SELECT, SELECT_ANSWER + "9000"),
            (PUT_EMPTY_CERT, "6982"),
        ],
    ),
    "GET METADATA of the management key: 3DES, touch never, still the default": (
        {},
        [(SELECT, SELECT_ANSWER + "9000"), ("00F7009B00", "010103 02020001 050101 9000")],
    ),
    "GET METADATA of PIN and PUK: default, tries": (
        {},
        [
            (SELECT, SELECT_ANSWER + "9000"),
            ("00F7008000", "0101FF 050101 06020303 9000"),
            ("00F7008100", "0101FF 050101 06020303 9000"),
        ],
    ),
    "a plain PIV card has no GET METADATA": (
        {"metadata": False},
        [(SELECT, SELECT_ANSWER + "9000"), ("00F7009B00", "6D00")],
    ),
    "CHANGE REFERENCE DATA of the PIN": (
        {},
        [
            (SELECT, SELECT_ANSWER + "9000"),
            ("0024008010 313233343536FFFF 363534333231FFFF", "9000"),
            (VERIFY_RIGHT, "63C2"),  # the old PIN is wrong now
            ("0020008008 363534333231FFFF", "9000"),
        ],
    ),
    "a wrong current PIN counts down and changes nothing": (
        {},
        [
            (SELECT, SELECT_ANSWER + "9000"),
            ("0024008010 393939393939FFFF 363534333231FFFF", "63C2"),
            (VERIFY_EMPTY, "63C2"),
            (VERIFY_RIGHT, "9000"),
        ],
    ),
    "a new PIN of letters is refused, no try spent": (
        {},
        [
            (SELECT, SELECT_ANSWER + "9000"),
            ("0024008010 313233343536FFFF 616263646566FFFF", "6A80"),
            (VERIFY_EMPTY, "63C3"),
        ],
    ),
    "CHANGE REFERENCE DATA of the PUK, wrong then right": (
        {},
        [
            (SELECT, SELECT_ANSWER + "9000"),
            ("0024008110 3939393939393939 3837363534333231", "63C2"),
            ("0024008110 3132333435363738 3837363534333231", "9000"),
            ("0024008110 3132333435363738 3837363534333231", "63C2"),  # the old PUK is wrong now
        ],
    ),
}


@pytest.mark.parametrize(("options", "steps"), CASES.values(), ids=CASES.keys())
def test_card_hex_trace(options: dict[str, object], steps: Steps) -> None:
    emulated = card(**options)
    for command, expected in steps:
        if command == "reset":
            emulated.reset()
            continue
        assert emulated.process(bytes.fromhex(command)).hex().upper() == _hex(expected), command


@pytest.mark.parametrize(
    ("algorithm", "key", "plain", "cipher"),
    [
        # DES's classic "Now is t" vector: 3DES with three equal keys is single DES.
        (ALGORITHM_3DES, "0123456789ABCDEF" * 3, "4E6F772069732074", "3FA40E8A984D4815"),
        # FIPS-197, appendix C.
        (ALGORITHM_AES128, "000102030405060708090A0B0C0D0E0F", AES_PLAIN, "69C4E0D86A7B0430D8CDB78070B4C55A"),
        (ALGORITHM_AES192, "000102030405060708090A0B0C0D0E0F1011121314151617", AES_PLAIN, AES192_CIPHER),
        (ALGORITHM_AES256, bytes(range(32)).hex(), AES_PLAIN, "8EA2B7CA516745BFEAFC49904B496089"),
    ],
    ids=["3DES", "AES-128", "AES-192", "AES-256"],
)
def test_block_ciphers_against_published_vectors(algorithm: int, key: str, plain: str, cipher: str) -> None:
    """The hex traces above are only as good as the cipher: checked here against the standards' own vectors."""
    used = ALGORITHMS[algorithm]
    assert used.encrypt(bytes.fromhex(key), bytes.fromhex(plain)).hex().upper() == cipher
    assert used.decrypt(bytes.fromhex(key), bytes.fromhex(cipher)).hex().upper() == plain


# --- the host side over the in-process connection ------------------------------------------------------------


def session_on(emulated: EmulatedPivCard) -> PivSession:
    return PivSession(EmulatedConnection(emulated))


@pytest.mark.parametrize(
    ("algorithm", "key", "metadata"),
    [
        (ALGORITHM_3DES, DEFAULT_MANAGEMENT_KEY, True),
        (ALGORITHM_AES192, DEFAULT_MANAGEMENT_KEY, True),
        (ALGORITHM_AES192, DEFAULT_MANAGEMENT_KEY, False),  # found by the card's 6A86 to a 3DES witness request
        (ALGORITHM_AES128, CUSTOM_AES128, False),
        (ALGORITHM_AES256, bytes(range(32)), True),
    ],
    ids=["3DES", "AES-192", "AES-192 without metadata", "AES-128", "AES-256"],
)
def test_authenticate_then_the_card_writes(algorithm: int, key: bytes, metadata: bool) -> None:
    emulated = EmulatedPivCard(pin=PIN, management_key=key, management_algorithm=algorithm, metadata=metadata)
    session = session_on(emulated)
    info = management_key_info(session)
    assert info.algorithm == (algorithm if metadata else None)
    assert authenticate(session, key, info.algorithm).ident == algorithm
    assert emulated.admin_authenticated and emulated.admin_attempts == 1
    public_key = session.generate_key()
    assert public_key == emulated.key.public_key()


def test_a_wrong_management_key_is_refused_once_and_never_retried() -> None:
    emulated = card()
    session = session_on(emulated)
    with pytest.raises(ManagementKeyError) as refused:
        authenticate(session, bytes(24))
    assert refused.value.sw == 0x6982
    assert str(refused.value).startswith("卡拒绝了管理密钥") and "nothing is retried" in str(refused.value)
    assert emulated.admin_attempts == 1 and not emulated.admin_authenticated
    with pytest.raises(ApduError) as still:
        session.generate_key()
    assert still.value.sw == 0x6982


def test_a_key_of_a_length_no_algorithm_has_is_refused_before_the_card_is_asked() -> None:
    emulated = card()
    with pytest.raises(ValueError):
        authenticate(session_on(emulated), bytes(20))
    assert emulated.admin_attempts == 0


class Tampering:
    """A card whose answer to our challenge is off by one bit: it does not know the key it claims."""

    def __init__(self, emulated: EmulatedPivCard) -> None:
        self.inner = EmulatedConnection(emulated)

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        data, sw = self.inner.transmit(apdu)
        if apdu[1] == 0x87 and data[2:3] == b"\x82":
            data = data[:-1] + bytes([data[-1] ^ 1])
        return data, sw

    def close(self) -> None:
        self.inner.close()


def test_a_card_that_does_not_prove_the_key_is_not_trusted() -> None:
    connection: Connection = Tampering(card())
    with pytest.raises(CardError) as refused:
        authenticate(PivSession(connection), DEFAULT_MANAGEMENT_KEY)
    assert "did not prove" in str(refused.value)


def test_metadata_says_whether_the_key_is_still_the_default() -> None:
    assert management_key_info(session_on(card())) == ManagementKeyInfo(ALGORITHM_3DES, True)
    changed = card(management_key=bytes(range(24)))
    assert management_key_info(session_on(changed)) == ManagementKeyInfo(ALGORITHM_3DES, False)
    assert management_key_info(session_on(card(metadata=False))) == ManagementKeyInfo(None, None)


def test_enrollment_stops_at_a_wrong_management_key_with_the_card_as_it_was() -> None:
    emulated = card()
    key_before, certificate_before = emulated.key, emulated.certificate
    asked: list[ManagementKeyInfo] = []

    def certify(*_: object) -> x509.Certificate:
        raise AssertionError("nothing may be certified")

    def wrong_key(info: ManagementKeyInfo) -> bytes:
        asked.append(info)
        return bytes(24)

    with pytest.raises(ManagementKeyError):
        enroll_card(EmulatedConnection(emulated), PIN, certify, wrong_key)
    assert asked == [ManagementKeyInfo(ALGORITHM_3DES, True)]  # asked once, with what the card tells
    assert emulated.verify_attempts == 0  # the PIN was not even presented
    assert (emulated.key, emulated.certificate) == (key_before, certificate_before)


@pytest.mark.parametrize(
    ("typed", "key"),
    [
        ("010203040506070801020304050607080102030405060708", DEFAULT_MANAGEMENT_KEY),
        ("01:02:03:04:05:06:07:08 01-02-03-04-05-06-07-08 0102030405060708", DEFAULT_MANAGEMENT_KEY),
        ("00112233445566778899aabbccddeeff", CUSTOM_AES128),
    ],
)
def test_management_key_as_typed(typed: str, key: bytes) -> None:
    assert parse_management_key(typed) == key


@pytest.mark.parametrize("typed", ["", "0102", "zz" * 24, "0" * 47, "01" * 20])
def test_management_key_typos_are_refused(typed: str) -> None:
    with pytest.raises(ValueError) as refused:
        parse_management_key(typed)
    assert " / " in str(refused.value)  # Chinese, then English
    assert not typed or typed not in str(refused.value)  # the key itself is never repeated: messages reach logs


def test_change_pin_once_with_the_tries_left() -> None:
    emulated = card()
    session = session_on(emulated)
    with pytest.raises(InvalidPinError) as wrong:
        change_pin(session, "999999", "654321")
    assert wrong.value.tries_left == 2 and emulated.reference_changes == 1  # one command: never retried
    change_pin(session, PIN, "654321")
    assert emulated.pin == "654321" and emulated.tries_left == 3
    with pytest.raises(ValueError):
        change_pin(session, "654321", "12345")  # too short: refused here, the card never sees it
    assert emulated.reference_changes == 2


def test_change_pin_on_a_blocked_card() -> None:
    emulated = card()
    emulated.tries_left = 0
    with pytest.raises(PinBlockedError):
        change_pin(session_on(emulated), PIN, "654321")


def test_change_puk_once_with_the_tries_left_then_blocked() -> None:
    emulated = card()
    session = session_on(emulated)
    with pytest.raises(WrongPukError) as wrong:
        change_puk(session, "99999999", "87654321")
    assert wrong.value.tries_left == 2 and str(wrong.value).startswith("PUK不正确")
    change_puk(session, "12345678", "87654321")
    assert emulated.puk == "87654321"
    emulated.puk_tries_left = 0
    with pytest.raises(PukBlockedError):
        change_puk(session, "87654321", "11223344")


class Yubikey:
    """Answers GET VERSION as a YubiKey 5.4.3 does; everything else as the emulated card. Keeps what was sent."""

    def __init__(self, yubikey: bool = True) -> None:
        self.inner = EmulatedConnection(card())
        self.yubikey = yubikey
        self.sent: list[str] = []

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        self.sent.append(apdu.hex().upper())
        if self.yubikey and apdu[:4] == bytes.fromhex("00FD0000"):
            return bytes([5, 4, 3]), 0x9000
        return self.inner.transmit(apdu)

    def close(self) -> None:
        self.inner.close()


def test_the_kind_of_card() -> None:
    emulated = card()
    assert card_type(session_on(emulated), emulated.atr).endswith("emulated PIV card (tests and demo only)")
    assert card_type(PivSession(Yubikey()), b"") == "YubiKey 5.4.3 (PIV)"
    assert (
        card_type(session_on(emulated), bytes.fromhex("3B8980014A434F503234")) == "PIV card (ATR 3B8980014A434F503234)"
    )


@pytest.mark.parametrize(
    ("yubikey", "generate"),
    [(True, _hex("0047009C08 AC06 800111 AA0102 00")), (False, _hex("0047009C05 AC03 800111 00"))],
    ids=["YubiKey: PIN policy once", "another PIV card: its own policy"],
)
def test_enrollment_asks_a_yubikey_for_one_pin_entry_per_session(yubikey: bool, generate: str) -> None:
    """A YubiKey's 9C key wants the PIN before every signature unless made with PIN policy "once" (Yubico's tag
    AA in GENERATE); the agent signs every waiting batch after one unlock."""
    connection = Yubikey(yubikey)
    enroll_card(connection, PIN, lambda key, *_: _self_signed(key), lambda _info: DEFAULT_MANAGEMENT_KEY)
    assert [apdu for apdu in connection.sent if apdu.startswith("0047")] == [generate]


def _self_signed(public_key: object) -> x509.Certificate:
    """A stand-in for the center's certificate (the card stores whatever it is given)."""
    return self_signed_certificate(ec.generate_private_key(ec.SECP256R1()))
