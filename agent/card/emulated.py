"""An emulated PIV card, written for this project's tests and demo.

NOT FOR PRODUCTION: the private key lives in process memory and, when saved, in a plain JSON file. It implements
just the part of NIST SP 800-73-4 the agent uses (SELECT, VERIFY, GENERAL AUTHENTICATE with the 9C P-256 key,
GET/PUT DATA of the 9C certificate and the CHUID, GENERATE for 9C, command and response chaining), with one
documented simplification: PUT DATA and GENERATE need the PIN instead of the 9B management key.
"""

from __future__ import annotations

import datetime
import gzip
import hmac
import json
import os
import threading
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.x509.oid import NameOID

from agent.card.apdu import CLA_CHAINING, INS_GET_RESPONSE, MAX_SHORT_LE, SW1_MORE_DATA
from agent.card.errors import (
    SW_AUTH_METHOD_BLOCKED,
    SW_CLA_NOT_SUPPORTED,
    SW_CONDITIONS_NOT_SATISFIED,
    SW_FILE_NOT_FOUND,
    SW_INCORRECT_DATA,
    SW_INCORRECT_P1P2,
    SW_INS_NOT_SUPPORTED,
    SW_LAST_COMMAND_OF_CHAIN_EXPECTED,
    SW_REFERENCE_NOT_FOUND,
    SW_SECURITY_STATUS_NOT_SATISFIED,
    SW_SUCCESS,
    SW_WRONG_LENGTH,
    CardError,
)
from agent.card.piv import (
    AID,
    AID_FULL,
    ALGORITHM_ECCP256,
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
    PIN_MIN_LENGTH,
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

# PC/SC-style ATR (T=0 and T=1 offered, 8 historical bytes "EmuPIV01") with its check byte TCK = XOR of T0..last.
ATR = bytes.fromhex("3B888001456D7550495630311A")

# A FASC-N of the "non-federal issuer" kind; the agent only reads the GUID, but real CHUIDs always carry one.
_FASCN = bytes.fromhex("D4E739DA739CED39CE739D836858210842108421C84210C3EB")
_CHUID_EXPIRATION = b"20351231"
_SELECT_ANSWER = encode_tlv(
    TAG_APPLICATION_PROPERTY,
    encode_tlv(TAG_AID, AID_FULL[len(AID) :])
    + encode_tlv(TAG_COEXISTENT_TAG_ALLOCATION_AUTHORITY, encode_tlv(TAG_AID, AID)),
)
_FILE_MARKER = "EMULATED PIV CARD - tests and demo only, NOT FOR PRODUCTION: the private key below is unprotected"
_FILE_VERSION = 1

_Answer = tuple[bytes, int]  # response data, status word


def self_signed_certificate(
    key: ec.EllipticCurvePrivateKey, common_name: str = "Emulated PIV card (test only)", days: int = 365
) -> x509.Certificate:
    """A self-signed certificate for ``key``, for tests and the demo card."""
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "eport-agent test fixtures"),
        ]
    )
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _sw(sw: int) -> _Answer:
    return b"", sw


