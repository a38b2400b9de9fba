"""The agent's device key: made once on this PC, certified by the center at enrollment, used for unattended work
(sending already-signed batches, pulling updates). It can never sign a business request: only the card can."""

from __future__ import annotations

import os

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from agent.workspace import Workspace


def device_key(workspace: Workspace) -> ec.EllipticCurvePrivateKey:
    """The device key, made on first use and kept in state/ (owner-only)."""
    path = workspace.state / "device-key.pem"
    if not path.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
    stored = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(stored, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path} is not an ECC P-256 key")
    return stored


def device_public_key(workspace: Workspace) -> ec.EllipticCurvePublicKey:
    """The device key's public half (the key is made on first use)."""
    return device_key(workspace).public_key()


def save_device_certificate(workspace: Workspace, certificate: x509.Certificate) -> None:
    (workspace.state / "device-cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
