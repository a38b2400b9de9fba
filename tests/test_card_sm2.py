"""The card with an SM2 key in slot 9C (vendor algorithm 54, docs/CARDS.md), in process: GENERATE makes it, GENERAL
AUTHENTICATE signs the host's e = SM3(Z ‖ M) and answers r ‖ s, as hex traces and through PivSession; a card that
cannot make SM2 keys refuses and keeps its key; the saved emulated card keeps its SM2 key."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.card.emulated import EmulatedConnection, EmulatedPivCard
from agent.card.errors import ApduError
from agent.card.piv import ALGORITHM_ECCP256, ALGORITHM_SM2, PivSession, encode_tlv, parse_tlvs
from agent.card.piv_admin import DEFAULT_MANAGEMENT_KEY, authenticate
from sync import sm2
from sync.sm2 import Sm2PrivateKey, Sm2PublicKey
from tests.test_card_apdu import SELECT, VERIFY_RIGHT

PIN = "123456"
E = bytes.fromhex("F0B43E94BA45ACCAACE692ED534382EB17E6AB5A19CE7B31F4486FDFC0D28640")  # GB/T 32918.2 A.2's e


def answer(card: EmulatedPivCard, command: str) -> str:
    """The card's answer to a command APDU written as spaced hex, as uppercase hex (data, then SW1 SW2)."""
    return card.process(bytes.fromhex(command)).hex().upper()


def session_on(card: EmulatedPivCard) -> PivSession:
    session = PivSession(EmulatedConnection(card))
    authenticate(session, DEFAULT_MANAGEMENT_KEY)
    session.verify_pin(PIN)
    return session


def test_generate_with_algorithm_54_makes_an_sm2_key_that_signs_r_s() -> None:
    card = EmulatedPivCard(pin=PIN)
    session = session_on(card)
    public = session.generate_key(algorithm=ALGORITHM_SM2)
    assert isinstance(public, Sm2PublicKey) and isinstance(card.key, Sm2PrivateKey)
    message = "一个批次 / one batch".encode()
    digest = sm2.message_digest(public, message)  # the host's part: Z from the card's key, then the message
    signature = session.sign_digest(digest, ALGORITHM_SM2)
    assert len(signature) == 64 and sm2.verify_digest(public, digest, signature)
    assert card.signatures == 1
    with pytest.raises(ApduError) as wrong:  # the key's own algorithm only
        session.sign_digest(digest, ALGORITHM_ECCP256)
    assert wrong.value.sw == 0x6A86


def test_the_sm2_commands_as_hex() -> None:
    key = Sm2PrivateKey(
        bytes.fromhex("3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8"),
        Sm2PublicKey(
            bytes.fromhex(
                "09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020"
                "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13"
            )
        ),
    )
    card = EmulatedPivCard(pin=PIN, key=key)
    assert answer(card, SELECT).endswith("9000") and answer(card, VERIFY_RIGHT) == "9000"
    signed = answer(card, "0087549C26 7C24 8200 8120" + E.hex().upper() + " 00")  # P1 54: the SM2 key
    assert signed.startswith("7C428240") and signed.endswith("9000")  # 7C { 82 40 r ‖ s }
    fields = dict(parse_tlvs(dict(parse_tlvs(bytes.fromhex(signed[:-4])))[0x7C]))
    assert sm2.verify_digest(key.public_key(), E, fields[0x82])
    assert answer(card, "0087119C26 7C24 8200 8120" + E.hex().upper() + " 00") == "6A86"  # P1 11: not this key


def test_a_card_without_sm2_refuses_algorithm_54_and_keeps_its_key() -> None:
    card = EmulatedPivCard(pin=PIN, key_algorithms=(ALGORITHM_ECCP256,))
    kept = card.key
    session = session_on(card)
    with pytest.raises(ApduError) as refused:
        session.generate_key(algorithm=ALGORITHM_SM2)
    assert refused.value.sw == 0x6A80 and card.key is kept
    template = encode_tlv(0xAC, encode_tlv(0x80, bytes([ALGORITHM_SM2])))
    assert answer(card, "0047009C05" + template.hex()) == "6A80" and card.key is kept


def test_the_saved_card_keeps_its_sm2_key(tmp_path: Path) -> None:
    card = EmulatedPivCard(pin=PIN, key=Sm2PrivateKey.generate())
    card.save(tmp_path / "card.json")
    again = EmulatedPivCard.load(tmp_path / "card.json")
    assert isinstance(again.key, Sm2PrivateKey) and again.key.public_key() == card.key.public_key()
    assert again.key_algorithms == card.key_algorithms
