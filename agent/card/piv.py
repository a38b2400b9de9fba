"""PIV application session (NIST SP 800-73-4) for the signing card, plus the BER-TLV codec it needs.

Only the verbs the agent uses are here: PIN, signing with slot 9C, the 9C certificate, key generation and the card
serial. The session never touches pyscard; it talks to any :class:`~agent.card.apdu.Connection`.

The 9C key is ECC P-256 (algorithm 11) or SM2 (54: PIV has no SM2 identifier; 54 is the one CanoKey's PIV applet
gives its SM2 keys, docs/CARDS.md). Either signs a 32-byte digest the host computes (sync.algorithms); a P-256 key
answers a DER ECDSA signature, an SM2 key r ‖ s.
"""

from __future__ import annotations

import gzip

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from agent.card.apdu import MAX_SHORT_LE, ApduProtocol, Connection
from agent.card.errors import (
    SW_AUTH_METHOD_BLOCKED,
    ApduError,
    CardError,
    InvalidPinError,
    PinBlockedError,
)
from sync.algorithms import ES256, SM2SM3, PublicKey
from sync.sm2 import Sm2Error, Sm2PublicKey

# --- Constants, named as in SP 800-73-4 -------------------------------------------------------------------------

AID = bytes.fromhex("A000000308")  # RID + truncated PIX; cards match it as a prefix of AID_FULL
AID_FULL = bytes.fromhex("A000000308000010000100")  # RID, PIX 0000 1000 01, version 00

INS_SELECT = 0xA4
INS_VERIFY = 0x20
INS_GENERAL_AUTHENTICATE = 0x87
INS_GET_DATA = 0xCB
INS_PUT_DATA = 0xDB
INS_GENERATE = 0x47  # GENERATE ASYMMETRIC KEY PAIR

P1_SELECT_BY_AID = 0x04
P1_DATA_OBJECT, P2_DATA_OBJECT = 0x3F, 0xFF  # GET/PUT DATA P1 P2: the application's data objects
P1_VERIFY_RESET = 0xFF  # VERIFY with P1=FF drops the verified state
KEY_REF_PIN = 0x80  # P2 of VERIFY: the PIV Card Application PIN

ALGORITHM_ECCP256 = 0x11
ALGORITHM_SM2 = 0x54  # not in SP 800-78: the vendor identifier of CanoKey's PIV applet for SM2 (docs/CARDS.md)
# The card's algorithm for each of the wire's (sync.algorithms).
PIV_ALGORITHMS = {ES256: ALGORITHM_ECCP256, SM2SM3: ALGORITHM_SM2}
SLOT_SIGNATURE = 0x9C  # "Digital Signature" key

TAG_DYN_AUTH = 0x7C
TAG_AUTH_WITNESS = 0x80
TAG_AUTH_CHALLENGE = 0x81
TAG_AUTH_RESPONSE = 0x82

TAG_OBJECT_ID = 0x5C
TAG_OBJECT_DATA = 0x53
TAG_CERTIFICATE = 0x70
TAG_CERT_INFO = 0x71
TAG_ERROR_DETECTION = 0xFE  # LRC, always empty in practice

TAG_GEN_TEMPLATE = 0xAC  # control reference template of GENERATE
TAG_GEN_ALGORITHM = 0x80
TAG_GEN_PIN_POLICY = 0xAA  # Yubico: when the key wants the PIN (2 = once per card session)
PIN_POLICY_ONCE = 0x02
TAG_PUBLIC_KEY = 0x7F49
TAG_EC_POINT = 0x86

TAG_APPLICATION_PROPERTY = 0x61
TAG_AID = 0x4F
TAG_COEXISTENT_TAG_ALLOCATION_AUTHORITY = 0x79

OBJECT_ID_CHUID = 0x5FC102
OBJECT_ID_SIGNATURE = 0x5FC10A  # X.509 certificate for the 9C key

TAG_CHUID_FASCN = 0x30
TAG_CHUID_GUID = 0x34
TAG_CHUID_EXPIRATION = 0x35
TAG_CHUID_SIGNATURE = 0x3E

CERT_INFO_COMPRESSED = 0x01  # CertInfo bit: certificate is gzip-compressed

PIN_LENGTH_PADDED = 8
PIN_MIN_LENGTH = 6

# --- BER-TLV --------------------------------------------------------------------------------------------------