class EmulatedPivCard:
    """A PIV card in memory; :meth:`process` takes a command APDU and returns response data + SW1 SW2.

    Thread-safe (one lock), because the vpcd thread and a test may touch it at the same time.
    """

    def __init__(
        self,
        pin: str = "123456",
        key: ec.EllipticCurvePrivateKey | None = None,
        certificate: x509.Certificate | None = None,
        serial: str | None = None,
        max_tries: int = 3,
    ) -> None:
        if not (PIN_MIN_LENGTH <= len(pin) <= PIN_LENGTH_PADDED and pin.isascii() and pin.isdigit()):
            raise ValueError("the emulated card's PIN must be 6 to 8 digits")
        if not 1 <= max_tries <= 15:
            raise ValueError("max_tries must be 1..15 (it is reported in one nibble of 63Cx)")
        if key is not None and not isinstance(key.curve, ec.SECP256R1):
            raise ValueError("the emulated card holds a P-256 key only")
        serial = serial.upper() if serial is not None else os.urandom(16).hex().upper()
        if len(serial) != 32 or any(c not in "0123456789ABCDEF" for c in serial):
            raise ValueError("serial is the 16-byte CHUID GUID as 32 hex digits")
        self.atr: bytes = ATR
        self.pin = pin
        self.max_tries = max_tries
        self.tries_left = max_tries
        self.key: ec.EllipticCurvePrivateKey = key if key is not None else ec.generate_private_key(ec.SECP256R1())
        self.certificate = certificate
        self.serial = serial
        self.verify_attempts = 0  # VERIFY commands that carried a PIN, right or wrong
        self.signatures = 0
        self._lock = threading.RLock()
        self.selected = False
        self.verified = False
        self._chain: tuple[int, bytes] | None = None  # (INS, data so far) of an open command chain
        self._pending = b""  # response bytes waiting for GET RESPONSE
        self.reset()

    @property
    def blocked(self) -> bool:
        return self.tries_left == 0

    def reset(self) -> None:
        """Power off / reset: forget the selected application, the verified PIN and any chaining state."""
        with self._lock:
            self.selected = False
            self.verified = False
            self._chain = None
            self._pending = b""

    # --- APDU processing ------------------------------------------------------------------------------------

    def process(self, apdu: bytes) -> bytes:
        """Run one command APDU (short encoding) and return response data followed by SW1 SW2."""
        with self._lock:
            data, sw = self._process(bytes(apdu))
            return data + sw.to_bytes(2, "big")

    def _process(self, apdu: bytes) -> _Answer:
        if len(apdu) < 4:
            return _sw(SW_WRONG_LENGTH)
        cla, ins, p1, p2 = apdu[:4]
        body = apdu[4:]
        le: int | None = None
        if len(body) == 1:  # case 2: Le only
            data, le = b"", body[0] or MAX_SHORT_LE
        elif body:
            lc = body[0]
            if lc == 0 or len(body) not in (1 + lc, 2 + lc):  # lc 0 would start an extended APDU: unsupported
                return _sw(SW_WRONG_LENGTH)
            data = body[1 : 1 + lc]
            if len(body) == 2 + lc:
                le = body[-1] or MAX_SHORT_LE
        else:
            data = b""
        if cla & ~CLA_CHAINING:
            return _sw(SW_CLA_NOT_SUPPORTED)
        max_answer = le if le is not None else MAX_SHORT_LE  # no Le: answer anyway, as real PIV cards do

        if ins == INS_GET_RESPONSE:
            return self._get_response(p1, p2, max_answer)
        self._pending = b""  # any other command abandons an unread answer

        if cla & CLA_CHAINING:
            if self._chain is not None and self._chain[0] != ins:
                self._chain = None
                return _sw(SW_LAST_COMMAND_OF_CHAIN_EXPECTED)
            self._chain = (ins, (self._chain[1] if self._chain else b"") + data)
            return _sw(SW_SUCCESS)
        if self._chain is not None:
            chain_ins, earlier = self._chain
            self._chain = None
            if chain_ins != ins:
                return _sw(SW_LAST_COMMAND_OF_CHAIN_EXPECTED)
            data = earlier + data

        answer, sw = self._dispatch(ins, p1, p2, data)
        if len(answer) > max_answer:
            self._pending = answer[max_answer:]
            return answer[:max_answer], self._more_data_sw()
        return answer, sw

    def _more_data_sw(self) -> int:
        return (SW1_MORE_DATA << 8) | (min(len(self._pending), MAX_SHORT_LE) & 0xFF)

    def _get_response(self, p1: int, p2: int, max_answer: int) -> _Answer:
        if (p1, p2) != (0, 0):
            return _sw(SW_INCORRECT_P1P2)
        if not self._pending:
            return _sw(SW_CONDITIONS_NOT_SATISFIED)
        chunk, self._pending = self._pending[:max_answer], self._pending[max_answer:]
        return chunk, self._more_data_sw() if self._pending else SW_SUCCESS

    def _dispatch(self, ins: int, p1: int, p2: int, data: bytes) -> _Answer:
        if ins == INS_SELECT:
            return self._select(p1, data)
        handlers = {
            INS_VERIFY: self._verify,
            INS_GENERAL_AUTHENTICATE: self._general_authenticate,
            INS_GET_DATA: self._get_data,
            INS_PUT_DATA: self._put_data,
            INS_GENERATE: self._generate,
        }
        handler = handlers.get(ins)
        if handler is None or not self.selected:  # without PIV selected the card manager knows no such INS
            return _sw(SW_INS_NOT_SUPPORTED)
        try:
            return handler(p1, p2, data)
        except ValueError:  # malformed TLV, certificate or key data in the command
            return _sw(SW_INCORRECT_DATA)

    def _select(self, p1: int, data: bytes) -> _Answer:
        if p1 != P1_SELECT_BY_AID:
            return _sw(SW_INCORRECT_P1P2)
        if len(data) < len(AID) or not AID_FULL.startswith(data):  # cards match a truncated AID as a prefix
            return _sw(SW_FILE_NOT_FOUND)
        self.selected = True
        return _SELECT_ANSWER, SW_SUCCESS

    def _verify(self, p1: int, p2: int, data: bytes) -> _Answer:
        if p2 != KEY_REF_PIN:
            return _sw(SW_REFERENCE_NOT_FOUND)
        if p1 == P1_VERIFY_RESET and not data:
            self.verified = False
            return _sw(SW_SUCCESS)
        if p1 != 0:
            return _sw(SW_INCORRECT_P1P2)
        if not data:  # status query: spends no try
            if self.blocked:
                return _sw(SW_AUTH_METHOD_BLOCKED)
            return _sw(SW_SUCCESS if self.verified else 0x63C0 | self.tries_left)
        self.verify_attempts += 1
        if self.blocked:
            return _sw(SW_AUTH_METHOD_BLOCKED)  # blocked stays blocked, even for the right PIN
        if len(data) != PIN_LENGTH_PADDED:
            return _sw(SW_INCORRECT_DATA)
        if hmac.compare_digest(data, self.pin.encode("ascii").ljust(PIN_LENGTH_PADDED, b"\xff")):
            self.tries_left = self.max_tries
            self.verified = True
            return _sw(SW_SUCCESS)
        self.tries_left -= 1
        self.verified = False
        return _sw(0x63C0 | self.tries_left)  # the blocking try answers 63C0, later ones 6983

    def _general_authenticate(self, p1: int, p2: int, data: bytes) -> _Answer:
        if (p1, p2) != (ALGORITHM_ECCP256, SLOT_SIGNATURE):
            return _sw(SW_INCORRECT_P1P2)
        if not self.verified:
            return _sw(SW_SECURITY_STATUS_NOT_SATISFIED)
        fields = dict(parse_tlvs(find_tlv(data, TAG_DYN_AUTH)))
        digest = fields.get(TAG_AUTH_CHALLENGE, b"")
        if fields.get(TAG_AUTH_RESPONSE) != b"" or len(digest) != 32:
            return _sw(SW_INCORRECT_DATA)
        signature = self.key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
        self.signatures += 1
        return encode_tlv(TAG_DYN_AUTH, encode_tlv(TAG_AUTH_RESPONSE, signature)), SW_SUCCESS

    def _get_data(self, p1: int, p2: int, data: bytes) -> _Answer:
        if (p1, p2) != (P1_DATA_OBJECT, P2_DATA_OBJECT):
            return _sw(SW_INCORRECT_P1P2)
        object_id = find_tlv(data, TAG_OBJECT_ID)
        if object_id == OBJECT_ID_SIGNATURE.to_bytes(3, "big"):
            if self.certificate is None:
                return _sw(SW_FILE_NOT_FOUND)
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
            return _sw(SW_FILE_NOT_FOUND)
        return encode_tlv(TAG_OBJECT_DATA, body), SW_SUCCESS

    def _put_data(self, p1: int, p2: int, data: bytes) -> _Answer:
        if (p1, p2) != (P1_DATA_OBJECT, P2_DATA_OBJECT):
            return _sw(SW_INCORRECT_P1P2)
        if not self.verified:  # simplification: a real card wants the 9B management key here
            return _sw(SW_SECURITY_STATUS_NOT_SATISFIED)
        fields = dict(parse_tlvs(data))
        if fields.get(TAG_OBJECT_ID) != OBJECT_ID_SIGNATURE.to_bytes(3, "big") or TAG_OBJECT_DATA not in fields:
            return _sw(SW_INCORRECT_DATA)
        body = fields[TAG_OBJECT_DATA]
        if not body:  # an empty object deletes the certificate
            self.certificate = None
            return _sw(SW_SUCCESS)
        der = find_tlv(body, TAG_CERTIFICATE)
        info = dict(parse_tlvs(body)).get(TAG_CERT_INFO, b"")
        if info and info[0] & CERT_INFO_COMPRESSED:
            try:
                der = gzip.decompress(der)
            except (OSError, EOFError):
                return _sw(SW_INCORRECT_DATA)
        self.certificate = x509.load_der_x509_certificate(der)
        return _sw(SW_SUCCESS)

    def _generate(self, p1: int, p2: int, data: bytes) -> _Answer:
        if (p1, p2) != (0x00, SLOT_SIGNATURE):
            return _sw(SW_INCORRECT_P1P2)
        if not self.verified:  # simplification: a real card wants the 9B management key here
            return _sw(SW_SECURITY_STATUS_NOT_SATISFIED)
        if find_tlv(find_tlv(data, TAG_GEN_TEMPLATE), TAG_GEN_ALGORITHM) != bytes([ALGORITHM_ECCP256]):
            return _sw(SW_INCORRECT_DATA)
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.certificate = None  # the old certificate names the old key
        point = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return encode_tlv(TAG_PUBLIC_KEY, encode_tlv(TAG_EC_POINT, point)), SW_SUCCESS

    # --- persistence for the demo ---------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state: PEM key and certificate, PIN, serial and tries left."""
        with self._lock:
            return {
                "warning": _FILE_MARKER,
                "version": _FILE_VERSION,
                "pin": self.pin,
                "max_tries": self.max_tries,
                "tries_left": self.tries_left,
                "serial": self.serial,
                "private_key_pem": self.key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                ).decode("ascii"),
                "certificate_pem": (
                    self.certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")
                    if self.certificate is not None
                    else None
                ),
            }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> EmulatedPivCard:
        """Rebuild a card saved by :meth:`to_dict`."""
        if state.get("version") != _FILE_VERSION:
            raise ValueError(f"unsupported emulated card file version {state.get('version')!r}")
        key = serialization.load_pem_private_key(state["private_key_pem"].encode("ascii"), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("the emulated card file holds no EC private key")
        cert_pem = state.get("certificate_pem")
        certificate = x509.load_pem_x509_certificate(cert_pem.encode("ascii")) if cert_pem else None
        card = cls(
            pin=state["pin"],
            key=key,
            certificate=certificate,
            serial=state["serial"],
            max_tries=int(state["max_tries"]),
        )
        tries_left = int(state["tries_left"])
        if not 0 <= tries_left <= card.max_tries:
            raise ValueError("tries_left out of range in the emulated card file")
        card.tries_left = tries_left
        return card

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the card to ``path`` as JSON, readable by the owner only (it holds a private key and the PIN)."""
        target = Path(path)
        temporary = target.with_name(target.name + ".tmp")
        text = json.dumps(self.to_dict(), indent=2)
        # Create with 0o600 from the start (no window where the key is world-readable), then swap in atomically.
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)  # the temp file may have existed with wider rights
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                fd = -1
                file.write(text)
            os.replace(temporary, target)
        finally:
            if fd != -1:
                os.close(fd)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> EmulatedPivCard:
        """Read a card written by :meth:`save`."""
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


class EmulatedConnection:
    """A :class:`~agent.card.apdu.Connection` straight onto an :class:`EmulatedPivCard` (in process, no PC/SC)."""

    def __init__(self, card: EmulatedPivCard) -> None:
        self.card = card
        self._closed = False

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        if self._closed:
            raise CardError("The card connection was closed.")
        response = self.card.process(apdu)
        return response[:-2], int.from_bytes(response[-2:], "big")

    def close(self) -> None:
        """Like ``PcscConnection.close``: reset the card so the verified PIN does not outlive the connection."""
        if not self._closed:
            self._closed = True
            self.card.reset()
