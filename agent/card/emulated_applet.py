"""The PIV application of the emulated card: the commands the agent uses (NIST SP 800-73-4: SELECT, VERIFY,
GENERAL AUTHENTICATE with the 9C key, P-256 or SM2, GET/PUT DATA of the 9C certificate and the CHUID, GENERATE for
9C) over the card's PIN counter, key (``emulated_keys``), certificate and serial.

Only the commands live here: framing (chaining, GET RESPONSE) is ``emulated_apdu``'s, the management key, PUK and
reference-data changes ``emulated_admin``'s, and making, checking and saving a card is ``emulated``'s. As on a real
card, PUT DATA and GENERATE need the 9B management key (not the PIN), and signing needs the PIN.
"""

from __future__ import annotations

import gzip
import hmac
import os
import threading
from collections.abc import Callable

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from agent.card import emulated_keys
from agent.card.emulated_admin import DEFAULT_PUK, CardAdministration
from agent.card.emulated_apdu import Answer, ApduFraming, status
from agent.card.errors import (
    SW_AUTH_METHOD_BLOCKED,
    SW_FILE_NOT_FOUND,
    SW_INCORRECT_DATA,
    SW_INCORRECT_P1P2,
    SW_INS_NOT_SUPPORTED,
    SW_REFERENCE_NOT_FOUND,
    SW_SECURITY_STATUS_NOT_SATISFIED,
    SW_SUCCESS,
)
from agent.card.piv import (
    AID,
    AID_FULL,
    CERT_INFO_COMPRESSED,
    INS_GENERAL_AUTHENTICATE,
    INS_GENERATE,
    INS_GET_DATA,
    INS_PUT_DATA,
    INS_SELECT,
    INS_VERIFY,
    KEY_REF_PIN,
    OBJECT_ID_CHUID,
    OBJECT_ID_SIGNATURE,
    P1_DATA_OBJECT,
    P1_SELECT_BY_AID,
    P1_VERIFY_RESET,
    P2_DATA_OBJECT,
    PIN_LENGTH_PADDED,
    SLOT_SIGNATURE,
    TAG_AID,
    TAG_APPLICATION_PROPERTY,
    TAG_AUTH_CHALLENGE,
    TAG_AUTH_RESPONSE,
    TAG_CERT_INFO,
    TAG_CERTIFICATE,
    TAG_CHUID_EXPIRATION,
    TAG_CHUID_FASCN,
    TAG_CHUID_GUID,
    TAG_CHUID_SIGNATURE,
    TAG_COEXISTENT_TAG_ALLOCATION_AUTHORITY,
    TAG_DYN_AUTH,
    TAG_EC_POINT,
    TAG_ERROR_DETECTION,
    TAG_GEN_ALGORITHM,
    TAG_GEN_TEMPLATE,
    TAG_OBJECT_DATA,
    TAG_OBJECT_ID,
    TAG_PUBLIC_KEY,
    encode_tlv,
    find_tlv,
    parse_tlvs,
)
from agent.card.piv_admin import (
    ALGORITHM_3DES,
    DEFAULT_MANAGEMENT_KEY,
    INS_CHANGE_REFERENCE,
    INS_GET_METADATA,
    KEY_REF_MANAGEMENT,
)
from sync.algorithms import PrivateKey

# A FASC-N of the "non-federal issuer" kind; the agent only reads the GUID, but real CHUIDs always carry one.
_FASCN = bytes.fromhex("D4E739DA739CED39CE739D836858210842108421C84210C3EB")
_CHUID_EXPIRATION = b"20351231"
_SELECT_ANSWER = encode_tlv(
    TAG_APPLICATION_PROPERTY,
    encode_tlv(TAG_AID, AID_FULL[len(AID) :])
    + encode_tlv(TAG_COEXISTENT_TAG_ALLOCATION_AUTHORITY, encode_tlv(TAG_AID, AID)),
)


