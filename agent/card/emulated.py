"""An emulated PIV card, written for this project's tests and demo.

NOT FOR PRODUCTION: the private key lives in process memory and, when saved, in a plain JSON file. It implements
just the part of NIST SP 800-73-4 the agent uses (SELECT, VERIFY, GENERAL AUTHENTICATE with the 9C key: P-256, or
SM2 under the vendor algorithm 54 (docs/CARDS.md),
GET/PUT DATA of the 9C certificate and the CHUID, GENERATE for 9C, command and response chaining) and its
administration as a real card enforces it: PUT DATA and GENERATE only after GENERAL AUTHENTICATE with the 9B card
management key (3DES or AES, the well-known default unless given another), PIN and PUK changes, and Yubico's
GET METADATA (left out with ``metadata=False``, as a plain PIV card does).

This module makes, checks, saves and connects a card; its commands are ``emulated_applet``'s and their framing
``emulated_apdu``'s.
"""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from agent.card import emulated_keys
from agent.card.emulated_admin import DEFAULT_PUK
from agent.card.emulated_applet import PivApplet
from agent.card.errors import CardError
from agent.card.piv import PIN_LENGTH_PADDED, PIN_MIN_LENGTH
from agent.card.piv_admin import ALGORITHM_3DES, ALGORITHMS, DEFAULT_MANAGEMENT_KEY
from sync.algorithms import PrivateKey, load_private_key_pem, private_key_pem
from sync.sm2 import Sm2PrivateKey

# PC/SC-style ATR (T=0 and T=1 offered, 8 historical bytes "EmuPIV01") with its check byte TCK = XOR of T0..last.
ATR = bytes.fromhex("3B888001456D7550495630311A")

_FILE_MARKER = "EMULATED PIV CARD - tests and demo only, NOT FOR PRODUCTION: the private key below is unprotected"
_FILE_VERSION = 1


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


class EmulatedPivCard(PivApplet):
    """A PIV card in memory; :meth:`process` takes a command APDU and returns response data + SW1 SW2.

    Thread-safe (one lock), because the vpcd thread and a test may touch it at the same time.
    """

    def __init__(
        self,
        pin: str = "123456",
        key: PrivateKey | None = None,
        certificate: x509.Certificate | None = None,
        serial: str | None = None,
        max_tries: int = 3,
        *,
        management_key: bytes = DEFAULT_MANAGEMENT_KEY,
        management_algorithm: int = ALGORITHM_3DES,
        puk: str = DEFAULT_PUK,
        metadata: bool = True,
        random: Callable[[int], bytes] = os.urandom,
        key_algorithms: tuple[int, ...] = emulated_keys.ALL_ALGORITHMS,
    ) -> None:
        """``key``: a P-256 or SM2 key in 9C (default: a new P-256 key); ``key_algorithms``: what GENERATE makes
        (without ALGORITHM_SM2 the card stands in for a PIV card that cannot make SM2 keys)."""
        if not (PIN_MIN_LENGTH <= len(pin) <= PIN_LENGTH_PADDED and pin.isascii() and pin.isdigit()):
            raise ValueError("the emulated card's PIN must be 6 to 8 digits")
        if not 1 <= max_tries <= 15:
            raise ValueError("max_tries must be 1..15 (it is reported in one nibble of 63Cx)")
        if key is not None and not isinstance(key, Sm2PrivateKey) and not isinstance(key.curve, ec.SECP256R1):
            raise ValueError("the emulated card holds a P-256 or an SM2 key")
        serial = serial.upper() if serial is not None else os.urandom(16).hex().upper()
        if len(serial) != 32 or any(c not in "0123456789ABCDEF" for c in serial):
            raise ValueError("serial is the 16-byte CHUID GUID as 32 hex digits")
        algorithm = ALGORITHMS.get(management_algorithm)
        if algorithm is None or len(management_key) != algorithm.key_length:
            raise ValueError("the management key does not fit its algorithm (3DES/AES-192: 24 bytes, AES-128: 16...)")
        self.atr: bytes = ATR
        super().__init__(
            pin=pin,
            max_tries=max_tries,
            key=key if key is not None else ec.generate_private_key(ec.SECP256R1()),
            certificate=certificate,
            serial=serial,
            management_key=management_key,
            management_algorithm=management_algorithm,
            puk=puk,
            metadata=metadata,
            random=random,
            key_algorithms=key_algorithms,
        )

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
                "puk": self.puk,
                "puk_tries_left": self.puk_tries_left,
                "management_key": self.management_key.hex(),
                "management_algorithm": self.management_algorithm,
                "metadata": self.metadata,
                "key_algorithms": list(self.key_algorithms),
                "private_key_pem": private_key_pem(self.key),  # PKCS#8, P-256 or SM2
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
        key = load_private_key_pem(state["private_key_pem"].encode("ascii"))  # P-256 or SM2; ValueError else
        cert_pem = state.get("certificate_pem")
        certificate = x509.load_pem_x509_certificate(cert_pem.encode("ascii")) if cert_pem else None
        card = cls(
            pin=state["pin"],
            key=key,
            certificate=certificate,
            serial=state["serial"],
            max_tries=int(state["max_tries"]),
            # A card saved before the management key was enforced has the default key and PUK.
            management_key=bytes.fromhex(state.get("management_key", DEFAULT_MANAGEMENT_KEY.hex())),
            management_algorithm=int(state.get("management_algorithm", ALGORITHM_3DES)),
            puk=state.get("puk", DEFAULT_PUK),
            metadata=bool(state.get("metadata", True)),
            key_algorithms=tuple(int(a) for a in state.get("key_algorithms", emulated_keys.ALL_ALGORITHMS)),
        )
        card.puk_tries_left = int(state.get("puk_tries_left", card.puk_max_tries))
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
            if hasattr(os, "fchmod"):  # POSIX; on Windows the folder's access list guards it (docs/WINDOWS.md)
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

    @property
    def atr(self) -> bytes:
        return self.card.atr

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
