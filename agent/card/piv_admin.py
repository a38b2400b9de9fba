"""Administering a PIV card: the card management key (key reference 9B), PIN and PUK changes, and what kind of card
is in the reader (docs/CARDS.md).

Real PIV cards write the 9C key and its certificate (GENERATE ASYMMETRIC KEY PAIR, PUT DATA) only after the host has
proved it knows the card management key: GENERAL AUTHENTICATE with a witness and a challenge (NIST SP 800-73-4,
part 2, appendix A), in 3DES (the PIV default and YubiKeys before 5.7) or AES-128/192/256 (YubiKey 5.7 and later:
AES-192). The key is given by the caller for one authentication and kept nowhere; a refused key is never tried
again, and the default key is never tried on the caller's behalf.

GET METADATA and GET VERSION are Yubico extensions (YubiKey 5.3+ and every YubiKey); a card without them answers
6D00, which only means "not known".
"""

from __future__ import annotations

import hmac
import os
import string
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from agent.card.apdu import MAX_SHORT_LE
from agent.card.errors import (
    SW_INCORRECT_P1P2,
    SW_SECURITY_STATUS_NOT_SATISFIED,
    ApduError,
    CardError,
    ManagementKeyError,
    PinBlockedError,
    PukBlockedError,
    WrongPukError,
)
from agent.card.piv import (
    INS_GENERAL_AUTHENTICATE,
    KEY_REF_PIN,
    PIN_LENGTH_PADDED,
    TAG_AUTH_CHALLENGE,
    TAG_AUTH_RESPONSE,
    TAG_AUTH_WITNESS,
    TAG_DYN_AUTH,
    PivSession,
    check_pin,
    encode_tlv,
    find_tlv,
    parse_tlvs,
    pin_error,
)

try:  # cryptography 43 moved TripleDES among the "decrepit" algorithms; it is what PIV cards use all the same
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
except ImportError:  # pragma: no cover - older cryptography
    from cryptography.hazmat.primitives.ciphers.algorithms import TripleDES  # type: ignore[no-redef,attr-defined,unused-ignore]

KEY_REF_MANAGEMENT = 0x9B
KEY_REF_PUK = 0x81
INS_CHANGE_REFERENCE = 0x24  # CHANGE REFERENCE DATA
INS_GET_METADATA = 0xF7  # Yubico, firmware 5.3+
INS_GET_VERSION = 0xFD  # Yubico

TAG_METADATA_ALGORITHM = 0x01
TAG_METADATA_POLICY = 0x02
TAG_METADATA_IS_DEFAULT = 0x05
TAG_METADATA_RETRIES = 0x06

# The well-known default management key of PIV test cards and of every YubiKey as shipped.
DEFAULT_MANAGEMENT_KEY = bytes.fromhex("010203040506070801020304050607080102030405060708")
PUK_MIN_LENGTH = 6


@dataclass(frozen=True)
class Algorithm:
    """One management-key algorithm: its PIV algorithm identifier, key length and cipher block."""

    ident: int
    name: str
    key_length: int
    block: int

    def cipher(self, key: bytes) -> Cipher[modes.ECB]:
        if len(key) != self.key_length:
            raise ValueError(f"a {self.name} management key is {self.key_length} bytes, not {len(key)}")
        block_cipher = TripleDES(key) if self.ident == ALGORITHM_3DES else algorithms.AES(key)
        return Cipher(block_cipher, modes.ECB())  # one block at a time, as SP 800-73-4 prescribes

    def encrypt(self, key: bytes, block: bytes) -> bytes:
        encryptor = self.cipher(key).encryptor()
        return encryptor.update(block) + encryptor.finalize()

    def decrypt(self, key: bytes, block: bytes) -> bytes:
        decryptor = self.cipher(key).decryptor()
        return decryptor.update(block) + decryptor.finalize()


ALGORITHM_3DES, ALGORITHM_AES128, ALGORITHM_AES192, ALGORITHM_AES256 = 0x03, 0x08, 0x0A, 0x0C
ALGORITHMS = {
    a.ident: a
    for a in (
        Algorithm(ALGORITHM_3DES, "3DES", 24, 8),
        Algorithm(ALGORITHM_AES128, "AES-128", 16, 16),
        Algorithm(ALGORITHM_AES192, "AES-192", 24, 16),
        Algorithm(ALGORITHM_AES256, "AES-256", 32, 16),
    )
}