def encode_tlv(tag: int, value: bytes = b"") -> bytes:
    """Encode one BER-TLV: tag of 1-3 bytes, length in short, 81 or 82 form."""
    if not 0 <= tag <= 0xFFFFFF:
        raise ValueError(f"tag {tag:X} is longer than 3 bytes")
    tag_bytes = tag.to_bytes(max(1, (tag.bit_length() + 7) // 8), "big")
    length = len(value)
    if length < 0x80:
        length_bytes = bytes([length])
    elif length <= 0xFF:
        length_bytes = bytes([0x81, length])
    elif length <= 0xFFFF:
        length_bytes = bytes([0x82]) + length.to_bytes(2, "big")
    else:
        raise ValueError(f"value of {length} bytes is too long for BER-TLV 82 form")
    return tag_bytes + length_bytes + value


def parse_tlvs(data: bytes) -> list[tuple[int, bytes]]:
    """Split concatenated BER-TLVs into (tag, value) pairs; raise ValueError when malformed."""
    items: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(data):
        start = pos
        tag = data[pos]
        pos += 1
        if tag & 0x1F == 0x1F:  # multi-byte tag: following bytes continue while b8 is set
            while True:
                if pos >= len(data) or pos - start >= 3:
                    raise ValueError("BER-TLV tag truncated or longer than 3 bytes")
                tag = (tag << 8) | data[pos]
                pos += 1
                if not data[pos - 1] & 0x80:
                    break
        if pos >= len(data):
            raise ValueError("BER-TLV length missing")
        length = data[pos]
        pos += 1
        if length & 0x80:
            n = length & 0x7F
            if n not in (1, 2) or pos + n > len(data):
                raise ValueError("BER-TLV length form unsupported or truncated")
            length = int.from_bytes(data[pos : pos + n], "big")
            pos += n
        if pos + length > len(data):
            raise ValueError("BER-TLV value truncated")
        items.append((tag, bytes(data[pos : pos + length])))
        pos += length
    return items


def find_tlv(data: bytes, tag: int) -> bytes:
    """Value of the first TLV with ``tag`` at this level; raise ValueError when absent or malformed."""
    for found, value in parse_tlvs(data):
        if found == tag:
            return value
    raise ValueError(f"tag {tag:X} not found")


# --- Session --------------------------------------------------------------------------------------------------


def _unpack(data: bytes, *tags: int) -> bytes:
    """Follow nested tags through a card answer; a malformed answer becomes a CardError at this boundary."""
    try:
        for tag in tags:
            data = find_tlv(data, tag)
    except ValueError as e:
        raise CardError("The card gave an unexpected answer. Try another card or reader.") from e
    return data


class PivSession:
    """The PIV application on one connection. Selecting happens on construction."""

    def __init__(self, connection: Connection) -> None:
        self.protocol = ApduProtocol(connection)
        self.protocol.send(0x00, INS_SELECT, P1_SELECT_BY_AID, 0x00, AID, le=MAX_SHORT_LE)

    def verify_pin(self, pin: str) -> None:
        """Present the PIN once. Wrong → InvalidPinError(tries_left); none left → PinBlockedError.

        No retry on purpose: each attempt spends one of the card's few tries.
        """
        check_pin(pin)
        padded = pin.encode("ascii").ljust(PIN_LENGTH_PADDED, b"\xff")
        try:
            self.protocol.send(0x00, INS_VERIFY, 0x00, KEY_REF_PIN, padded)
        except ApduError as e:
            raise pin_error(e) from None  # from None: the chained ApduError adds nothing for the clerk

    def pin_tries_left(self) -> int | None:
        """Tries left, without spending one; None when the PIN is already verified in this card session."""
        try:
            self.protocol.send(0x00, INS_VERIFY, 0x00, KEY_REF_PIN)
        except ApduError as e:
            error = pin_error(e)
            if isinstance(error, InvalidPinError):
                return error.tries_left
            if isinstance(error, PinBlockedError):
                return 0
            raise
        return None

    def sign_digest(self, digest: bytes, algorithm: int = ALGORITHM_ECCP256) -> bytes:
        """The 9C key's signature of a 32-byte digest: ECDSA P-256 (DER) of a SHA-256 digest, or with
        ``ALGORITHM_SM2`` SM2 (r ‖ s) of e = SM3(Z ‖ M). Needs the PIN verified (else 6982)."""
        if len(digest) != 32:
            raise ValueError(f"a digest to sign is 32 bytes, got {len(digest)}")
        template = encode_tlv(TAG_DYN_AUTH, encode_tlv(TAG_AUTH_RESPONSE) + encode_tlv(TAG_AUTH_CHALLENGE, digest))
        answer = self.protocol.send(
            0x00, INS_GENERAL_AUTHENTICATE, algorithm, SLOT_SIGNATURE, template, le=MAX_SHORT_LE
        )
        return _unpack(answer, TAG_DYN_AUTH, TAG_AUTH_RESPONSE)

    def get_certificate(self) -> x509.Certificate:
        """The certificate of slot 9C; ApduError 6A82 when the card holds none."""
        obj = self._get_object(OBJECT_ID_SIGNATURE)
        der = _unpack(obj, TAG_CERTIFICATE)
        info = dict(parse_tlvs(obj)).get(TAG_CERT_INFO, b"")  # parse_tlvs cannot fail here: _unpack passed
        try:
            if info and info[0] & CERT_INFO_COMPRESSED:  # some issuance tools gzip the certificate
                der = gzip.decompress(der)
            return x509.load_der_x509_certificate(der)
        except (ValueError, OSError, EOFError) as e:
            raise CardError("The certificate on the card is damaged. Have the card re-issued.") from e

    def put_certificate(self, cert: x509.Certificate) -> None:
        """Store ``cert`` as the slot 9C certificate (uncompressed); needs the card's write condition satisfied."""
        body = (
            encode_tlv(TAG_CERTIFICATE, cert.public_bytes(serialization.Encoding.DER))
            + encode_tlv(TAG_CERT_INFO, b"\x00")
            + encode_tlv(TAG_ERROR_DETECTION)
        )
        self._put_object(OBJECT_ID_SIGNATURE, body)

    def generate_key(self, pin_policy: int | None = None, algorithm: int = ALGORITHM_ECCP256) -> PublicKey:
        """Generate a new key in slot 9C, P-256 or (``ALGORITHM_SM2``) SM2, and return its public key. The old key is
        gone for good; a card that cannot make such a key refuses (6A80) and keeps it.

        ``pin_policy`` (a Yubico extension): PIN_POLICY_ONCE lets one PIN entry sign many batches; a YubiKey's 9C
        key otherwise wants the PIN before every signature."""
        fields = encode_tlv(TAG_GEN_ALGORITHM, bytes([algorithm]))
        if pin_policy is not None:
            fields += encode_tlv(TAG_GEN_PIN_POLICY, bytes([pin_policy]))
        template = encode_tlv(TAG_GEN_TEMPLATE, fields)
        answer = self.protocol.send(0x00, INS_GENERATE, 0x00, SLOT_SIGNATURE, template, le=MAX_SHORT_LE)
        point = _unpack(answer, TAG_PUBLIC_KEY, TAG_EC_POINT)
        try:
            if algorithm == ALGORITHM_SM2:
                return Sm2PublicKey.from_encoded(point)
            return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
        except (ValueError, Sm2Error) as e:
            raise CardError("The card returned an invalid public key.") from e

    def get_serial(self) -> str:
        """The card's GUID from the CHUID, as 32 uppercase hex digits; stable across key changes."""
        guid = _unpack(self._get_object(OBJECT_ID_CHUID), TAG_CHUID_GUID)
        if len(guid) != 16:
            raise CardError("The card gave an unexpected answer. Try another card or reader.")
        return guid.hex().upper()

    def _get_object(self, object_id: int) -> bytes:
        request = encode_tlv(TAG_OBJECT_ID, object_id.to_bytes(3, "big"))
        answer = self.protocol.send(0x00, INS_GET_DATA, P1_DATA_OBJECT, P2_DATA_OBJECT, request, le=MAX_SHORT_LE)
        return _unpack(answer, TAG_OBJECT_DATA)

    def _put_object(self, object_id: int, body: bytes) -> None:
        data = encode_tlv(TAG_OBJECT_ID, object_id.to_bytes(3, "big")) + encode_tlv(TAG_OBJECT_DATA, body)
        self.protocol.send(0x00, INS_PUT_DATA, P1_DATA_OBJECT, P2_DATA_OBJECT, data)


def check_pin(pin: str) -> None:
    if not (PIN_MIN_LENGTH <= len(pin) <= PIN_LENGTH_PADDED and pin.isascii() and pin.isdigit()):
        raise ValueError("The PIN must be 6 to 8 digits.")  # no PIN in the message: messages end up in logs


def pin_error(error: ApduError) -> ApduError:
    """Map a VERIFY (or CHANGE REFERENCE DATA) status word to the PIN errors; other words pass through unchanged."""
    if error.sw in (SW_AUTH_METHOD_BLOCKED, 0x63C0):
        return PinBlockedError(error.sw)
    if error.sw & 0xFFF0 == 0x63C0:
        return InvalidPinError(error.sw & 0x0F)
    return error
