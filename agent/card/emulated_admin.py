"""The emulated card's administration, as a real PIV card does it: the card management key (9B) that GENERATE and PUT
DATA require (GENERAL AUTHENTICATE, mutual with witness and challenge, or the host's challenge-response alone; NIST
SP 800-73-4), CHANGE REFERENCE DATA of the PIN and the PUK, and Yubico's GET METADATA (which a card may leave out).

A mixin of ``emulated_applet.PivApplet``, which holds the PIN state and routes the commands here.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable

from agent.card.emulated_apdu import Answer, status
from agent.card.errors import (
    SW_AUTH_METHOD_BLOCKED,
    SW_INCORRECT_DATA,
    SW_INCORRECT_P1P2,
    SW_INS_NOT_SUPPORTED,
    SW_REFERENCE_NOT_FOUND,
    SW_SECURITY_STATUS_NOT_SATISFIED,
    SW_SUCCESS,
    SW_WRONG_LENGTH,
)
from agent.card.piv import (
    KEY_REF_PIN,
    PIN_LENGTH_PADDED,
    TAG_AUTH_CHALLENGE,
    TAG_AUTH_RESPONSE,
    TAG_AUTH_WITNESS,
    TAG_DYN_AUTH,
    encode_tlv,
    find_tlv,
    parse_tlvs,
)
from agent.card.piv_admin import (
    ALGORITHMS,
    DEFAULT_MANAGEMENT_KEY,
    KEY_REF_MANAGEMENT,
    KEY_REF_PUK,
    TAG_METADATA_ALGORITHM,
    TAG_METADATA_IS_DEFAULT,
    TAG_METADATA_POLICY,
    TAG_METADATA_RETRIES,
)

DEFAULT_PUK = "12345678"
_PIN_ALGORITHM = 0xFF  # GET METADATA names PIN and PUK "algorithm FF"


def _unpad(padded: bytes) -> str | None:
    value = padded.rstrip(b"\xff")
    try:
        text = value.decode("ascii")
    except UnicodeDecodeError:
        return None
    return text if 6 <= len(text) <= PIN_LENGTH_PADDED and text.isprintable() else None


class CardAdministration:
    """Management key, PUK and reference data of one card; its PIN state lives in the applet."""

    # The applet's PIN state, changed by CHANGE REFERENCE DATA.
    pin: str
    max_tries: int
    tries_left: int
    verified: bool

    def _init_administration(
        self,
        management_key: bytes,
        management_algorithm: int,
        puk: str,
        puk_max_tries: int,
        metadata: bool,
        random: Callable[[int], bytes],
    ) -> None:
        self.management_key = management_key
        self.management_algorithm = management_algorithm
        self.puk = puk
        self.puk_max_tries = puk_max_tries
        self.puk_tries_left = puk_max_tries
        self.metadata = metadata  # answers Yubico's GET METADATA (YubiKey 5.3+); a plain PIV card does not
        self.random = random
        self.admin_authenticated = False
        self.admin_attempts = 0  # second steps of GENERAL AUTHENTICATE with 9B, right or wrong
        self.reference_changes = 0  # CHANGE REFERENCE DATA commands, right or wrong
        self._expected: tuple[int, bytes] | None = None  # (tag the host must answer with, the value it must carry)

    def _reset_administration(self) -> None:
        self.admin_authenticated = False
        self._expected = None

    # --- GENERAL AUTHENTICATE with the management key -----------------------------------------------------------

    def _authenticate_admin(self, p1: int, data: bytes) -> Answer:
        if p1 != self.management_algorithm:
            return status(SW_INCORRECT_P1P2)
        algorithm = ALGORITHMS[p1]
        fields = dict(parse_tlvs(find_tlv(data, TAG_DYN_AUTH)))
        if fields.get(TAG_AUTH_WITNESS) == b"":  # mutual, step one: a witness, encrypted
            witness = self.random(algorithm.block)
            self._expected = (TAG_AUTH_WITNESS, witness)
            self.admin_authenticated = False
            encrypted = algorithm.encrypt(self.management_key, witness)
            return encode_tlv(TAG_DYN_AUTH, encode_tlv(TAG_AUTH_WITNESS, encrypted)), SW_SUCCESS
        if fields.get(TAG_AUTH_CHALLENGE) == b"":  # the host's challenge-response, step one: a challenge in clear
            challenge = self.random(algorithm.block)
            self._expected = (TAG_AUTH_RESPONSE, algorithm.encrypt(self.management_key, challenge))
            self.admin_authenticated = False
            return encode_tlv(TAG_DYN_AUTH, encode_tlv(TAG_AUTH_CHALLENGE, challenge)), SW_SUCCESS
        expected, self._expected = self._expected, None
        if expected is None:
            return status(SW_INCORRECT_DATA)
        tag, value = expected
        given = fields.get(tag)
        if given is None:
            return status(SW_INCORRECT_DATA)
        self.admin_attempts += 1
        if not hmac.compare_digest(given, value):
            return status(SW_SECURITY_STATUS_NOT_SATISFIED)
        if tag == TAG_AUTH_RESPONSE:
            self.admin_authenticated = True
            return status(SW_SUCCESS)
        challenge = fields.get(TAG_AUTH_CHALLENGE, b"")  # mutual, step two: the host's challenge, encrypted back
        if len(challenge) != algorithm.block:
            return status(SW_INCORRECT_DATA)
        self.admin_authenticated = True
        response = algorithm.encrypt(self.management_key, challenge)
        return encode_tlv(TAG_DYN_AUTH, encode_tlv(TAG_AUTH_RESPONSE, response)), SW_SUCCESS

    # --- CHANGE REFERENCE DATA -------------------------------------------------------------------------------

    def _change_reference(self, p1: int, p2: int, data: bytes) -> Answer:
        if p1 != 0:
            return status(SW_INCORRECT_P1P2)
        if p2 not in (KEY_REF_PIN, KEY_REF_PUK):
            return status(SW_REFERENCE_NOT_FOUND)
        if len(data) != 2 * PIN_LENGTH_PADDED:
            return status(SW_WRONG_LENGTH)
        self.reference_changes += 1
        old, new = data[:PIN_LENGTH_PADDED], data[PIN_LENGTH_PADDED:]
        current = self.pin if p2 == KEY_REF_PIN else self.puk
        left = self.tries_left if p2 == KEY_REF_PIN else self.puk_tries_left
        if left == 0:
            return status(SW_AUTH_METHOD_BLOCKED)
        if not hmac.compare_digest(old, current.encode("ascii").ljust(PIN_LENGTH_PADDED, b"\xff")):
            left -= 1
            if p2 == KEY_REF_PIN:
                self.tries_left, self.verified = left, False
            else:
                self.puk_tries_left = left
            return status(0x63C0 | left)
        value = _unpad(new)
        if value is None or (p2 == KEY_REF_PIN and not value.isdigit()):
            return status(SW_INCORRECT_DATA)
        if p2 == KEY_REF_PIN:
            self.pin, self.tries_left = value, self.max_tries
        else:
            self.puk, self.puk_tries_left = value, self.puk_max_tries
        return status(SW_SUCCESS)

    # --- GET METADATA (Yubico) -------------------------------------------------------------------------------

    def _get_metadata(self, p1: int, p2: int, data: bytes) -> Answer:
        if not self.metadata:
            return status(SW_INS_NOT_SUPPORTED)
        if p2 == KEY_REF_MANAGEMENT:
            default = self.management_key == DEFAULT_MANAGEMENT_KEY
            body = (
                encode_tlv(TAG_METADATA_ALGORITHM, bytes([self.management_algorithm]))
                + encode_tlv(TAG_METADATA_POLICY, b"\x00\x01")  # touch never
                + encode_tlv(TAG_METADATA_IS_DEFAULT, bytes([default]))
            )
        elif p2 in (KEY_REF_PIN, KEY_REF_PUK):
            is_pin = p2 == KEY_REF_PIN
            default = self.pin == "123456" if is_pin else self.puk == DEFAULT_PUK
            tries = (self.max_tries, self.tries_left) if is_pin else (self.puk_max_tries, self.puk_tries_left)
            body = (
                encode_tlv(TAG_METADATA_ALGORITHM, bytes([_PIN_ALGORITHM]))
                + encode_tlv(TAG_METADATA_IS_DEFAULT, bytes([default]))
                + encode_tlv(TAG_METADATA_RETRIES, bytes(tries))
            )
        else:
            return status(SW_REFERENCE_NOT_FOUND)
        return body, SW_SUCCESS