@dataclass(frozen=True)
class ManagementKeyInfo:
    """What the card tells of its management key; None where it does not say (a card without GET METADATA)."""

    algorithm: int | None = None
    is_default: bool | None = None


# Asked for the management key once, with what the card tells of it; returns the key (kept nowhere).
ManagementKeySource = Callable[[ManagementKeyInfo], bytes]


def parse_management_key(text: str) -> bytes:
    """The key as typed: hex digits, spaces, colons and dashes allowed; 16, 24 or 32 bytes."""
    digits = "".join(c for c in text if c not in " :-\t")
    if not digits or any(c not in string.hexdigits for c in digits) or len(digits) % 2:
        raise ValueError("管理密钥应为十六进制数字 / the management key is hexadecimal digits (48 for 3DES or AES-192)")
    key = bytes.fromhex(digits)
    if len(key) not in (16, 24, 32):
        raise ValueError(
            f"管理密钥应为32、48或64位十六进制数字，输入的是{len(digits)}位"
            f" / the management key is 32, 48 or 64 hex digits, not {len(digits)}"
        )
    return key


def management_key_info(session: PivSession) -> ManagementKeyInfo:
    """The management key's algorithm and whether it is still the default, where the card tells (YubiKey 5.3+)."""
    try:
        answer = session.protocol.send(0x00, INS_GET_METADATA, 0x00, KEY_REF_MANAGEMENT, le=MAX_SHORT_LE)
        fields = dict(parse_tlvs(answer))
    except (ApduError, ValueError):
        return ManagementKeyInfo()
    algorithm = fields.get(TAG_METADATA_ALGORITHM, b"")
    default = fields.get(TAG_METADATA_IS_DEFAULT, b"")
    return ManagementKeyInfo(
        algorithm[0] if len(algorithm) == 1 and algorithm[0] in ALGORITHMS else None,
        bool(default[0]) if len(default) == 1 else None,
    )


def _witness(session: PivSession, algorithm: Algorithm) -> bytes | None:
    """Step one: the card's encrypted witness; None when the card's key is of another algorithm (6A86)."""
    request = encode_tlv(TAG_DYN_AUTH, encode_tlv(TAG_AUTH_WITNESS))
    try:
        answer = session.protocol.send(
            0x00, INS_GENERAL_AUTHENTICATE, algorithm.ident, KEY_REF_MANAGEMENT, request, le=MAX_SHORT_LE
        )
    except ApduError as exc:
        if exc.sw == SW_INCORRECT_P1P2:
            return None
        raise
    try:
        witness = find_tlv(find_tlv(answer, TAG_DYN_AUTH), TAG_AUTH_WITNESS)
    except ValueError as exc:
        raise CardError("卡的回答无法识别 / the card gave an unexpected answer to GENERAL AUTHENTICATE") from exc
    if len(witness) != algorithm.block:
        raise CardError("卡的回答无法识别 / the card's witness is not one cipher block")
    return witness


