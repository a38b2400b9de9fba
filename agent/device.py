"""The agent's device key: made once on this PC, certified by the center at enrollment, used for unattended work
(sending already-signed batches, pulling updates). It can never sign a business request: only the card can.

The key is of the center's algorithm (its CA's): ECC P-256, or SM2 for a 国密 center (sync.algorithms), kept as
unencrypted PKCS#8 in state/ (owner-only), like the card's certificate and the pinned CA.
"""

from __future__ import annotations

import os

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from agent.workspace import Workspace
from sync.algorithms import (
    ES256,
    PrivateKey,
    PublicKey,
    algorithm_of,
    generate_private_key,
    load_private_key_pem,
    private_key_pem,
)


def device_key(workspace: Workspace, algorithm: str | None = None) -> PrivateKey:
    """The device key, made on first use and kept in state/ (owner-only). With ``algorithm`` (ES256 or SM2SM3), a
    key of another algorithm is replaced by a new one: it could never be certified by this center."""
    path = workspace.state / "device-key.pem"
    if path.exists() and algorithm is not None and algorithm_of(load_private_key_pem(path.read_bytes())) != algorithm:
        path.unlink()
    if not path.exists():
        pem = private_key_pem(generate_private_key(algorithm or ES256)).encode("ascii")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
    try:
        return load_private_key_pem(path.read_bytes())
    except ValueError:
        raise ValueError(f"{path} is not an ECC P-256 or SM2 key") from None


def device_public_key(workspace: Workspace) -> PublicKey:
    """The device key's public half (the key is made on first use)."""
    return device_key(workspace).public_key()


def save_device_certificate(workspace: Workspace, certificate: x509.Certificate) -> None:
    (workspace.state / "device-cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