class PivApplet(CardAdministration):
    """The PIV commands over one card's state; :meth:`process` takes a command APDU and returns response data +
    SW1 SW2. The arguments are taken as given: ``EmulatedPivCard`` checks them.

    Thread-safe (one lock), because the vpcd thread and a test may touch it at the same time.
    """

    def __init__(
        self,
        pin: str,
        max_tries: int,
        key: PrivateKey,
        certificate: x509.Certificate | None,
        serial: str,
        management_key: bytes = DEFAULT_MANAGEMENT_KEY,
        management_algorithm: int = ALGORITHM_3DES,
        puk: str = DEFAULT_PUK,
        metadata: bool = True,
        random: Callable[[int], bytes] = os.urandom,
        key_algorithms: tuple[int, ...] = emulated_keys.ALL_ALGORITHMS,
    ) -> None:
        self.pin = pin
        self.max_tries = max_tries
        self.tries_left = max_tries
        self.key = key
        self.key_algorithms = key_algorithms  # what GENERATE makes (a card without SM2 refuses 54 with 6A80)
        self.certificate = certificate
        self.serial = serial  # the CHUID GUID as 32 hex digits
        self.verify_attempts = 0  # VERIFY commands that carried a PIN, right or wrong
        self.signatures = 0
        self._lock = threading.RLock()
        self._framing = ApduFraming(self._dispatch)
        self.selected = False
        self.verified = False
        self._init_administration(management_key, management_algorithm, puk, 3, metadata, random)

    @property
    def blocked(self) -> bool:
        return self.tries_left == 0

    def reset(self) -> None:
        """Power off / reset: forget the selected application, the verified PIN and any chaining state."""
        with self._lock:
            self.selected = False
            self.verified = False
            self._reset_administration()
            self._framing.reset()

    def process(self, apdu: bytes) -> bytes:
        """Run one command APDU (short encoding) and return response data followed by SW1 SW2."""
        with self._lock:
            data, sw = self._framing.process(bytes(apdu))
            return data + sw.to_bytes(2, "big")

    def _dispatch(self, ins: int, p1: int, p2: int, data: bytes) -> Answer:
        if ins == INS_SELECT:
            return self._select(p1, data)
        handlers = {
            INS_VERIFY: self._verify,
            INS_GENERAL_AUTHENTICATE: self._general_authenticate,
            INS_GET_DATA: self._get_data,
            INS_PUT_DATA: self._put_data,
            INS_GENERATE: self._generate,
            INS_CHANGE_REFERENCE: self._change_reference,
            INS_GET_METADATA: self._get_metadata,
        }
        handler = handlers.get(ins)
        if handler is None or not self.selected:  # without PIV selected the card manager knows no such INS
            return status(SW_INS_NOT_SUPPORTED)
        try:
            return handler(p1, p2, data)
        except ValueError:  # malformed TLV, certificate or key data in the command
            return status(SW_INCORRECT_DATA)

    def _select(self, p1: int, data: bytes) -> Answer:
        if p1 != P1_SELECT_BY_AID:
            return status(SW_INCORRECT_P1P2)
        if len(data) < len(AID) or not AID_FULL.startswith(data):  # cards match a truncated AID as a prefix
            return status(SW_FILE_NOT_FOUND)
        self.selected = True
        return _SELECT_ANSWER, SW_SUCCESS

    def _verify(self, p1: int, p2: int, data: bytes) -> Answer:
        if p2 != KEY_REF_PIN:
            return status(SW_REFERENCE_NOT_FOUND)
        if p1 == P1_VERIFY_RESET and not data:
            self.verified = False
            return status(SW_SUCCESS)
        if p1 != 0:
            return status(SW_INCORRECT_P1P2)
        if not data:  # status query: spends no try
            if self.blocked:
                return status(SW_AUTH_METHOD_BLOCKED)
            return status(SW_SUCCESS if self.verified else 0x63C0 | self.tries_left)
        self.verify_attempts += 1
        if self.blocked:
            return status(SW_AUTH_METHOD_BLOCKED)  # blocked stays blocked, even for the right PIN
        if len(data) != PIN_LENGTH_PADDED:
            return status(SW_INCORRECT_DATA)
        if hmac.compare_digest(data, self.pin.encode("ascii").ljust(PIN_LENGTH_PADDED, b"\xff")):
            self.tries_left = self.max_tries
            self.verified = True
            return status(SW_SUCCESS)
        self.tries_left -= 1
        self.verified = False
        return status(0x63C0 | self.tries_left)  # the blocking try answers 63C0, later ones 6983

    def _general_authenticate(self, p1: int, p2: int, data: bytes) -> Answer:
        if p2 == KEY_REF_MANAGEMENT:
            return self._authenticate_admin(p1, data)
        if (p1, p2) != (emulated_keys.algorithm_of(self.key), SLOT_SIGNATURE):  # the 9C key's own algorithm
            return status(SW_INCORRECT_P1P2)
        if not self.verified:
            return status(SW_SECURITY_STATUS_NOT_SATISFIED)
        fields = dict(parse_tlvs(find_tlv(data, TAG_DYN_AUTH)))
        digest = fields.get(TAG_AUTH_CHALLENGE, b"")
        if fields.get(TAG_AUTH_RESPONSE) != b"" or len(digest) != 32:
            return status(SW_INCORRECT_DATA)
        signature = emulated_keys.sign(self.key, digest)
        self.signatures += 1
        return encode_tlv(TAG_DYN_AUTH, encode_tlv(TAG_AUTH_RESPONSE, signature)), SW_SUCCESS

    def _get_data(self, p1: int, p2: int, data: bytes) -> Answer:
        if (p1, p2) != (P1_DATA_OBJECT, P2_DATA_OBJECT):
            return status(SW_INCORRECT_P1P2)
        object_id = find_tlv(data, TAG_OBJECT_ID)
        if object_id == OBJECT_ID_SIGNATURE.to_bytes(3, "big"):
            if self.certificate is None:
                return status(SW_FILE_NOT_FOUND)
            body = (
                encode_tlv(TAG_CERTIFICATE, self.certificate.public_bytes(serialization.Encoding.DER))
                + encode_tlv(TAG_CERT_INFO, b"\x00")
                + encode_tlv(TAG_ERROR_DETECTION)
            )
        elif object_id == OBJECT_ID_CHUID.to_bytes(3, "big"):
            body = (
                encode_tlv(TAG_CHUID_FASCN, _FASCN)
                + encode_tlv(TAG_CHUID_GUID, bytes.fromhex(self.serial))
                + encode_tlv(TAG_CHUID_EXPIRATION, _CHUID_EXPIRATION)
                + encode_tlv(TAG_CHUID_SIGNATURE)
                + encode_tlv(TAG_ERROR_DETECTION)
            )
        else:
            return status(SW_FILE_NOT_FOUND)
        return encode_tlv(TAG_OBJECT_DATA, body), SW_SUCCESS

    def _put_data(self, p1: int, p2: int, data: bytes) -> Answer:
        if (p1, p2) != (P1_DATA_OBJECT, P2_DATA_OBJECT):
            return status(SW_INCORRECT_P1P2)
        if not self.admin_authenticated:  # the 9B management key, as on a real card
            return status(SW_SECURITY_STATUS_NOT_SATISFIED)
        fields = dict(parse_tlvs(data))
        if fields.get(TAG_OBJECT_ID) != OBJECT_ID_SIGNATURE.to_bytes(3, "big") or TAG_OBJECT_DATA not in fields:
            return status(SW_INCORRECT_DATA)
        body = fields[TAG_OBJECT_DATA]
        if not body:  # an empty object deletes the certificate
            self.certificate = None
            return status(SW_SUCCESS)
        der = find_tlv(body, TAG_CERTIFICATE)
        info = dict(parse_tlvs(body)).get(TAG_CERT_INFO, b"")
        if info and info[0] & CERT_INFO_COMPRESSED:
            try:
                der = gzip.decompress(der)
            except (OSError, EOFError):
                return status(SW_INCORRECT_DATA)
        self.certificate = x509.load_der_x509_certificate(der)
        return status(SW_SUCCESS)

    def _generate(self, p1: int, p2: int, data: bytes) -> Answer:
        if (p1, p2) != (0x00, SLOT_SIGNATURE):
            return status(SW_INCORRECT_P1P2)
        if not self.admin_authenticated:  # the 9B management key, as on a real card
            return status(SW_SECURITY_STATUS_NOT_SATISFIED)
        algorithm = find_tlv(find_tlv(data, TAG_GEN_TEMPLATE), TAG_GEN_ALGORITHM)
        if len(algorithm) != 1 or algorithm[0] not in self.key_algorithms:
            return status(SW_INCORRECT_DATA)  # the old key stays
        self.key = emulated_keys.generate(algorithm[0])
        self.certificate = None  # the old certificate names the old key
        point = emulated_keys.public_point(self.key)
        return encode_tlv(TAG_PUBLIC_KEY, encode_tlv(TAG_EC_POINT, point)), SW_SUCCESS