def authenticate(session: PivSession, key: bytes, algorithm: int | None = None) -> Algorithm:
    """Mutual authentication with the card management key: we decrypt the card's witness (proving we know the key),
    the card encrypts our challenge (proving it does). Once: a refused key raises ManagementKeyError, never retried.

    Without ``algorithm`` the card is asked for a witness in each algorithm the key's length allows (24 bytes: 3DES,
    then AES-192); a card whose key is of another algorithm refuses the request before any key is tried."""
    if algorithm is not None:
        candidates = [ALGORITHMS[algorithm]]
    else:
        candidates = [a for a in ALGORITHMS.values() if a.key_length == len(key)]
    if not candidates or any(a.key_length != len(key) for a in candidates):
        raise ValueError(f"a management key of {len(key)} bytes does not fit the card's algorithm")
    for candidate in candidates:
        witness = _witness(session, candidate)
        if witness is not None:
            break
    else:
        names = "/".join(a.name for a in candidates)
        raise ManagementKeyError(
            SW_INCORRECT_P1P2,
            f"卡的管理密钥不是{names}密钥，请核对管理密钥"
            f" / the card's management key is not a {names} key: check the key",
        )
    challenge = os.urandom(candidate.block)
    request = encode_tlv(
        TAG_DYN_AUTH,
        encode_tlv(TAG_AUTH_WITNESS, candidate.decrypt(key, witness)) + encode_tlv(TAG_AUTH_CHALLENGE, challenge),
    )
    try:
        answer = session.protocol.send(
            0x00, INS_GENERAL_AUTHENTICATE, candidate.ident, KEY_REF_MANAGEMENT, request, le=MAX_SHORT_LE
        )
    except ApduError as exc:
        if exc.sw == SW_SECURITY_STATUS_NOT_SATISFIED:
            raise ManagementKeyError(exc.sw) from None
        raise
    try:
        response = find_tlv(find_tlv(answer, TAG_DYN_AUTH), TAG_AUTH_RESPONSE)
    except ValueError as exc:
        raise CardError("卡的回答无法识别 / the card gave an unexpected answer to GENERAL AUTHENTICATE") from exc
    if not hmac.compare_digest(response, candidate.encrypt(key, challenge)):
        raise CardError(
            "卡未能证明其持有该管理密钥：这可能不是您要使用的卡 / the card did not prove it holds the management key: "
            "this may not be the card you think"
        )
    return candidate


def _pad(value: str) -> bytes:
    return value.encode("ascii").ljust(PIN_LENGTH_PADDED, b"\xff")


def check_puk(puk: str) -> None:
    if not (PUK_MIN_LENGTH <= len(puk) <= PIN_LENGTH_PADDED and puk.isascii() and puk.isprintable()):
        raise ValueError("PUK应为6至8个字符 / the PUK is 6 to 8 characters")  # no PUK in the message: it may be logged


def change_pin(session: PivSession, old: str, new: str) -> None:
    """CHANGE REFERENCE DATA for the PIN, once. Wrong old PIN → InvalidPinError(tries_left); blocked →
    PinBlockedError. Never retried: each attempt spends one of the card's tries."""
    check_pin(old)
    check_pin(new)
    try:
        session.protocol.send(0x00, INS_CHANGE_REFERENCE, 0x00, KEY_REF_PIN, _pad(old) + _pad(new))
    except ApduError as exc:
        raise pin_error(exc) from None


def change_puk(session: PivSession, old: str, new: str) -> None:
    """CHANGE REFERENCE DATA for the PUK, once. Wrong old PUK → WrongPukError(tries_left); blocked → PukBlockedError."""
    check_puk(old)
    check_puk(new)
    try:
        session.protocol.send(0x00, INS_CHANGE_REFERENCE, 0x00, KEY_REF_PUK, _pad(old) + _pad(new))
    except ApduError as exc:
        error = pin_error(exc)
        if isinstance(error, PinBlockedError):
            raise PukBlockedError(exc.sw) from None
        if error is not exc:
            raise WrongPukError(exc.sw & 0x0F) from None
        raise


# ATR historical bytes that name the card; the emulated card's ATR is agent.card.emulated.ATR.
_EMULATED_MARK = b"EmuPIV"
_YUBIKEY_MARK = b"YubiKey"


def yubikey_version(session: PivSession) -> bytes | None:
    """The firmware version (3 bytes) of a YubiKey; None for other cards (they answer GET VERSION with 6D00)."""
    try:
        version = session.protocol.send(0x00, INS_GET_VERSION, 0x00, 0x00, le=MAX_SHORT_LE)
    except ApduError:
        return None
    return version if len(version) == 3 else None


def card_type(session: PivSession, atr: bytes = b"") -> str:
    """A name for the kind of card: the emulated card, a YubiKey with its firmware, or a PIV card by its ATR."""
    if _EMULATED_MARK in atr:
        return "模拟PIV卡（仅供测试和演示）/ emulated PIV card (tests and demo only)"
    version = yubikey_version(session)
    if version is not None:
        return f"YubiKey {version[0]}.{version[1]}.{version[2]} (PIV)"
    if _YUBIKEY_MARK in atr:
        return "YubiKey (PIV)"
    return f"PIV card (ATR {atr.hex().upper()})" if atr else "PIV card"
